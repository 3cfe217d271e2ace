"""What makes a record valid: the validation policy (`validation`), encoded-image checks that do
not re-encode (`encoded_images`), and the counts and issues a conversion reports (`dataset_report`)."""

"""The typed annotation record every format reads into: boxes (`geometry`), instance masks
(`masks`), the record itself (`image_record`) and its tf.Example form with the OD API's keys
(`tf_example`)."""

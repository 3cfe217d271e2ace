"""Cloud training: the package set for a training cluster and the Vertex AI job spec."""

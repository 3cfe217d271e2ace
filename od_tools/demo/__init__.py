"""The built-in demo: its pipeline.config, the Bazel rules that train and export it, and the build
the no-flag `export_tflite` runs."""

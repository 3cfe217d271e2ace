"""The TF1 path: a TF1 model-zoo tflite_graph.pb converted as TOCO did."""

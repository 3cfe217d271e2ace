"""Android side of an export: the assets package (detect.tflite, labelmap.txt, model card) and
the installer into the TensorFlow Lite object-detection example app."""

"""od_tools: from labelled images to an Android-ready TFLite detector, on Model Garden."""

__version__ = "0.1.0"

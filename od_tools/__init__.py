"""od_tools: from labelled images to an Android-ready TFLite detector, on the TensorFlow Object
Detection API."""

import os as _os

# The Object Detection API's Keras models run on tf-keras (Keras 2); TensorFlow 2.16+ makes
# tf.keras Keras 3 unless this is set before tf.keras is first used.
_os.environ["TF_USE_LEGACY_KERAS"] = "1"

__version__ = "0.1.0"

"""Running a detector of any form on your own pictures: load a SavedModel, a .tflite or a
checkpoint as one `Model` (image in, od_tools.modeling's `Detections` out), and `detect` over
images, folders, globs, lists, videos or TFRecords, with annotated outputs and COCO JSON.

    from od_tools.inference import load
    model = load("exported/detect_int8.tflite")
    found = model.detect(pixels)   # uint8 RGB [H, W, 3] -> Detections(boxes, classes, scores)
"""

from od_tools.inference.detect import DetectSettings, Summary, run
from od_tools.inference.models import Model, ModelForm, ModelSpec, form_of, load
from od_tools.inference.outputs import OutputOptions

__all__ = [
    "DetectSettings",
    "Model",
    "ModelForm",
    "ModelSpec",
    "OutputOptions",
    "Summary",
    "form_of",
    "load",
    "run",
]

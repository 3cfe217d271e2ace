"""What the Object Detection API builds for each feature extractor, and the size rules it implies.

Plain tables and arithmetic, kept apart from the engine so preflight can check a config without
loading TensorFlow. tests/unit/architecture_test.py checks the tables against the OD API's own
model_builder maps, so they cannot drift from what the engine builds.
"""

from __future__ import annotations

import re

# SSD feature extractors the OD API builds on TensorFlow 2 (model_builder's
# SSD_KERAS_FEATURE_EXTRACTOR_CLASS_MAP).
TF2_SSD_EXTRACTORS = frozenset({
    "ssd_mobilenet_v1_keras", "ssd_mobilenet_v1_fpn_keras", "ssd_mobilenet_v2_keras",
    "ssd_mobilenet_v2_fpn_keras", "ssd_resnet50_v1_fpn_keras", "ssd_resnet101_v1_fpn_keras",
    "ssd_resnet152_v1_fpn_keras",
    *(f"ssd_efficientnet-b{i}_bifpn_keras" for i in range(8)),
})

# Faster R-CNN feature extractors on TensorFlow 2 (FASTER_RCNN_KERAS_FEATURE_EXTRACTOR_CLASS_MAP).
TF2_FASTER_RCNN_EXTRACTORS = frozenset({
    "faster_rcnn_inception_resnet_v2_keras", "faster_rcnn_resnet50_keras", "faster_rcnn_resnet101_keras",
    "faster_rcnn_resnet152_keras", "faster_rcnn_resnet50_fpn_keras", "faster_rcnn_resnet101_fpn_keras",
    "faster_rcnn_resnet152_fpn_keras",
})

# CenterNet feature extractors on TensorFlow 2 (CENTER_NET_EXTRACTOR_FUNCTION_MAP).
TF2_CENTER_NET_EXTRACTORS = frozenset({
    "resnet_v2_50", "resnet_v2_101", "resnet_v1_18_fpn", "resnet_v1_34_fpn", "resnet_v1_50_fpn",
    "resnet_v1_101_fpn", "hourglass_10", "hourglass_20", "hourglass_32", "hourglass_52", "hourglass_104",
    "mobilenet_v2", "mobilenet_v2_fpn", "mobilenet_v2_fpn_sep_conv",
})

# TF1 feature extractors (slim, tf.contrib) with a TF2 Keras twin that builds the same network
# from the same config fields: a TF1 config trains on TF2 with the type renamed.
TF1_TWINS = {
    "ssd_mobilenet_v1": "ssd_mobilenet_v1_keras",
    "ssd_mobilenet_v1_fpn": "ssd_mobilenet_v1_fpn_keras",
    "ssd_mobilenet_v2": "ssd_mobilenet_v2_keras",
    "ssd_mobilenet_v2_fpn": "ssd_mobilenet_v2_fpn_keras",
    "ssd_resnet50_v1_fpn": "ssd_resnet50_v1_fpn_keras",
    "ssd_resnet101_v1_fpn": "ssd_resnet101_v1_fpn_keras",
    "ssd_resnet152_v1_fpn": "ssd_resnet152_v1_fpn_keras",
    "faster_rcnn_resnet50": "faster_rcnn_resnet50_keras",
    "faster_rcnn_resnet101": "faster_rcnn_resnet101_keras",
    "faster_rcnn_resnet152": "faster_rcnn_resnet152_keras",
    "faster_rcnn_inception_resnet_v2": "faster_rcnn_inception_resnet_v2_keras",
}

# TF1-only feature extractors (no Keras implementation in the OD API) -> the nearest config of
# the TF2 model zoo (research/object_detection/configs/tf2/).
TF1_ONLY = {
    "embedded_ssd_mobilenet_v1": "ssd_mobilenet_v2_320x320_coco17_tpu-8",
    "ssd_inception_v2": "ssd_mobilenet_v2_320x320_coco17_tpu-8",
    "ssd_inception_v3": "ssd_mobilenet_v2_320x320_coco17_tpu-8",
    "ssd_mobilenet_v1_ppn": "ssd_mobilenet_v1_fpn_640x640_coco17_tpu-8",
    "ssd_mobilenet_v2_mnasfpn": "ssd_mobilenet_v2_fpnlite_320x320_coco17_tpu-8",
    "ssd_mobilenet_v3_large": "ssd_mobilenet_v2_fpnlite_320x320_coco17_tpu-8",
    "ssd_mobilenet_v3_small": "ssd_mobilenet_v2_fpnlite_320x320_coco17_tpu-8",
    "ssd_mobilenet_edgetpu": "ssd_mobilenet_v2_fpnlite_320x320_coco17_tpu-8",
    "ssd_mobiledet_cpu": "ssd_mobilenet_v2_fpnlite_320x320_coco17_tpu-8",
    "ssd_mobiledet_dsp": "ssd_mobilenet_v2_fpnlite_320x320_coco17_tpu-8",
    "ssd_mobiledet_edgetpu": "ssd_mobilenet_v2_fpnlite_320x320_coco17_tpu-8",
    "ssd_mobiledet_gpu": "ssd_mobilenet_v2_fpnlite_320x320_coco17_tpu-8",
    "ssd_pnasnet": "ssd_resnet50_v1_fpn_640x640_coco17_tpu-8",
    "ssd_resnet50_v1_ppn": "ssd_resnet50_v1_fpn_640x640_coco17_tpu-8",
    "ssd_resnet101_v1_ppn": "ssd_resnet101_v1_fpn_640x640_coco17_tpu-8",
    "ssd_resnet152_v1_ppn": "ssd_resnet152_v1_fpn_640x640_coco17_tpu-8",
    "ssd_spaghettinet": "ssd_mobilenet_v2_fpnlite_320x320_coco17_tpu-8",
    "faster_rcnn_inception_v2": "faster_rcnn_resnet50_v1_640x640_coco17_tpu-8",
    "faster_rcnn_nas": "faster_rcnn_resnet152_v1_1024x1024_coco17_tpu-8",
    "faster_rcnn_pnas": "faster_rcnn_resnet152_v1_1024x1024_coco17_tpu-8",
}

# first_stage_features_stride each TF2 Faster R-CNN extractor builds (the others raise).
FASTER_RCNN_STRIDES = {
    "faster_rcnn_resnet50_keras": (16,), "faster_rcnn_resnet101_keras": (16,), "faster_rcnn_resnet152_keras": (16,),
    "faster_rcnn_inception_resnet_v2_keras": (8, 16), "faster_rcnn_resnet50_fpn_keras": (8, 16),
    "faster_rcnn_resnet101_fpn_keras": (8, 16), "faster_rcnn_resnet152_fpn_keras": (8, 16),
}

# The TF2 zoo's two-stage starting points, for configs that cannot be carried over.
TF2_MASK_RCNN_CONFIG = "mask_rcnn_inception_resnet_v2_1024x1024_coco17_gpu-8"
TF2_FASTER_RCNN_CONFIG = "faster_rcnn_resnet50_v1_640x640_coco17_tpu-8"

# The backbones' deepest level (stride 2^5): FPNs merge levels up to it top-down; levels above
# it are strided convolutions of the one below.
BACKBONE_MAX_LEVEL = 5

# Meta-architectures the OD API exports to TFLite (export_tflite_graph_lib_tf2).
TFLITE_META_ARCHITECTURES = ("ssd", "center_net")


def is_fpn(type_name: str) -> bool:
    return type_name.endswith("_fpn_keras")


def is_bifpn(type_name: str) -> bool:
    return type_name.endswith("_bifpn_keras")


def family(type_name: str) -> str:
    """A short name of the architecture family, e.g. 'SSD MobileNetV2 FPN' or 'EfficientDet-D0'."""
    match = re.fullmatch(r"ssd_efficientnet-b(\d)_bifpn_keras", type_name)
    if match:
        return f"EfficientDet-D{match.group(1)}"
    names = {"mobilenet_v1": "MobileNetV1", "mobilenet_v2": "MobileNetV2", "resnet50_v1": "ResNet50 V1",
             "resnet101_v1": "ResNet101 V1", "resnet152_v1": "ResNet152 V1"}
    core = type_name.removeprefix("ssd_").removesuffix("_keras")
    fpn = core.endswith("_fpn")
    core = core.removesuffix("_fpn")
    return f"SSD {names.get(core, core)}{' FPN' if fpn else ''}"


def min_input_size(type_name: str) -> int:
    """The smallest input an SSD feature extractor takes (its `check_min_image_dim`)."""
    if type_name.startswith("ssd_resnet") or is_bifpn(type_name):
        return 129
    return 33


def valid_sizes_near(size: int, stride: int) -> tuple[int, int]:
    """The multiples of `stride` just below and above `size` (the lower one at least `stride`)."""
    lower = max(stride, size // stride * stride)
    upper = -(-size // stride) * stride
    return lower, max(upper, stride)


def fpn_top_level(max_level: int) -> int:
    """The highest level the FPN merges top-down; levels above it are strided convolutions."""
    return min(max_level, BACKBONE_MAX_LEVEL)


def fpn_levels_line_up(size: int, min_level: int, max_level: int) -> bool:
    """Whether each level the FPN merges is exactly twice the size of the one above it.

    Convolutions with SAME padding give a level-l map of ceil(size / 2^l). The FPN upsamples
    level l+1 by 2 and adds it to level l, which fails unless ceil(size / 2^l) equals
    2 * ceil(size / 2^(l+1)) ("Dimensions must be equal, but are 20 and 19" for 300). Levels
    above the backbone's are strided convolutions and may round up, which is how the model
    zoo's 320x320 configs use max_level 7.
    """
    top = fpn_top_level(max_level)
    return size > 0 and all(-(-size // 2 ** level) == 2 * -(-size // 2 ** (level + 1))
                            for level in range(min_level, top))


def nearest_fpn_sizes(size: int, max_level: int) -> tuple[int, int]:
    """The multiples of 2^top-level just below and above `size`: sizes whose levels line up."""
    return valid_sizes_near(size, 2 ** fpn_top_level(max_level))


def padded_size(size: int, pad_to_multiple: int) -> int:
    """The size the feature extractor sees: the OD API pads inputs up to `pad_to_multiple`."""
    if pad_to_multiple > 1:
        return -(-size // pad_to_multiple) * pad_to_multiple
    return size

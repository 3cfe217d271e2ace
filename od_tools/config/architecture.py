"""Which OD API feature extractors od_tools can build, and the geometry rules they share.

Kept apart from the mapping so preflight (which must not need TensorFlow) can use the same
tables and arithmetic.
"""

from __future__ import annotations

import dataclasses

# OD API feature extractor family -> Model Garden MobileNet `model_id`. Accepted `type`s are
# "ssd_<family>", optionally with "_fpn" and/or "_keras" (e.g. ssd_mobilenet_v2_fpn_keras).
# The multi-hardware MobileNets have no OD API name; od_tools spells them the same way.
MOBILENET_FAMILIES = {
    "mobilenet_v1": "MobileNetV1",
    "mobilenet_v2": "MobileNetV2",
    "mobilenet_v3_large": "MobileNetV3Large",
    "mobilenet_v3_small": "MobileNetV3Small",
    "mobilenet_edgetpu": "MobileNetV3EdgeTPU",
    "mobilenet_multiavg": "MobileNetMultiAVG",
    "mobilenet_multimax": "MobileNetMultiMAX",
}

# Model Garden's MobileNets give FPN inputs at levels 2..5 (strides 4..32); the FPN adds
# coarser levels with strided convolutions.
BACKBONE_MIN_LEVEL = 2
BACKBONE_MAX_LEVEL = 5


@dataclasses.dataclass(frozen=True)
class FeatureExtractor:
    model_id: str
    fpn_in_name: bool  # "_fpn" in the OD API type: built as an FPN there too


def feature_extractor(type_name: str) -> FeatureExtractor | None:
    """The Model Garden backbone for an OD API `feature_extractor.type`, or None."""
    name = type_name.removesuffix("_keras")
    fpn = name.endswith("_fpn")
    name = name.removesuffix("_fpn").removeprefix("ssd_")
    model_id = MOBILENET_FAMILIES.get(name)
    return FeatureExtractor(model_id, fpn) if model_id and type_name.startswith("ssd_") else None


def supported_types() -> list[str]:
    return [f"ssd_{family}_fpn_keras" for family in MOBILENET_FAMILIES]


def valid_sizes_near(size: int, stride: int) -> tuple[int, int]:
    """The multiples of `stride` just below and above `size` (the lower one at least `stride`)."""
    lower = max(stride, size // stride * stride)
    upper = -(-size // stride) * stride
    return lower, max(upper, stride)


def fpn_top_level(max_level: int) -> int:
    """The highest level the FPN merges top-down; levels above it are strided convolutions."""
    return min(max_level, BACKBONE_MAX_LEVEL)


def fpn_levels_line_up(size: int, min_level: int, max_level: int) -> bool:
    """Whether each merged level is exactly twice the size of the one above it.

    Convolutions with SAME padding give a level-l map of ceil(size / 2^l). The FPN upsamples
    level l+1 by 2 and adds it to level l, which fails unless ceil(size / 2^l) equals
    2 * ceil(size / 2^(l+1)) ("Dimensions must be equal, but are 20 and 19" for 300).
    Levels above the backbone's are strided convolutions and may round up, which is how the
    model zoo's 320x320 configs use max_level 7.
    """
    top = fpn_top_level(max_level)
    return size > 0 and all(-(-size // 2 ** level) == 2 * -(-size // 2 ** (level + 1))
                            for level in range(min_level, top))


def nearest_fpn_sizes(size: int, max_level: int) -> tuple[int, int]:
    """The multiples of 2^top-level just below and above `size`: sizes whose levels line up."""
    return valid_sizes_near(size, 2 ** fpn_top_level(max_level))

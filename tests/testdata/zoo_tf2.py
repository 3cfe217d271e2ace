"""Writes 19 configs shaped like the TF2 model zoo's SSD and CenterNet ones, for //od_tools/export/measure:zoo_matrix.

    python tests/testdata/zoo_tf2.py OUT_DIR     (or: bazel build //tests/testdata:zoo_tf2)

Each is one of this folder's family configs (written for the project) with the fields that set
the zoo's variants apart: input size, backbone depth, and EfficientDet's compound scaling (input
size, EfficientNet, BiFPN iterations and width, head width and depth, as the EfficientDet paper
and the zoo's configs scale them). The file names are the zoo's, without `_coco17_tpu-8`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from od_tools.config import apply_overrides, read_pipeline_config, write_pipeline_config

HERE = Path(__file__).resolve().parent


def _size(side: int) -> list[str]:
    return [f"model.ssd.image_resizer.fixed_shape_resizer.height={side}",
            f"model.ssd.image_resizer.fixed_shape_resizer.width={side}"]


def _resnet(depth: int, side: int) -> list[str]:
    return [f"model.ssd.feature_extractor.type=ssd_resnet{depth}_v1_fpn_keras", *_size(side)]


# (input side, EfficientNet, BiFPN iterations, BiFPN filters, head layers); the head is as wide as the BiFPN.
EFFICIENTDET = {0: (512, 0, 3, 64, 3), 1: (640, 1, 4, 88, 3), 2: (768, 2, 5, 112, 3), 3: (896, 3, 6, 160, 4),
                4: (1024, 4, 7, 224, 4), 5: (1280, 5, 7, 288, 4), 6: (1280, 6, 8, 384, 5), 7: (1536, 6, 8, 384, 5)}


def _efficientdet(d: int) -> list[str]:
    side, b, iterations, filters, layers = EFFICIENTDET[d]
    predictor = "model.ssd.box_predictor.weight_shared_convolutional_box_predictor"
    return [f"model.ssd.image_resizer.keep_aspect_ratio_resizer.min_dimension={side}",
            f"model.ssd.image_resizer.keep_aspect_ratio_resizer.max_dimension={side}",
            f"model.ssd.feature_extractor.type=ssd_efficientnet-b{b}_bifpn_keras",
            f"model.ssd.feature_extractor.bifpn.num_iterations={iterations}",
            f"model.ssd.feature_extractor.bifpn.num_filters={filters}",
            f"{predictor}.depth={filters}", f"{predictor}.num_layers_before_predictor={layers}"]


# zoo name -> (family config in this folder, overrides)
CONFIGS: dict[str, tuple[str, list[str]]] = {
    "ssd_mobilenet_v2_320x320": ("ssd_mobilenet_v2_320x320", []),
    "ssd_mobilenet_v1_fpn_640x640": ("ssd_mobilenet_v1_fpn_640x640", []),
    "ssd_mobilenet_v2_fpnlite_320x320": ("ssd_mobilenet_v2_fpnlite_320x320", []),
    "ssd_mobilenet_v2_fpnlite_640x640": ("ssd_mobilenet_v2_fpnlite_320x320", _size(640)),
    **{f"ssd_resnet{depth}_v1_fpn_{side}x{side}": ("ssd_resnet50_v1_fpn_640x640", _resnet(depth, side))
       for depth in (50, 101, 152) for side in (640, 1024)},
    **{f"ssd_efficientdet_d{d}_{EFFICIENTDET[d][0]}x{EFFICIENTDET[d][0]}": ("ssd_efficientdet_d0_512x512",
                                                                          _efficientdet(d)) for d in EFFICIENTDET},
    "centernet_mobilenetv2_fpn_512x512": ("centernet_mobilenetv2_fpn_512x512", []),
}


def main(argv: list[str]) -> int:
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, (family, overrides) in CONFIGS.items():
        config = apply_overrides(read_pipeline_config(str(HERE / f"{family}.config")), overrides)
        write_pipeline_config(config, out / f"{name}.config")
    print(f"wrote {len(CONFIGS)} configs to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

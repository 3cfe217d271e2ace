"""Exports a trained Object Detection API detector to a SavedModel and TFLite models for Android.

    bazel run //od_tools:export_tflite        # the demo detector -> android_demo/app/src/main/assets
    bazel run //od_tools:export_tflite -- --trained_checkpoint_dir=runs/my_model \
        --output_directory=exported/ [--pipeline_config_path=...] [--quantization=all]

    bazel run //od_tools:export_tflite -- --tflite_graph_path=ssd_tf1/tflite_graph.pb \
        --label_map_path=mscoco_label_map.pbtxt --output_directory=exported/ \
        [--inference_type=FLOAT,QUANTIZED_UINT8] [--mean_values=128 --std_values=128] \
        [--default_ranges_min=0 --default_ranges_max=6] [--input_shape=1,300,300,3]

--trained_checkpoint_dir is a model_main_tf2 model_dir, a model-zoo folder (checkpoint/ckpt-0 and
pipeline.config) or a ckpt-N prefix; the pipeline.config beside it is used unless
--pipeline_config_path names another. Writes, with the OD API's exporters, saved_model/ +
checkpoint/ + pipeline.config (exporter_main_v2's layout) and tflite_saved_model/
(export_tflite_graph_tf2's), then detect_<quantization>.tflite (default float32 and int8;
TFLite_Detection_PostProcess; outputs boxes, classes, scores, num_detections; TFLite Model
Metadata for MediaPipe and the Task Library), labelmap.txt, report.{json,txt} and android/
(detect.tflite, labelmap.txt, model_card.json). Every TFLite model must match the SavedModel on
held-out images (--float_min_mean_iou, --int8_min_mean_iou) or nothing is written.

--tflite_graph_path converts a TF1 model's tflite_graph.pb (TF1 zoo tarballs, the TF1 OD API's
export_tflite_ssd_graph.py) with TOCO's flags: detect_float32.tflite and/or detect_uint8.tflite,
labelmap.txt, report.json and android/, with the same metadata and output order.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from absl import flags

from od_tools.android import assets as android_assets
from od_tools.common import cli
from od_tools.common.errors import UserError
from od_tools.config.flags import define_pipeline_flags

define_pipeline_flags(required=False)
_CHECKPOINT = flags.DEFINE_string("trained_checkpoint_dir", None, "Training folder (latest ckpt-*) or a ckpt prefix.")
_OUTPUT = flags.DEFINE_string("output_directory", None, "Folder to write the export to (replaced atomically).")
_QUANTIZATION = flags.DEFINE_multi_string(
    "quantization", ["float32", "int8"], "float32, float16, dynamic_range or int8; repeat or comma-separate; "
    "'all' for every one.")
_MAX_DETECTIONS = flags.DEFINE_integer("max_detections", 10, "Detections per image the TFLite models output.")
_NUM_CALIBRATION = flags.DEFINE_integer("num_calibration_images", 100,
                                        "Training images calibrating int8 (the representative set).")
_NUM_PARITY = flags.DEFINE_integer("num_parity_images", 100, "Held-out (eval) images of the parity check.")
_FLOAT_IOU = flags.DEFINE_float("float_min_mean_iou", 0.99, "Parity bar of float32/float16 models.")
_INT8_IOU = flags.DEFINE_float("int8_min_mean_iou", 0.95, "Parity bar of int8/dynamic_range models.")
_ANDROID_QUANTIZATION = flags.DEFINE_string("android_quantization", None,
                                            "Model for android/ (default int8 when exported, else the first).")
_INT8_DEBUG = flags.DEFINE_boolean("int8_debug", False, "Run the quantization debugger on the held-out images: "
                                   "per-layer int8 errors in int8_debug.csv and .png, the worst in the report.")
_INT8_FLOAT_LAYERS = flags.DEFINE_string(
    "int8_float_layers", "", "Keep int8 layers in float: 'auto' (the worst, a few at a time, until int8 AP50 is "
    "within --int8_max_ap50_drop of float32's or --int8_max_float_layers are float) or tensor names from "
    "int8_debug.csv, comma-separated.")
_INT8_MAX_DROP = flags.DEFINE_float("int8_max_ap50_drop", 0.01, "--int8_float_layers=auto: the AP50 drop to reach.")
_INT8_MAX_FLOAT = flags.DEFINE_integer("int8_max_float_layers", 10, "--int8_float_layers=auto: the layer budget.")
_OP_PROFILE_RUNS = flags.DEFINE_integer("op_profile_runs", 3, "Runs per op of the report's per-op CPU times "
                                        "(phone readiness); 0 leaves the profile out.")

# TF1 frozen graphs, as the TOCO command line took them.
_TFLITE_GRAPH = flags.DEFINE_string("tflite_graph_path", None,
                                    "A TF1 tflite_graph.pb (or .pbtxt) to convert instead of a checkpoint.")
_LABEL_MAP = flags.DEFINE_string("label_map_path", None, "With --tflite_graph_path: the model's label_map.pbtxt.")
_INFERENCE_TYPE = flags.DEFINE_list("inference_type", ["FLOAT"],
                                    "With --tflite_graph_path: FLOAT and/or QUANTIZED_UINT8, comma-separated.")
_MEAN = flags.DEFINE_float("mean_values", 128.0, "With --tflite_graph_path: uint8 input q means (q - mean) / std.")
_STD = flags.DEFINE_float("std_values", 128.0, "With --tflite_graph_path: see --mean_values.")
_RANGES_MIN = flags.DEFINE_float("default_ranges_min", None,
                                 "With QUANTIZED_UINT8: activation range where the graph has no fake-quant ranges.")
_RANGES_MAX = flags.DEFINE_float("default_ranges_max", None, "See --default_ranges_min.")
_INPUT_SHAPE = flags.DEFINE_string("input_shape", None, "With --tflite_graph_path: 1,HEIGHT,WIDTH,3 "
                                   "(default: the graph's input placeholder).")

FLAGS = flags.FLAGS
_TOOL_FLAGS = ("pipeline_config_path", "config_override", "override", "strict", "trained_checkpoint_dir",
               "output_directory", "quantization", "max_detections", "num_calibration_images", "num_parity_images",
               "float_min_mean_iou", "int8_min_mean_iou", "android_quantization", "op_profile_runs",
               "int8_debug", "int8_float_layers", "int8_max_ap50_drop", "int8_max_float_layers")
_TF1_FLAGS = ("tflite_graph_path", "label_map_path", "inference_type", "mean_values", "std_values",
              "default_ranges_min", "default_ranges_max", "input_shape")
# What a TF1 conversion takes besides its own flags.
_TF1_SHARED = ("output_directory", "android_quantization", "op_profile_runs",
               "int8_debug", "int8_float_layers", "int8_max_ap50_drop", "int8_max_float_layers")
DEMO_EXPORT = "od_tools/demo/tflite"
DEMO_ASSETS = "android_demo/assets"
DEMO_TARGETS = ("//od_tools/demo:tflite", "//android_demo:assets")
SOURCE_ASSETS = "android_demo/app/src/main/assets"


def _runfiles_root() -> Path:
    # This file sits at <root>/od_tools/export_tflite.py in the runfiles tree.
    return Path(os.path.abspath(__file__)).parents[1]


def demo_outputs(workspace: str) -> tuple[Path, Path]:
    """The demo export and its Android assets: from the runfiles when a target bundles them (a
    test of this tool does), else built now by Bazel (cached, so a re-run takes seconds)."""
    root = _runfiles_root()
    if (root / DEMO_EXPORT / "report.txt").is_file():
        return root / DEMO_EXPORT, root / DEMO_ASSETS
    from od_tools.demo import bazel_build

    bin_dir = bazel_build.build(DEMO_TARGETS, workspace, root)
    return bin_dir / DEMO_EXPORT, bin_dir / DEMO_ASSETS


def install_demo() -> None:
    """The no-flag run: the demo export's assets into the source tree's Android app."""
    workspace = os.environ.get("BUILD_WORKSPACE_DIRECTORY")
    if not workspace:
        raise UserError("no BUILD_WORKSPACE_DIRECTORY: run this through `bazel run //od_tools:export_tflite`")
    export_dir, assets_dir = demo_outputs(workspace)
    files = android_assets.verify_assets(assets_dir)
    target = Path(workspace) / SOURCE_ASSETS
    android_assets.publish(target, files)
    print((export_dir / "report.txt").read_text(encoding="utf-8"))
    card = android_assets.read_model_card(files)
    print(f"Wrote {', '.join(sorted(files))} ({card['quantization']}, sha256 "
          f"{card['sha256']['detect.tflite'][:12]}) to {SOURCE_ASSETS}/")
    print("Install into the TFLite example app: bazel run //android_demo:install -- --app_dir=PATH")


def export(argv_flags: flags.FlagValues) -> None:
    from od_tools import api
    from od_tools.export import parse_quantizations
    from od_tools.export.report import SHOWN_CLASSES

    missing = [name for name, value in (("--trained_checkpoint_dir", _CHECKPOINT.value),
                                        ("--output_directory", _OUTPUT.value)) if not value]
    if missing:
        raise UserError(f"{', '.join(missing)} missing: give both (and --pipeline_config_path unless the checkpoint "
                        "has a pipeline.config beside it), or no flags at all for the demo")
    options = api.ExportOptions(
        quantizations=tuple(parse_quantizations(_QUANTIZATION.value)),
        max_detections=_MAX_DETECTIONS.value, num_calibration_images=_NUM_CALIBRATION.value,
        num_parity_images=_NUM_PARITY.value, float_min_mean_iou=_FLOAT_IOU.value,
        int8_min_mean_iou=_INT8_IOU.value, op_profile_runs=_OP_PROFILE_RUNS.value, int8_debug=_INT8_DEBUG.value,
        int8_float_layers=_INT8_FLOAT_LAYERS.value, int8_max_ap50_drop=_INT8_MAX_DROP.value,
        int8_max_float_layers=_INT8_MAX_FLOAT.value)
    output = Path(cli.workspace_path(_OUTPUT.value))
    report = api.export_tflite(api.ExportRequest(
        trained_checkpoint_dir=cli.workspace_path(_CHECKPOINT.value), output_directory=str(output),
        pipeline_config_path=cli.workspace_path(argv_flags.pipeline_config_path) if argv_flags.pipeline_config_path
        else None, overrides=tuple(argv_flags.override), config_override=argv_flags.config_override,
        strict=argv_flags.strict, options=options, android_quantization=_ANDROID_QUANTIZATION.value))
    print(report.table(max_classes=SHOWN_CLASSES))
    print(f"Wrote {output}/ (Android assets in {output / android_assets.EXPORT_ASSETS_DIR}/)")


def export_tf1_graph() -> None:
    """--tflite_graph_path: a TF1 tflite_graph.pb converted as the TOCO command did."""
    from od_tools.export.tf1 import frozen_graph
    from od_tools.label_map import read_label_map

    stray = [f"--{name}" for name in _TOOL_FLAGS if FLAGS[name].present and name not in _TF1_SHARED]
    if stray:
        raise UserError(f"{', '.join(stray)}: not used with --tflite_graph_path (a frozen graph has no checkpoint or "
                        "pipeline.config to export from); drop them")
    missing = [f"--{name}" for name, value in (("label_map_path", _LABEL_MAP.value),
                                               ("output_directory", _OUTPUT.value)) if not value]
    if missing:
        raise UserError(f"--tflite_graph_path needs {' and '.join(missing)}")
    try:
        types = [frozen_graph.InferenceType(v.strip().upper()) for v in _INFERENCE_TYPE.value if v.strip()]
    except ValueError:
        raise UserError(f"--inference_type={','.join(_INFERENCE_TYPE.value)}: use FLOAT and/or QUANTIZED_UINT8") \
            from None
    if not types:
        raise UserError("--inference_type: give FLOAT and/or QUANTIZED_UINT8")
    if (_RANGES_MIN.value is None) != (_RANGES_MAX.value is None):
        raise UserError("--default_ranges_min and --default_ranges_max go together; give both or neither")
    ranges = None
    if _RANGES_MIN.value is not None:
        if not _RANGES_MIN.value < _RANGES_MAX.value:
            raise UserError(f"--default_ranges_min={_RANGES_MIN.value} must be below "
                            f"--default_ranges_max={_RANGES_MAX.value}")
        ranges = (_RANGES_MIN.value, _RANGES_MAX.value)
    if _STD.value <= 0:
        raise UserError(f"--std_values={_STD.value}: must be positive (128 for MobileNet SSDs)")
    options = frozen_graph.FrozenGraphOptions(
        mean_value=_MEAN.value, std_value=_STD.value, default_ranges=ranges,
        input_shape=frozen_graph.parse_input_shape(_INPUT_SHAPE.value) if _INPUT_SHAPE.value else None)
    label_map_path = cli.workspace_path(_LABEL_MAP.value)
    output = Path(cli.workspace_path(_OUTPUT.value))
    result = frozen_graph.export_frozen_graph(cli.workspace_path(_TFLITE_GRAPH.value), read_label_map(label_map_path),
                                              label_map_path, str(output), list(dict.fromkeys(types)), options,
                                              op_profile_runs=_OP_PROFILE_RUNS.value)
    assets_dir = android_assets.package_export(output, _ANDROID_QUANTIZATION.value)
    print(frozen_graph.summary(result), end="")
    print(f"Wrote {output}/ (Android assets in {assets_dir}/)")


def main(argv: Sequence[str]) -> None:
    del argv  # cli.run refuses words that are not flags
    # Any flag of this tool means an export: the demo is only what a bare command asks for.
    if _TFLITE_GRAPH.value:
        export_tf1_graph()
        return
    tf1_only = [f"--{name}" for name in _TF1_FLAGS if FLAGS[name].present]
    if tf1_only:
        raise UserError(f"{', '.join(tf1_only)}: only used with --tflite_graph_path (a TF1 tflite_graph.pb)")
    given = [name for name in _TOOL_FLAGS if FLAGS[name].present]
    if not given:
        install_demo()
    else:
        export(FLAGS)


if __name__ == "__main__":
    cli.run(main)

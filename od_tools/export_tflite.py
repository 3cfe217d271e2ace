"""Exports a trained Object Detection API detector to a SavedModel and TFLite models for Android.

    bazel run //od_tools:export_tflite        # the demo detector -> android_demo/app/src/main/assets
    bazel run //od_tools:export_tflite -- --trained_checkpoint_dir=runs/my_model \
        --output_directory=exported/ [--pipeline_config_path=...] [--quantization=all]

--trained_checkpoint_dir is a model_main_tf2 model_dir, a model-zoo folder (checkpoint/ckpt-0 and
pipeline.config) or a ckpt-N prefix; the pipeline.config beside it is used unless
--pipeline_config_path names another. Writes, with the OD API's exporters, saved_model/ +
checkpoint/ + pipeline.config (exporter_main_v2's layout) and tflite_saved_model/
(export_tflite_graph_tf2's), then detect_<quantization>.tflite (default float32 and int8;
TFLite_Detection_PostProcess; outputs boxes, classes, scores, num_detections; TFLite Model
Metadata for MediaPipe and the Task Library), labelmap.txt, report.{json,txt} and android/
(detect.tflite, labelmap.txt, model_card.json). Every TFLite model must match the SavedModel on
held-out images (--float_min_mean_iou, --int8_min_mean_iou) or nothing is written.
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

FLAGS = flags.FLAGS
_TOOL_FLAGS = ("pipeline_config_path", "config_override", "override", "strict", "trained_checkpoint_dir",
               "output_directory", "quantization", "max_detections", "num_calibration_images", "num_parity_images",
               "float_min_mean_iou", "int8_min_mean_iou", "android_quantization")
DEMO_EXPORT = "od_tools/demo/tflite"
DEMO_ASSETS = "android_demo/assets"
SOURCE_ASSETS = "android_demo/app/src/main/assets"


def _runfiles_root() -> Path:
    # This file sits at <root>/od_tools/export_tflite.py in the runfiles tree.
    return Path(os.path.abspath(__file__)).parents[1]


def install_demo() -> None:
    """The no-flag run: the cached demo export's assets into the source tree's Android app."""
    root = _runfiles_root()
    export_dir, assets_dir = root / DEMO_EXPORT, root / DEMO_ASSETS
    if not (export_dir / "report.txt").is_file():
        raise UserError("the demo export is not in this binary's runfiles; run `bazel run //od_tools:export_tflite` "
                        "(not the _tool target) or pass --pipeline_config_path and friends")
    workspace = os.environ.get("BUILD_WORKSPACE_DIRECTORY")
    if not workspace:
        raise UserError("no BUILD_WORKSPACE_DIRECTORY: run this through `bazel run //od_tools:export_tflite`")
    files = android_assets.verify_assets(assets_dir)
    target = Path(workspace) / SOURCE_ASSETS
    android_assets.publish(target, files)
    print((export_dir / "report.txt").read_text(encoding="utf-8"))
    card = android_assets.read_model_card(files)
    print(f"Wrote {', '.join(sorted(files))} ({card['quantization']}, sha256 "
          f"{card['sha256']['detect.tflite'][:12]}) to {SOURCE_ASSETS}/")
    print("Install into the TFLite example app: bazel run //android_demo:install -- --app_dir=PATH")


def export(argv_flags: flags.FlagValues) -> None:
    from od_tools import config as config_lib
    from od_tools.config import checkpoints
    from od_tools.export import ExportOptions, export_detector, parse_quantizations

    missing = [name for name, value in (("--trained_checkpoint_dir", _CHECKPOINT.value),
                                        ("--output_directory", _OUTPUT.value)) if not value]
    if missing:
        raise UserError(f"{', '.join(missing)} missing: give both (and --pipeline_config_path unless the checkpoint "
                        "has a pipeline.config beside it), or no flags at all for the demo")
    checkpoint = cli.workspace_path(_CHECKPOINT.value)
    located = checkpoints.resolve(checkpoint, "--trained_checkpoint_dir")
    if argv_flags.pipeline_config_path:
        pipeline_path = cli.workspace_path(argv_flags.pipeline_config_path)
    elif located.pipeline_config:
        pipeline_path = located.pipeline_config
    else:
        raise UserError(f"--trained_checkpoint_dir {checkpoint}: no pipeline.config beside the checkpoint; pass "
                        "--pipeline_config_path")
    prepared = config_lib.prepare(pipeline_path, argv_flags.override, config_override=argv_flags.config_override,
                                  checks=config_lib.Checks(config_lib.Purpose.EXPORT), strict=argv_flags.strict)
    if prepared.label_map is None:
        raise UserError(f"{pipeline_path}: no label_map_path in eval_input_reader or train_input_reader; "
                        "the TFLite model's labels come from it (--override eval_input_reader.label_map_path=...)")
    options = ExportOptions(
        quantizations=tuple(parse_quantizations(_QUANTIZATION.value)),
        max_detections=_MAX_DETECTIONS.value, num_calibration_images=_NUM_CALIBRATION.value,
        num_parity_images=_NUM_PARITY.value, float_min_mean_iou=_FLOAT_IOU.value,
        int8_min_mean_iou=_INT8_IOU.value)
    output = Path(cli.workspace_path(_OUTPUT.value))
    report = export_detector(prepared, located.prefix, prepared.label_map, str(output), options,
                             config_source=pipeline_path, label_map_source=prepared.pipeline.label_map_path)
    files = android_assets.assets_from_export(output, _ANDROID_QUANTIZATION.value)
    android_assets.write_assets(files, output / "android")
    print(report.table())
    print(f"Wrote {output}/ (Android assets in {output / 'android'}/)")


def main(argv: Sequence[str]) -> None:
    if len(argv) > 1:
        raise UserError(f"unexpected arguments {' '.join(argv[1:])}; flags look like --output_directory=PATH")
    # Any flag of this tool means an export: the demo is only what a bare command asks for.
    given = [name for name in _TOOL_FLAGS if FLAGS[name].present]
    if not given:
        install_demo()
    else:
        export(FLAGS)


if __name__ == "__main__":
    cli.run(main)

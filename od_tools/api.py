"""The toolchain from Python, one step per function, each taking the typed settings the command-line
tools build from their flags (so a script and a command do the same thing):

    from od_tools import api

    api.create_tf_records(api.CreateRequest(input_format="coco", annotations="train.json",
                                            image_dir="images", output_path="data/train.tfrecord",
                                            val_fraction=0.1))
    api.train(api.TrainSettings(pipeline_config_path="pipeline.config", model_dir="runs/mine"))
    report = api.export_tflite(api.ExportRequest(trained_checkpoint_dir="runs/mine",
                                                 output_directory="exported"))
    model = api.load_model("exported/android/detect.tflite")
    api.detect(model, "photos/", api.DetectSettings(output_dir="found"))

Errors are `UserError`s with the one-line message the tools print.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import IO, Sequence

from od_tools import config as config_lib
from od_tools.android import assets as android_assets
from od_tools.common.errors import UserError
from od_tools.config import checkpoints
from od_tools.datasets import create
from od_tools.datasets.create import CreateRequest
from od_tools.datasets.checks.dataset_report import Report
from od_tools.export import saved_model
from od_tools.export.convert import Quantization
from od_tools.export.exporter import ExportOptions, export_detector
from od_tools.export.report import ExportReport
from od_tools.inference import detect as detect_lib
from od_tools.inference import models
from od_tools.inference.detect import DetectSettings, Summary
from od_tools.inference.models import Model, ModelSpec
from od_tools.inference.outputs import OutputOptions
from od_tools.training.launch import LaunchResult, launch
from od_tools.training.settings import TrainSettings

__all__ = [
    "CreateRequest", "DetectSettings", "ExportOptions", "ExportRequest", "Model", "ModelSpec", "OutputOptions",
    "Quantization", "SavedModelRequest", "Summary", "TrainSettings", "UserError",
    "create_tf_records", "detect", "export_saved_model", "export_tflite", "load_model", "train",
]


@dataclasses.dataclass(frozen=True)
class ExportRequest:
    """What `export_tflite` reads: a model_main_tf2 model_dir, a model-zoo folder or a ckpt-N prefix,
    with the pipeline.config beside it unless `pipeline_config_path` names another."""
    trained_checkpoint_dir: str
    output_directory: str
    pipeline_config_path: str | None = None
    overrides: Sequence[str] = ()      # --override FIELD=VALUE, applied in order
    config_override: str = ""          # --config_override: a text-format pipeline fragment
    strict: bool = False
    options: ExportOptions = ExportOptions()
    android_quantization: str | None = None  # the model android/ gets (default: the report's choice)


@dataclasses.dataclass(frozen=True)
class SavedModelRequest:
    """What `export_saved_model` reads (exporter_main_v2's flags)."""
    trained_checkpoint_dir: str
    output_directory: str
    pipeline_config_path: str | None = None
    overrides: Sequence[str] = ()
    config_override: str = ""
    strict: bool = False
    input_type: str = "image_tensor"
    num_check_images: int = 8


def create_tf_records(request: CreateRequest, out: IO[str] | None = None) -> Report:
    """Annotations (COCO, Pascal VOC, VoTT, CSV, TFRecords) -> checked, sharded TFRecords, label maps and
    the report (`create_tf_record`)."""
    return create.create_tf_records(request, out=out)


def train(settings: TrainSettings) -> LaunchResult:
    """Trains (and evaluates at the end) as `train` / model_main_tf2 does; returns the run's result."""
    return launch(settings)


def _prepared(request: ExportRequest | SavedModelRequest, purpose: config_lib.Purpose):
    """The checkpoint found once, and its pipeline.config read and checked for `purpose`."""
    checkpoint = request.trained_checkpoint_dir
    located = checkpoints.resolve(checkpoint, "--trained_checkpoint_dir")
    path = located.config_path(request.pipeline_config_path, f"--trained_checkpoint_dir {checkpoint}")
    prepared = config_lib.prepare(path, list(request.overrides), config_override=request.config_override,
                                  checks=config_lib.Checks(purpose), strict=request.strict)
    return located, path, prepared


def export_tflite(request: ExportRequest) -> ExportReport:
    """A trained detector -> SavedModels, TFLite models that passed the parity check, the report and
    the Android assets in `output_directory/android` (`export_tflite` with flags). Returns the
    export report."""
    located, config_path, prepared = _prepared(request, config_lib.Purpose.EXPORT)
    if prepared.label_map is None:
        raise UserError(f"{config_path}: no label_map_path in eval_input_reader or train_input_reader; "
                        "the TFLite model's labels come from it (--override eval_input_reader.label_map_path=...)")
    output = Path(request.output_directory)
    report = export_detector(prepared, located.prefix, prepared.label_map, str(output), request.options,
                             config_source=config_path, label_map_source=prepared.pipeline.label_map_path)
    android_assets.package_export(output, request.android_quantization)
    return report


def export_saved_model(request: SavedModelRequest) -> saved_model.ServeCheck:
    """A trained detector of any architecture -> a SavedModel for serving, in the zoo's layout, once a
    fresh process serving it gives the checkpoint's detections (`export_saved_model`). Returns that
    check."""
    located, _, prepared = _prepared(request, config_lib.Purpose.SERVE)
    return saved_model.export_saved_model(prepared, located.prefix, request.output_directory, request.input_type,
                                          request.num_check_images)


def load_model(path: str, spec: ModelSpec = ModelSpec()) -> Model:
    """A SavedModel folder, a .tflite detector or a checkpoint, as one `Model` (`model.detect(pixels)`)."""
    return models.load(path, spec)


def detect(model: Model, source: str, settings: DetectSettings, compare: Model | None = None) -> Summary:
    """`model` on an image, folder, glob, list, video or TFRecords: annotated pictures, COCO JSON and a
    summary in `settings.output_dir` (`detect`)."""
    return detect_lib.run(model, source, settings, compare)

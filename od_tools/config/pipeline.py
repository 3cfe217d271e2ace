"""Reading and writing pipeline.config files in the Object Detection API's text format.

Configs from the OD API's model zoo parse unchanged. Meta-architectures od_tools does not train
(Faster R-CNN, Mask R-CNN, CenterNet) are recognised before their contents are parsed, so they
get a one-line "unsupported" error instead of a schema error deep inside their block.
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import os
import re
from typing import Sequence

from google.protobuf import descriptor_pool, text_format

from od_tools.common import cli
from od_tools.common.errors import UserError
from od_tools.common.files import read_text, write_text_atomic
from od_tools.protos import pipeline_pb2

PipelineProto = pipeline_pb2.TrainEvalPipelineConfig

# The OD API zoo's configs ship with this placeholder in every path field.
PLACEHOLDER = "PATH_TO_BE_CONFIGURED"

_UNSUPPORTED_MODELS = {
    "faster_rcnn": "Faster R-CNN / Mask R-CNN (model.faster_rcnn)",
    "center_net": "CenterNet (model.center_net)",
    "experimental_model": "an experimental model (model.experimental_model)",
}


class PipelineConfigError(UserError):
    """A pipeline.config that cannot be read or used."""


def _no_field_hint(message: str) -> str:
    """'did you mean ...' for protobuf's "Message type X has no field named Y" errors."""
    match = re.search(r'Message type "([\w.]+)" has no field named "(\w+)"', message)
    if not match:
        return ""
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(match.group(1))
    except KeyError:
        return ""
    close = difflib.get_close_matches(match.group(2), list(descriptor.fields_by_name), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _unsupported_model(text: str, source: str) -> None:
    """Rejects non-SSD meta-architectures with one line, whatever their block contains."""
    lenient = PipelineProto()
    try:
        text_format.Parse(text, lenient, allow_unknown_field=True)
    except text_format.ParseError:
        return  # a syntax error: the strict parse reports it with its position
    kind = lenient.model.WhichOneof("model")
    if kind in _UNSUPPORTED_MODELS:
        raise PipelineConfigError(
            f"{source}: {_UNSUPPORTED_MODELS[kind]} is unsupported: od_tools trains single-shot "
            "detectors (model.ssd with a MobileNet feature extractor) on Model Garden's RetinaNet; "
            "start from an SSD MobileNet config such as ssd_mobilenet_v2_fpnlite_320x320")


def parse_pipeline_text(text: str, source: str = "<pipeline.config>") -> PipelineProto:
    """Parses pipeline.config text; errors name `source`, the line and column."""
    _unsupported_model(text, source)
    config = PipelineProto()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:
        raise PipelineConfigError(
            f"{source}:{e}{_no_field_hint(str(e))}; fix the pipeline.config "
            "(it uses the Object Detection API's TrainEvalPipelineConfig schema)") from e
    if not config.HasField("model"):
        raise PipelineConfigError(f"{source}: no model {{ ssd {{ ... }} }} block; add one")
    return config


def read_pipeline_config(path: str) -> PipelineProto:
    text = read_text(path, "pipeline config", error=PipelineConfigError,
                     not_found_hint="check --pipeline_config_path")
    return parse_pipeline_text(text, source=path)


def format_pipeline(config: PipelineProto) -> str:
    return text_format.MessageToString(config)


def write_pipeline_config(config: PipelineProto, path: str | os.PathLike[str]) -> None:
    write_text_atomic(path, format_pipeline(config))


def is_url(path: str) -> bool:
    """gs://, s3://, hdfs://...: paths only TensorFlow's file system layer can open."""
    return "://" in path


@dataclasses.dataclass(frozen=True)
class Pipeline:
    """A parsed pipeline.config (overrides applied) and the folder its relative paths may use.

    Relative paths in the config resolve against the working directory first (the folder
    `bazel run` was started in), as in the OD API, then against the config file's own folder,
    so a config can travel with the data it names.
    """

    config: PipelineProto
    source: str = "<pipeline.config>"
    overrides: tuple[str, ...] = ()

    @property
    def config_dir(self) -> str:
        return os.path.dirname(os.path.abspath(self.source)) if os.path.exists(self.source) else ""

    def resolve(self, path: str) -> str:
        """The file or glob `path` refers to (see the class docstring)."""
        if not path or path == PLACEHOLDER or is_url(path) or os.path.isabs(path):
            return path
        from_cwd = os.path.abspath(cli.workspace_path(path))
        if glob.glob(from_cwd) or not self.config_dir:
            return from_cwd
        from_config = os.path.join(self.config_dir, path)
        return from_config if glob.glob(from_config) else from_cwd

    def resolve_all(self, paths: Sequence[str]) -> list[str]:
        return [self.resolve(p) for p in paths]

    @property
    def ssd(self):
        return self.config.model.ssd

    @property
    def train_label_map_path(self) -> str:
        return self.resolve(self.config.train_input_reader.label_map_path)

    @property
    def eval_input_reader(self) -> pipeline_pb2.InputReader:
        readers = self.config.eval_input_reader
        return readers[0] if readers else pipeline_pb2.InputReader()

    @property
    def label_map_path(self) -> str:
        """The label map that names the classes: the training one, else the evaluation one."""
        path = self.config.train_input_reader.label_map_path or self.eval_input_reader.label_map_path
        return self.resolve(path)

    @property
    def train_input_paths(self) -> list[str]:
        return self.resolve_all(self.config.train_input_reader.tf_record_input_reader.input_path)

    @property
    def eval_input_paths(self) -> list[str]:
        return self.resolve_all(self.eval_input_reader.tf_record_input_reader.input_path)

    def with_config(self, config: PipelineProto) -> "Pipeline":
        return dataclasses.replace(self, config=config)

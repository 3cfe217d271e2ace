"""Reading and writing pipeline.config files: the Object Detection API's own schema and parser.

The schema is the OD API's `TrainEvalPipelineConfig` (object_detection.protos, compiled by
//third_party/object_detection), so every config the OD API reads parses here unchanged,
including files saved with a UTF-8 byte order mark or Windows line ends.
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import os
import re
from typing import Sequence

from google.protobuf import descriptor_pool, text_format
from object_detection.protos import pipeline_pb2

from od_tools.common import cli
from od_tools.common.errors import UserError
from od_tools.common.files import is_url, read_text, write_text_atomic

PipelineProto = pipeline_pb2.TrainEvalPipelineConfig

# The OD API zoo's configs ship with this placeholder in every path field.
PLACEHOLDER = "PATH_TO_BE_CONFIGURED"

# model { ... } meta-architectures and what the OD API calls them.
META_ARCHITECTURES = {
    "ssd": "SSD",
    "faster_rcnn": "Faster R-CNN",
    "center_net": "CenterNet",
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


def parse_pipeline_text(text: str, source: str = "<pipeline.config>") -> PipelineProto:
    """Parses pipeline.config text; errors name `source`, the line and column."""
    config = PipelineProto()
    try:
        text_format.Merge(text.removeprefix("\ufeff"), config)
    except text_format.ParseError as e:
        raise PipelineConfigError(
            f"{source}:{e}{_no_field_hint(str(e))}; this is not valid for the Object Detection API's "
            "TrainEvalPipelineConfig schema either: check the field name and its block") from e
    kind = config.model.WhichOneof("model")
    if kind is None:
        raise PipelineConfigError(f"{source}: no model {{ ... }} block (ssd, faster_rcnn or center_net); add one")
    if kind not in META_ARCHITECTURES:
        raise PipelineConfigError(f"{source}: model.{kind} is not supported; use model {{ ssd {{ ... }} }}, "
                                  "faster_rcnn or center_net")
    return config


def read_pipeline_config(path: str) -> PipelineProto:
    text = read_text(path, "pipeline config", error=PipelineConfigError,
                     not_found_hint="check --pipeline_config_path", encoding="utf-8-sig")
    return parse_pipeline_text(text, source=path)


def format_pipeline(config: PipelineProto) -> str:
    return text_format.MessageToString(config)


def write_pipeline_config(config: PipelineProto, path: str | os.PathLike[str]) -> None:
    """Writes `config` as text, atomically (through TensorFlow's file layer for gs:// and the like)."""
    write_text_atomic(path, format_pipeline(config))


def meta_architecture(config: PipelineProto) -> str:
    """'ssd', 'faster_rcnn' or 'center_net'."""
    return config.model.WhichOneof("model") or ""


def model_block(config: PipelineProto):
    """The model's own block: model.ssd, model.faster_rcnn or model.center_net."""
    return getattr(config.model, meta_architecture(config))


def fixed_input_size(config: PipelineProto) -> tuple[int, int] | None:
    """(height, width) of a fixed_shape_resizer, else None."""
    resizer = model_block(config).image_resizer
    if resizer.WhichOneof("image_resizer_oneof") != "fixed_shape_resizer":
        return None
    return resizer.fixed_shape_resizer.height, resizer.fixed_shape_resizer.width


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
    def meta_architecture(self) -> str:
        return meta_architecture(self.config)

    @property
    def model(self):
        """model.ssd, model.faster_rcnn or model.center_net."""
        return model_block(self.config)

    @property
    def num_classes_path(self) -> str:
        return f"model.{self.meta_architecture}.num_classes"

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

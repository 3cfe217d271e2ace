"""One call for every tool: read, override, translate and preflight a pipeline.config.

    prepared = prepare("pipeline.config", overrides=["train_config.batch_size=16"],
                       checks=Checks(Purpose.TRAIN, num_replicas=2))
    prepared.pipeline   # the config as it will run: overrides applied, TF1 extractors renamed,
                        # num_classes filled in, paths absolute, fine_tune_checkpoint a ckpt prefix
    prepared.notes      # one line per thing worth knowing (TF1 translations, skipped TF1 options)

Problems are collected from preflight (and, with `strict`, the notes) and raised together as one
`PreflightError`, one line per problem.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

from absl import logging
from google.protobuf import text_format

from od_tools.common.errors import UserError
from od_tools.config import checkpoints, tf1
from od_tools.config.overrides import apply_overrides
from od_tools.config.pipeline import (
    Pipeline,
    PipelineConfigError,
    PipelineProto,
    read_pipeline_config,
    write_pipeline_config,
)
from od_tools.config.preflight import Checks, Problem, preflight
from od_tools.label_map import LabelMap


class PreflightError(UserError):
    """Every problem found in a pipeline.config, one line each."""

    def __init__(self, source: str, problems: Sequence[Problem | str]):
        lines = [" ".join(str(p).split()) for p in problems]
        super().__init__(f"{source}: {len(lines)} problem(s) found before running")
        self.problems = lines
        self.message = "\n".join([self.message] + [f"  {line}" for line in lines])


@dataclasses.dataclass(frozen=True)
class Prepared:
    pipeline: Pipeline
    label_map: LabelMap | None
    notes: tuple[str, ...] = ()

    @property
    def config(self) -> PipelineProto:
        return self.pipeline.config

    @property
    def num_classes(self) -> int:
        return self.pipeline.model.num_classes


def apply_config_override(config: PipelineProto, text: str, source: str = "--config_override") -> PipelineProto:
    """`config` with a text-format partial TrainEvalPipelineConfig merged in, as the OD API's
    exporters take `--config_override` (e.g. `model { ssd { num_classes: 2 } }`)."""
    if not text.strip():
        return config
    result = PipelineProto()
    result.CopyFrom(config)
    try:
        text_format.Merge(text, result)
    except text_format.ParseError as e:
        raise PipelineConfigError(f"{source}: {e}; write it as pipeline.config text, e.g. "
                                  "'model { ssd { num_classes: 2 } }'") from e
    return result


def load_pipeline(path: str, overrides: Sequence[str] = (), config_override: str = "") -> Pipeline:
    """A pipeline.config with --config_override, then every --override, applied (no checks yet)."""
    config = apply_config_override(read_pipeline_config(path), config_override)
    config = apply_overrides(config, overrides)
    return Pipeline(config=config, source=path, overrides=tuple(overrides))


def resolved_pipeline(pipeline: Pipeline, num_classes: int) -> Pipeline:
    """The config as a run uses it: num_classes filled in, local paths absolute, the
    fine_tune_checkpoint a ckpt-N prefix (the OD API takes nothing else)."""
    config = PipelineProto()
    config.CopyFrom(pipeline.config)
    resolved = pipeline.with_config(config)
    resolved.model.num_classes = num_classes
    for reader in (config.train_input_reader, *config.eval_input_reader):
        if reader.label_map_path:
            reader.label_map_path = pipeline.resolve(reader.label_map_path)
        paths = reader.tf_record_input_reader.input_path
        paths[:] = [pipeline.resolve(p) for p in paths]
    train = config.train_config
    if train.fine_tune_checkpoint:
        path = pipeline.resolve(train.fine_tune_checkpoint)
        found = checkpoints.locate(path)
        train.fine_tune_checkpoint = found.prefix if found else path
    return resolved


def prepare(path: str, overrides: Sequence[str] = (), *, checks: Checks, config_override: str = "",
            strict: bool = False) -> Prepared:
    """Reads, overrides, translates and checks a pipeline.config; raises all problems at once."""
    pipeline = load_pipeline(path, overrides, config_override)
    translated, notes = tf1.translate(pipeline.config)
    pipeline = pipeline.with_config(translated)
    problems, label_map = preflight(pipeline, checks)
    if strict:
        problems = [*problems, *(f"{note} (--strict)" for note in notes)]
    if problems:
        raise PreflightError(path, problems)
    for note in notes:
        logging.warning("%s: %s", path, note)
    num_classes = pipeline.model.num_classes or (label_map.num_classes if label_map else 0)
    return Prepared(resolved_pipeline(pipeline, num_classes), label_map, tuple(notes))


def describe_paths(pipeline: Pipeline) -> str:
    """Where a run reads its data from: for the start-of-run log."""
    parts = [f"train {list(pipeline.train_input_paths)}"]
    if pipeline.config.eval_input_reader:
        parts.append(f"eval {list(pipeline.eval_input_paths)}")
    if pipeline.label_map_path:
        parts.append(f"labels {pipeline.label_map_path}")
    return "; ".join(parts)


def write_resolved_config(pipeline: Pipeline, directory: str) -> str:
    """Writes the config a run uses as `pipeline.config` in `directory`, as the OD API does."""
    path = os.path.join(directory, checkpoints.PIPELINE_CONFIG)
    write_pipeline_config(pipeline.config, path)
    return path

"""One call for every tool: read, override, preflight and map a pipeline.config.

    prepared = prepare("pipeline.config", overrides=["train_config.batch_size=16"],
                       checks=Checks(Purpose.TRAIN, num_replicas=2))
    prepared.experiment   # Model Garden ExperimentConfig
    prepared.pipeline     # the config as used: overrides applied, num_classes filled in

Problems are collected from preflight and (with `strict`) from the mapping, then raised
together as one `PreflightError`, one line per problem.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

from absl import logging

from od_tools.common.errors import UserError
from od_tools.config.ledger import MappingReport
from od_tools.config.overrides import apply_overrides
from od_tools.config.pipeline import Pipeline, format_pipeline, is_url, read_pipeline_config
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
    experiment: object  # official.core.config_definitions.ExperimentConfig
    report: MappingReport

    @property
    def num_classes(self) -> int:
        return self.pipeline.config.model.ssd.num_classes


def resolved_pipeline(pipeline: Pipeline, num_classes: int) -> Pipeline:
    """The config with num_classes filled in and local paths made absolute, for a run's records."""
    config = type(pipeline.config)()
    config.CopyFrom(pipeline.config)
    if config.model.WhichOneof("model") == "ssd":
        config.model.ssd.num_classes = num_classes
    readers = [config.train_input_reader, *config.eval_input_reader]
    for reader in readers:
        if reader.label_map_path:
            reader.label_map_path = pipeline.resolve(reader.label_map_path)
        paths = reader.tf_record_input_reader.input_path
        paths[:] = [pipeline.resolve(p) for p in paths]
    if config.train_config.fine_tune_checkpoint:
        config.train_config.fine_tune_checkpoint = pipeline.resolve(config.train_config.fine_tune_checkpoint)
    return pipeline.with_config(config)


def load_pipeline(path: str, overrides: Sequence[str] = ()) -> Pipeline:
    """A pipeline.config with overrides applied (no checks yet)."""
    config = apply_overrides(read_pipeline_config(path), overrides)
    return Pipeline(config=config, source=path, overrides=tuple(overrides))


def prepare(path: str, overrides: Sequence[str] = (), *, checks: Checks, strict: bool = False,
            seed: int | None = None, deterministic: bool = False) -> Prepared:
    """Reads, overrides, checks and maps a pipeline.config; raises all problems at once."""
    pipeline = load_pipeline(path, overrides)
    problems, label_map = preflight(pipeline, checks)
    ssd = pipeline.config.model.ssd
    num_classes = ssd.num_classes or (label_map.num_classes if label_map else 0)
    pipeline = resolved_pipeline(pipeline, num_classes)

    from od_tools.config.mapping import to_experiment  # Model Garden: only once the config parsed

    try:
        mapped = to_experiment(pipeline, max(num_classes, 1), use_tpu=checks.use_tpu, seed=seed,
                               deterministic=deterministic)
    except Exception:
        if problems:  # the mapping tripped over something preflight already explains
            raise PreflightError(path, problems) from None
        raise
    if strict:
        problems = [*problems, *(f"{item} (--strict)" for item in mapped.report.not_honoured)]
    if problems:
        raise PreflightError(path, problems)
    warning = mapped.report.warning(path)
    if warning:
        logging.warning("%s", warning)
    return Prepared(pipeline, label_map, mapped.experiment, mapped.report)


def describe_paths(pipeline: Pipeline) -> str:
    """Where a run reads its data from: for the start-of-run log."""
    parts = [f"train {list(pipeline.train_input_paths)}"]
    if pipeline.config.eval_input_reader:
        parts.append(f"eval {list(pipeline.eval_input_paths)}")
    if pipeline.label_map_path:
        parts.append(f"labels {pipeline.label_map_path}")
    return "; ".join(parts)


def write_resolved_config(pipeline: Pipeline, directory: str) -> str:
    """Writes the config a run used as `pipeline.config` in `directory` (like the OD API)."""
    from od_tools.common.files import write_text_atomic

    path = os.path.join(directory, "pipeline.config")
    if is_url(directory):
        import tensorflow as tf

        with tf.io.gfile.GFile(path, "w") as f:
            f.write(format_pipeline(pipeline.config))
    else:
        write_text_atomic(path, format_pipeline(pipeline.config))
    return path

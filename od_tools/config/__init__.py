"""pipeline.config (the Object Detection API's format): parse, override, preflight, and map onto
Model Garden's ExperimentConfig (RetinaNet with a MobileNet and an FPN)."""

from od_tools.config.ledger import MappingReport
from od_tools.config.overrides import OverrideError, apply_overrides
from od_tools.config.pipeline import (
    Pipeline,
    PipelineConfigError,
    format_pipeline,
    parse_pipeline_text,
    read_pipeline_config,
    write_pipeline_config,
)
from od_tools.config.preflight import Checks, Problem, Purpose, preflight, resolve_checkpoint
from od_tools.config.prepare import (
    PreflightError,
    Prepared,
    load_pipeline,
    prepare,
    resolved_pipeline,
    write_resolved_config,
)

__all__ = [
    "Checks",
    "MappingReport",
    "OverrideError",
    "Pipeline",
    "PipelineConfigError",
    "PreflightError",
    "Prepared",
    "Problem",
    "Purpose",
    "apply_overrides",
    "format_pipeline",
    "load_pipeline",
    "parse_pipeline_text",
    "preflight",
    "prepare",
    "read_pipeline_config",
    "resolve_checkpoint",
    "resolved_pipeline",
    "write_pipeline_config",
    "write_resolved_config",
]

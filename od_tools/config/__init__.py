"""pipeline.config on the Object Detection API's own schema: parse, override, translate TF1
configs, preflight, and where checkpoints are."""

from od_tools.config.overrides import OverrideError, apply_overrides
from od_tools.config.pipeline import (
    Pipeline,
    PipelineConfigError,
    PipelineProto,
    fixed_input_size,
    format_pipeline,
    meta_architecture,
    model_block,
    parse_pipeline_text,
    read_pipeline_config,
    write_pipeline_config,
)
from od_tools.config.preflight import Checks, Problem, Purpose, preflight
from od_tools.config.prepare import (
    PreflightError,
    Prepared,
    apply_config_override,
    load_pipeline,
    prepare,
    resolved_pipeline,
    write_resolved_config,
)

__all__ = [
    "Checks",
    "OverrideError",
    "Pipeline",
    "PipelineConfigError",
    "PipelineProto",
    "PreflightError",
    "Prepared",
    "Problem",
    "Purpose",
    "apply_config_override",
    "apply_overrides",
    "fixed_input_size",
    "format_pipeline",
    "load_pipeline",
    "meta_architecture",
    "model_block",
    "parse_pipeline_text",
    "preflight",
    "prepare",
    "read_pipeline_config",
    "resolved_pipeline",
    "write_pipeline_config",
    "write_resolved_config",
]

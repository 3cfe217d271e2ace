"""The pipeline flags every tool shares, named as in the Object Detection API."""

from __future__ import annotations

from absl import flags


def define_pipeline_flags(required: bool = True) -> None:
    flags.DEFINE_string("pipeline_config_path", None, "Path to a pipeline.config (OD API text format).",
                        required=required)
    flags.DEFINE_string(
        "config_override", "", "pipeline.config text merged into the config, as the OD API's exporters take it, "
        "e.g. 'model { ssd { num_classes: 2 } }' (applied before --override).")
    flags.DEFINE_multi_string(
        "override", [], "path.to.field=value applied to the pipeline config, e.g. "
        "train_config.batch_size=16 or model.ssd.num_classes=1; repeat for more.")
    flags.DEFINE_bool("strict", False, "Treat notes (a TF1 feature extractor run as its TF2 twin, TF1-only options "
                      "TF2 skips) as errors.")

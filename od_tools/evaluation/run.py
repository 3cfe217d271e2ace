"""Evaluating what training produced: a model in memory, a checkpoint, or a SavedModel."""

from __future__ import annotations

import dataclasses
import os

from absl import logging

from od_tools.config import Prepared
from od_tools.evaluation.evaluator import (
    EvalResult,
    EvalSettings,
    evaluate,
    format_metrics,
    write_metrics_json,
    write_summaries,
)
from od_tools.modeling import Detector, build_model, read_step, restore_model


def labels_of(prepared: Prepared) -> dict[int, str]:
    """Class id -> display name; ids without a label map are named by number."""
    if prepared.label_map is not None:
        return prepared.label_map.id_to_label()
    return {i: str(i) for i in range(1, prepared.num_classes + 1)}


def evaluate_and_record(detector: Detector, prepared: Prepared, settings: EvalSettings, output_dir: str,
                        step: int, metrics_path: str = "", **context) -> EvalResult:
    """Evaluates, then writes metrics.json and TensorBoard summaries under `output_dir`."""
    result = evaluate(detector, settings, labels_of(prepared))
    metrics_path = metrics_path or os.path.join(output_dir, "metrics.json")
    write_metrics_json(result, metrics_path, step=step, **context)
    write_summaries(result, output_dir, step)
    logging.info("COCO metrics at step %d on %d images: %s", step, result.num_images, format_metrics(result.metrics))
    logging.info("metrics written to %s%s", metrics_path,
                 f"; {len(result.rendered)} PNGs in {settings.render_dir}" if result.rendered else "")
    return result


def checkpoint_detector(prepared: Prepared, checkpoint_path: str) -> tuple[Detector, str]:
    """A detector from a checkpoint (a model_dir or a ckpt-N prefix); returns it and the prefix."""
    model = build_model(prepared.experiment)
    prefix = restore_model(model, checkpoint_path)
    return Detector.from_model(prepared.experiment, model), prefix


def saved_model_detector(prepared: Prepared, saved_model_dir: str) -> Detector:
    normalized = prepared.experiment.task.export_config.output_normalized_coordinates
    params = _exported_params(saved_model_dir)
    if params is not None:
        normalized = params.task.export_config.output_normalized_coordinates
    return Detector.from_saved_model(saved_model_dir, normalized)


def _exported_params(saved_model_dir: str):
    """The params.yaml Model Garden's exporter writes beside a SavedModel, if any."""
    from official.modeling.hyperparams import params_dict
    import tensorflow as tf

    for folder in (saved_model_dir, os.path.dirname(os.path.normpath(saved_model_dir))):
        path = os.path.join(folder, "params.yaml")
        if tf.io.gfile.exists(path):
            return params_dict.read_yaml_to_params_dict(path)
    return None


def main(*, config_path: str, overrides, strict: bool, checkpoint: str, saved_model: str, output_dir: str,
         metrics_path: str, render_dir: str, num_render: int | None, min_score: float | None) -> EvalResult:
    """What `od_tools.eval` does once its flags are read."""
    from od_tools.common.errors import UserError
    from od_tools.config import Checks, Purpose, prepare
    from od_tools.modeling import latest_checkpoint

    prepared = prepare(config_path, overrides, checks=Checks(Purpose.EVAL), strict=strict)
    settings = EvalSettings.from_pipeline(prepared.pipeline)
    changes = {}
    if render_dir:
        changes.update(render_dir=render_dir, num_render=settings.num_render or
                       prepared.pipeline.config.eval_config.num_visualizations)
    if num_render is not None:
        changes["num_render"] = num_render
    if min_score is not None:
        changes["render"] = dataclasses.replace(settings.render, min_score=min_score)
    settings = dataclasses.replace(settings, **changes)
    if checkpoint:
        if latest_checkpoint(checkpoint) is None:
            raise UserError(f"--checkpoint_dir {checkpoint}: no checkpoint there (no `checkpoint` file or "
                            "ckpt-N.index); point at a training model_dir or a ckpt-N prefix")
        detector, prefix = checkpoint_detector(prepared, checkpoint)
        return evaluate_and_record(detector, prepared, settings, output_dir, read_step(prefix), metrics_path,
                                   checkpoint=prefix)
    if not os.path.exists(os.path.join(saved_model, "saved_model.pb")):
        raise UserError(f"--saved_model_dir {saved_model}: no saved_model.pb there; point at an exported SavedModel")
    return evaluate_and_record(saved_model_detector(prepared, saved_model), prepared, settings, output_dir, 0,
                               metrics_path, saved_model=saved_model)

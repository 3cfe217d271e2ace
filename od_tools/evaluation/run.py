"""Evaluating what training produced, with results recorded: a checkpoint or an exported SavedModel."""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

from absl import logging

from od_tools.common.errors import UserError
from od_tools.config import Prepared
from od_tools.config import checkpoints
from od_tools.evaluation.checkpoint import evaluate_checkpoint
from od_tools.evaluation.charts import PER_CLASS_CHART, write_per_class_chart
from od_tools.evaluation.coco import Accuracy, short_metrics
from od_tools.evaluation.evaluator import (
    EvalResult,
    EvalSettings,
    evaluate,
    format_metrics,
    render_examples,
    write_metrics_json,
    write_summaries,
)
from od_tools.modeling import Detector

METRICS_JSON = "metrics.json"


def labels_of(prepared: Prepared) -> dict[int, str]:
    """Class id -> display name; ids without a label map are named by number."""
    if prepared.label_map is not None:
        return prepared.label_map.id_to_label()
    return {i: str(i) for i in range(1, prepared.num_classes + 1)}


def record_checkpoint_eval(prepared: Prepared, prefix: str, output_dir: str, settings: EvalSettings,
                           metrics_path: str = "") -> EvalResult:
    """The OD API's evaluation of a checkpoint (as model_main_tf2 runs it), recorded.

    Summaries go to `output_dir` (TensorBoard), metrics to `metrics_path` (default
    `<output_dir>/metrics.json`) with both the OD API's metric names and short ones (AP, AP50, ...),
    and, when settings ask for it, PNGs of detections on the first eval images.
    """
    result = evaluate_checkpoint(prepared.config, prefix, output_dir, sample_1_of_n=settings.sample_1_of_n)
    rendered: list[str] = []
    if settings.num_render and settings.render_dir:
        rendered = render_examples(Detector.from_checkpoint(prepared.config, prefix), settings, labels_of(prepared))
    metrics = short_metrics(result.metrics)
    losses = {name: value for name, value in result.metrics.items() if name.startswith("Loss/")}
    record = EvalResult(metrics, result.num_images, 0.0, rendered, [])
    metrics_path = metrics_path or os.path.join(output_dir, METRICS_JSON)
    write_metrics_json(record, metrics_path, step=result.step, checkpoint=prefix, od_api_metrics=result.metrics,
                       losses=losses)
    logging.info("COCO metrics at step %d: %s", result.step, format_metrics(metrics))
    logging.info("metrics written to %s%s", metrics_path,
                 f"; {len(rendered)} PNGs in {settings.render_dir}" if rendered else "")
    return record


def record_model_eval(prepared: Prepared, detect: Callable, source: str, output_dir: str, settings: EvalSettings,
                      metrics_path: str = "") -> EvalResult:
    """COCO metrics of an exported model (a SavedModel, a .tflite: any callable from a batch of
    uint8 images to Detections) on the eval TFRecords, recorded like a checkpoint's, with AP and
    AP50 per class (logged, in metrics.json and drawn in per_class_ap.png beside it)."""
    result = evaluate(detect, dataclasses.replace(settings, per_category=True), labels_of(prepared))
    metrics_path = metrics_path or os.path.join(output_dir, METRICS_JSON)
    write_metrics_json(result, metrics_path, model=source)
    write_summaries(result, output_dir, 0)
    logging.info("COCO metrics of %s on %d images: %s", source, result.num_images, format_metrics(result.metrics))
    accuracy = Accuracy.from_metrics(result.metrics)
    for name in accuracy.measured_classes():
        logging.info("  %s: AP %.3f, AP50 %.3f", name, accuracy.per_class_ap[name], accuracy.per_class_ap50[name])
    chart = write_per_class_chart({os.path.basename(source.rstrip("/")) or source: accuracy},
                                  os.path.join(os.path.dirname(metrics_path), PER_CLASS_CHART),
                                  f"Per-class AP50 on {result.num_images} eval images")
    logging.info("per-class AP50 drawn in %s", chart)
    return result


def eval_settings(prepared: Prepared, *, render_dir: str = "", num_render: int | None = None,
                  min_score: float | None = None, sample_1_of_n: int | None = None) -> EvalSettings:
    """eval_config's settings with the command line's changes."""
    settings = EvalSettings.from_pipeline(prepared.pipeline)
    changes: dict = {}
    if render_dir:
        changes.update(render_dir=render_dir,
                       num_render=settings.num_render or prepared.config.eval_config.num_visualizations)
    if num_render is not None:
        changes["num_render"] = num_render
    if min_score is not None:
        changes["render"] = dataclasses.replace(settings.render, min_score=min_score)
    if sample_1_of_n is not None:
        changes["sample_1_of_n"] = sample_1_of_n
    return dataclasses.replace(settings, **changes)


def run(prepared: Prepared, *, checkpoint: str, model: Callable | None, source: str, output_dir: str,
        metrics_path: str, settings: EvalSettings) -> EvalResult:
    """What `od_tools.eval` does once its flags are read: a checkpoint through the OD API's eval
    loop, or a loaded model (`model`, read from `source`) over the eval TFRecords."""
    if checkpoint:
        prefix = checkpoints.resolve(checkpoint, "--checkpoint_dir").prefix
        return record_checkpoint_eval(prepared, prefix, output_dir, settings, metrics_path)
    if model is None:
        raise UserError("nothing to evaluate: give a checkpoint or a model")
    return record_model_eval(prepared, model, source, output_dir, settings, metrics_path)

"""Evaluation of any detector over the eval TFRecords: an exported SavedModel, a TFLite model, a
checkpoint through the OD API's inference module. Scores come from the OD API's COCO evaluator;
results go to `metrics.json`, TensorBoard (`<dir>/eval`) and optional PNGs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from typing import Callable, Sequence

import numpy as np

from od_tools.common.files import write_text_atomic
from od_tools.common.progress import Progress
from od_tools.config import Pipeline
from od_tools.evaluation.coco import MASK_METRIC_NAMES, METRIC_NAMES, PER_CATEGORY_PREFIX, coco_metrics, mask_metrics
from od_tools.evaluation.examples import Example, read_examples, same_size_batches
from od_tools.evaluation.render import RenderOptions, draw_detections
from od_tools.modeling import Detections


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    input_paths: Sequence[str]
    batch_size: int = 1
    num_examples: int = 0  # 0: all
    sample_1_of_n: int = 1
    per_category: bool = False
    # eval_input_reader.mask_type when it loads instance masks (mask AP is measured too), else None
    mask_type: int | None = None
    num_render: int = 0
    render_dir: str = ""
    render: RenderOptions = RenderOptions()

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline, **changes) -> "EvalSettings":
        """Settings from eval_config and eval_input_reader, as the OD API reads them."""
        ev = pipeline.config.eval_config
        settings = cls(
            input_paths=pipeline.eval_input_paths,
            batch_size=max(1, ev.batch_size),
            num_examples=ev.num_examples if ev.HasField("num_examples") else 0,
            sample_1_of_n=max(1, pipeline.eval_input_reader.sample_1_of_n_examples),
            per_category=ev.include_metrics_per_category,
            mask_type=(pipeline.eval_input_reader.mask_type if pipeline.eval_input_reader.load_instance_masks
                       else None),
            num_render=ev.num_visualizations if ev.visualization_export_dir else 0,
            render_dir=pipeline.resolve(ev.visualization_export_dir),
            render=RenderOptions(min_score=ev.min_score_threshold, max_boxes=ev.max_num_boxes_to_visualize,
                                 show_scores=not ev.skip_scores, show_labels=not ev.skip_labels,
                                 groundtruth=ev.visualize_groundtruth_boxes,
                                 groundtruth_color=ev.groundtruth_box_visualization_color))
        return dataclasses.replace(settings, **changes)


@dataclasses.dataclass
class EvalResult:
    metrics: dict
    num_images: int
    seconds: float
    rendered: list[str]
    images: list[np.ndarray]  # the rendered images, for TensorBoard


def _png_name(index: int, source_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", source_id)[:80].strip("._") or "image"
    return f"{index:05d}_{safe}.png"


def _render(example: Example, found: Detections, labels: dict[int, str], settings: EvalSettings,
            rendered: list[str]) -> np.ndarray:
    """Draws the detections on the example; saves a PNG when settings name a folder."""
    from PIL import Image

    drawn = draw_detections(example.image, found, labels, settings.render, example.groundtruth)
    if settings.render_dir:
        os.makedirs(settings.render_dir, exist_ok=True)
        path = os.path.join(settings.render_dir, _png_name(example.index, example.source_id))
        with _atomic_png(path) as tmp:
            Image.fromarray(drawn).save(tmp, format="PNG")
        rendered.append(path)
    return drawn


def evaluate(detect: Callable, settings: EvalSettings, labels: dict[int, str]) -> EvalResult:
    """Runs `detect` (batch of uint8 images -> Detections per image) and scores it."""
    began = time.monotonic()
    groundtruth, detections, rendered, images = [], [], [], []
    examples = read_examples(settings.input_paths, num_examples=settings.num_examples,
                             sample_1_of_n=settings.sample_1_of_n, mask_type=settings.mask_type)
    with Progress("eval", total=settings.num_examples or None, unit="images") as progress:
        for batch in same_size_batches(examples, settings.batch_size):
            outputs = detect(np.stack([e.image for e in batch]))
            for example, found in zip(batch, outputs):
                groundtruth.append(example.groundtruth)
                detections.append(found)
                if len(images) < settings.num_render:
                    images.append(_render(example, found, labels, settings, rendered))
            progress.update(len(batch))
    if not groundtruth:
        raise ValueError(f"no evaluation examples in {list(settings.input_paths)}")
    metrics = coco_metrics(groundtruth, detections, labels, per_category=settings.per_category)
    if settings.mask_type is not None and any(found.masks is not None for found in detections):
        metrics |= mask_metrics(groundtruth, detections, labels)
    return EvalResult(metrics, len(groundtruth), time.monotonic() - began, rendered, images)


def render_examples(detect: Callable, settings: EvalSettings, labels: dict[int, str]) -> list[str]:
    """PNGs of the detections on the first `settings.num_render` eval images (no scoring)."""
    rendered: list[str] = []
    examples = read_examples(settings.input_paths, num_examples=settings.num_render,
                             sample_1_of_n=settings.sample_1_of_n)
    for example in examples:
        _render(example, detect(example.image[np.newaxis])[0], labels, settings, rendered)
    return rendered


def _atomic_png(path: str):
    from od_tools.common.files import atomic_path

    return atomic_path(path, suffix=".png")


def write_metrics_json(result: EvalResult, path: str, **context) -> None:
    """metrics.json: the COCO metrics plus what was evaluated (checkpoint, step, images)."""
    record = {**result.metrics, "num_images": result.num_images, **context}
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    write_text_atomic(path, text)


def write_summaries(result: EvalResult, logdir: str, step: int) -> None:
    """COCO metrics (and rendered detections) as TensorBoard summaries at `step`."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default(step=step):
        for od_api_name, name in (METRIC_NAMES | MASK_METRIC_NAMES).items():  # the names the OD API writes
            if name in result.metrics:
                tf.summary.scalar(od_api_name, result.metrics[name])
        for name, value in result.metrics.get("per_category_AP", {}).items():
            tf.summary.scalar(PER_CATEGORY_PREFIX + name, value)
        if result.images:
            shapes = {image.shape for image in result.images}
            if len(shapes) == 1:
                tf.summary.image("detections", np.stack(result.images), max_outputs=len(result.images))
            else:
                for i, image in enumerate(result.images):
                    tf.summary.image(f"detections/{i}", image[None], max_outputs=1)
    writer.flush()


def format_metrics(metrics: dict) -> str:
    """`AP 0.742 | AP50 0.981 | ...` for the log."""
    return " | ".join(f"{name} {value:.3f}" for name, value in metrics.items() if isinstance(value, float))

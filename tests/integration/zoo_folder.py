"""Model-zoo downloads made with the engine: a folder in the zoo's layout (checkpoint/ckpt-0,
pipeline.config, saved_model/), written by the OD API's own exporter from a freshly built
detector, as the tests' stand-in for a download (nothing is fetched)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

import tensorflow as tf

from od_tools.config import load_pipeline, write_pipeline_config
from od_tools.export.tflite_graph import export_inference_graph
from od_tools.modeling import build_model


def _input_side(config) -> tuple[int, int]:
    resizer = getattr(config.model, config.model.WhichOneof("model")).image_resizer
    if resizer.WhichOneof("image_resizer_oneof") == "keep_aspect_ratio_resizer":
        side = resizer.keep_aspect_ratio_resizer.max_dimension
        return side, side
    return resizer.fixed_shape_resizer.height, resizer.fixed_shape_resizer.width


def write_zoo_folder(config_path: str, overrides: Sequence[str], folder: Path, saved_model: bool = True) -> Path:
    """Builds the config's detector (its own num_classes, untrained weights) and exports it to
    `folder`; without `saved_model`, only what fine-tuning reads (checkpoint/ckpt-0, pipeline.config)."""
    config = load_pipeline(config_path, ["train_config.fine_tune_checkpoint=", *overrides]).config
    model = build_model(config)
    height, width = _input_side(config)
    images, shapes = model.preprocess(tf.zeros([1, height, width, 3]))
    model.predict(images, shapes)
    if not saved_model:
        (folder / "checkpoint").mkdir(parents=True, exist_ok=True)
        checkpoint = tf.train.Checkpoint(model=model)
        checkpoint.save_counter  # created, as every saved checkpoint (the zoo's ckpt-0 too) holds it
        checkpoint.write(str(folder / "checkpoint" / "ckpt-0"))
        (folder / "checkpoint" / "checkpoint").write_text('model_checkpoint_path: "ckpt-0"\n', encoding="utf-8")
        write_pipeline_config(config, str(folder / "pipeline.config"))
        return folder
    with tempfile.TemporaryDirectory(prefix="zoo_src_") as scratch:
        prefix = tf.train.Checkpoint(model=model).save(str(Path(scratch) / "ckpt"))
        export_inference_graph(config, prefix, str(folder))
    return folder

"""Model-zoo downloads made with the engine: a folder in the zoo's layout (checkpoint/ckpt-0,
pipeline.config, saved_model/), written by the OD API's own exporter from a freshly built
detector, as the tests' stand-in for a download (nothing is fetched)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

import tensorflow as tf

from od_tools.config import load_pipeline
from od_tools.export.tflite_graph import export_inference_graph
from od_tools.modeling import build_model


def write_zoo_folder(config_path: str, overrides: Sequence[str], folder: Path) -> Path:
    """Builds the config's detector (its own num_classes, untrained weights) and exports it to `folder`."""
    config = load_pipeline(config_path, ["train_config.fine_tune_checkpoint=", *overrides]).config
    model = build_model(config)
    resizer = config.model.WhichOneof("model")
    size = getattr(config.model, resizer).image_resizer.fixed_shape_resizer
    images, shapes = model.preprocess(tf.zeros([1, size.height, size.width, 3]))
    model.predict(images, shapes)
    with tempfile.TemporaryDirectory(prefix="zoo_src_") as scratch:
        prefix = tf.train.Checkpoint(model=model).save(str(Path(scratch) / "ckpt"))
        export_inference_graph(config, prefix, str(folder))
    return folder

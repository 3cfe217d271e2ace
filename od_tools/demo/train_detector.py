"""Trains and evaluates the demo detector into one folder: the //od_tools/demo:detector action.

    bazel build //od_tools/demo:detector     # cached; about 6 minutes on 2 cores

The folder is a model_main_tf2 model_dir: the final checkpoint (`ckpt-N.*`, `checkpoint`) and the
`pipeline.config` it was trained with (num_classes filled in, data paths relative to this
folder), plus `label_map.pbtxt`, `metrics.json` (the OD API's COCO metrics on the demo val set)
and `detections/*.png`. Training is seeded and runs with --deterministic's settings, so two builds
on one machine train the same weights (the fingerprint in metrics.json; see the README).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Sequence

from absl import flags

from od_tools.common import cli
from od_tools.common.errors import UserError
from od_tools.common.files import atomic_dir, write_text_atomic

FLAGS = flags.FLAGS

flags.DEFINE_string("pipeline_config_path", None, "The demo pipeline.config.", required=True)
flags.DEFINE_string("dataset_dir", None, "The demo dataset folder (//od_tools/demo:dataset).", required=True)
flags.DEFINE_string("output_dir", None, "The detector folder to create.", required=True)
flags.DEFINE_integer("seed", 0, "Seed of weights, shuffling and augmentation.")
flags.DEFINE_integer("num_render", 8, "Validation images to draw detections on.")

TRAIN_GLOB = "train.tfrecord-?????-of-?????"
VAL_GLOB = "val.tfrecord-?????-of-?????"


def data_overrides(dataset_dir: str) -> list[str]:
    return [f"train_input_reader.label_map_path={dataset_dir}/label_map.pbtxt",
            f"train_input_reader.tf_record_input_reader.input_path={dataset_dir}/{TRAIN_GLOB}",
            f"eval_input_reader.label_map_path={dataset_dir}/label_map.pbtxt",
            f"eval_input_reader.tf_record_input_reader.input_path={dataset_dir}/{VAL_GLOB}"]


def portable_config(config, dataset_dir: str, output_dir: str):
    """The trained-with config, its paths relative to the detector folder (which travels)."""
    relative = os.path.relpath(os.path.abspath(dataset_dir), os.path.abspath(output_dir))
    result = type(config)()
    result.CopyFrom(config)
    for reader in (result.train_input_reader, *result.eval_input_reader):
        reader.label_map_path = "label_map.pbtxt"
    result.train_input_reader.tf_record_input_reader.input_path[:] = [f"{relative}/{TRAIN_GLOB}"]
    for reader in result.eval_input_reader:
        reader.tf_record_input_reader.input_path[:] = [f"{relative}/{VAL_GLOB}"]
    result.eval_config.ClearField("visualization_export_dir")  # the build's own scratch folder
    return result


def main(argv: Sequence[str]) -> None:
    del argv
    dataset_dir = cli.workspace_path(FLAGS.dataset_dir)
    output_dir = cli.workspace_path(FLAGS.output_dir)
    if not os.path.exists(os.path.join(dataset_dir, "label_map.pbtxt")):
        raise UserError(f"--dataset_dir {dataset_dir}: no label_map.pbtxt; build //od_tools/demo:dataset first")
    from od_tools.config import format_pipeline
    from od_tools.training.launch import launch
    from od_tools.training.settings import TrainSettings

    with tempfile.TemporaryDirectory(prefix="demo_detector_") as scratch, atomic_dir(output_dir) as folder:
        overrides = data_overrides(dataset_dir) + [
            f"eval_config.visualization_export_dir={folder}/detections",
            f"eval_config.num_visualizations={FLAGS.num_render}"]
        model_dir = os.path.join(scratch, "model")
        launched = launch(TrainSettings(
            pipeline_config_path=cli.workspace_path(FLAGS.pipeline_config_path), model_dir=model_dir,
            overrides=overrides, checkpoint_every_n=10 ** 9, max_to_keep=1, seed=FLAGS.seed, deterministic=True,
            strict=True))
        result = launched.training
        name = os.path.basename(result.checkpoint)
        for suffix in (".index", ".data-00000-of-00001"):
            shutil.copy(os.path.join(model_dir, name + suffix), os.path.join(folder, name + suffix))
        write_text_atomic(os.path.join(folder, "checkpoint"),
                          f'model_checkpoint_path: "{name}"\nall_model_checkpoint_paths: "{name}"\n')
        shutil.copy(os.path.join(dataset_dir, "label_map.pbtxt"), os.path.join(folder, "label_map.pbtxt"))

        from od_tools.config import read_pipeline_config

        used = read_pipeline_config(os.path.join(model_dir, "pipeline.config"))
        write_text_atomic(os.path.join(folder, "pipeline.config"),
                          format_pipeline(portable_config(used, dataset_dir, output_dir)))
        # No timings here: the same inputs give a byte-identical folder.
        metrics = {**launched.eval_metrics, "checkpoint": name, "step": result.final_step,
                   "variables_fingerprint": result.fingerprint, "dataset": "//od_tools/demo:dataset (val)"}
        write_text_atomic(os.path.join(folder, "metrics.json"), json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    print(f"demo detector: {output_dir} (AP {metrics['AP']:.3f}, AP50 {metrics['AP50']:.3f}, "
          f"{result.final_step} steps in {result.seconds / 60:.1f} min)")


if __name__ == "__main__":
    cli.run(main)

"""Training a tiny detector in-process with the OD API's TF2 loop: the loss falls, checkpoints and
summaries are the OD API's, runs are reproducible, evaluation and fine-tuning work on what
training wrote, and a model_dir of another model is refused untouched."""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from od_tools.common.errors import UserError
from od_tools.config import checkpoints
from od_tools.config.checkpoints import read_step
from od_tools.modeling import Detector
from od_tools.training.launch import launch
from od_tools.training.settings import SETTINGS_FILE, TrainSettings
from od_tools.training.trainer import DETERMINISTIC_THREADS

from shapes_records import write_shapes  # beside this file

# Deterministic training pins TensorFlow's thread pools, which can only be sized before its
# runtime starts: here, before the fixtures write TFRecords.
tf.config.threading.set_inter_op_parallelism_threads(DETERMINISTIC_THREADS)
tf.config.threading.set_intra_op_parallelism_threads(DETERMINISTIC_THREADS)

TINY = os.path.join(os.path.dirname(__file__), "..", "testdata", "tiny_pipeline.config")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = write_shapes(str(tmp_path_factory.mktemp("shapes")))
    shutil.copy(TINY, os.path.join(folder, "pipeline.config"))
    return folder


def run(data_dir: str, model_dir: str, *overrides: str, seed: int = 7, **options):
    settings = dict(pipeline_config_path=os.path.join(data_dir, "pipeline.config"), model_dir=model_dir,
                    overrides=overrides, checkpoint_every_n=10, seed=seed, deterministic=True)
    settings.update(options)
    return launch(TrainSettings(**settings))


def scalars(folder: str, tag: str) -> list[tuple[int, float]]:
    values = []
    for event_file in sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(event_file):
            for value in event.summary.value:
                if value.tag == tag:
                    values.append((event.step, float(tf.make_ndarray(value.tensor))))
    return sorted(values)


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    """30 steps, a checkpoint every 10, evaluation at the end with 3 pictures."""
    model_dir = str(tmp_path_factory.mktemp("run"))
    result = run(data_dir, model_dir, "eval_config.visualization_export_dir=" + os.path.join(model_dir, "png"),
                 "eval_config.num_visualizations=3")
    return result, model_dir


def test_a_few_steps_lower_the_loss(trained):
    _, model_dir = trained
    losses = scalars(os.path.join(model_dir, "train"), "Loss/total_loss")
    assert [step for step, _ in losses][-1] == 30
    values = [value for _, value in losses]
    assert np.mean(values[-3:]) < 0.85 * np.mean(values[:3]), values


def test_training_writes_the_od_api_checkpoints_summaries_and_its_config(trained, data_dir):
    result, model_dir = trained
    assert (result.training.start_step, result.training.final_step) == (0, 30)
    # The OD API numbers checkpoints by save: step 0, then every 10 steps.
    assert result.training.checkpoint == os.path.join(model_dir, "ckpt-4")
    assert [read_step(os.path.join(model_dir, f"ckpt-{n}")) for n in range(1, 5)] == [0, 10, 20, 30]
    # The config the run used, readable by the OD API's own tools: classes from the label map (the
    # file says 0), paths absolute.
    from object_detection.utils import config_util

    configs = config_util.get_configs_from_pipeline_file(os.path.join(model_dir, "pipeline.config"))
    assert configs["model"].ssd.num_classes == 2
    assert os.path.isabs(configs["train_input_config"].label_map_path)
    # Beside it, the settings the run was given, as one object (flags and defaults alike).
    with open(os.path.join(model_dir, SETTINGS_FILE)) as f:
        written = TrainSettings(**json.load(f))
    assert dataclasses.replace(written, overrides=tuple(written.overrides)) == TrainSettings(
        pipeline_config_path=os.path.join(data_dir, "pipeline.config"), model_dir=model_dir,
        overrides=("eval_config.visualization_export_dir=" + os.path.join(model_dir, "png"),
                   "eval_config.num_visualizations=3"), checkpoint_every_n=10, seed=7, deterministic=True)
    tags = set()
    for event_file in glob.glob(os.path.join(model_dir, "train", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(event_file):
            tags.update(value.tag for value in event.summary.value)
    assert {"Loss/total_loss", "Loss/classification_loss", "Loss/localization_loss", "learning_rate",
            "steps_per_sec", "train_input_images"} <= tags


def test_evaluation_at_the_end_records_the_od_api_metrics_and_pictures(trained):
    result, model_dir = trained
    with open(os.path.join(model_dir, "eval", "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["step"] == 30 and metrics["num_images"] == 8
    assert metrics["checkpoint"] == os.path.join(model_dir, "ckpt-4")
    assert metrics["AP50"] == metrics["od_api_metrics"]["DetectionBoxes_Precision/mAP@.50IOU"]
    assert result.eval_metrics["AP"] == metrics["AP"]
    assert len(glob.glob(os.path.join(model_dir, "png", "*.png"))) == 3
    assert scalars(os.path.join(model_dir, "eval"), "DetectionBoxes_Precision/mAP")[0][0] == 30


def test_the_same_seed_trains_the_same_weights(data_dir, trained, tmp_path):
    result, _ = trained
    again = run(data_dir, str(tmp_path / "again"), eval_on_end=False)
    assert again.training.fingerprint == result.training.fingerprint
    other = run(data_dir, str(tmp_path / "seed8"), seed=8, eval_on_end=False)
    assert other.training.fingerprint != result.training.fingerprint


def test_a_checkpoint_serves_detections_through_the_od_api_module(data_dir, trained):
    from od_tools.config import read_pipeline_config

    _, model_dir = trained
    config = read_pipeline_config(os.path.join(model_dir, "pipeline.config"))
    prefix = checkpoints.resolve(model_dir, "model_dir").prefix
    detections = Detector.from_checkpoint(config, prefix).detect(np.zeros((64, 64, 3), np.uint8))
    assert detections.boxes.shape[1:] == (4,) and len(detections.scores) <= 10
    assert set(detections.classes.tolist()) <= {1, 2}


def read_variables(prefix: str, root: str) -> dict[str, np.ndarray]:
    """The variables under `root` (optimizer slots left out), keyed by the path below it."""
    reader = tf.train.load_checkpoint(prefix)
    return {name[len(root):]: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name.startswith(root) and "OPTIMIZER_SLOT" not in name}


def write_classification_checkpoint(model_dir: str, out: str) -> str:
    """The trained backbone alone, in the layout of a classification checkpoint (feature_extractor/...)."""
    from od_tools.config import read_pipeline_config
    from od_tools.modeling import load_model

    config = read_pipeline_config(os.path.join(model_dir, "pipeline.config"))
    model = load_model(config, checkpoints.resolve(model_dir, "model_dir").prefix)
    return tf.train.Checkpoint(feature_extractor=model._feature_extractor.classification_backbone).save(out)


def one_class_labels(folder) -> str:
    path = str(folder / "one_class.pbtxt")
    with open(path, "w") as f:
        f.write("item { id: 1 name: 'circle' }\n")
    return path


def fine_tune(data_dir: str, out: str, checkpoint: str, kind: str, labels: str):
    return run(data_dir, out, f"train_config.fine_tune_checkpoint={checkpoint}",
               f"train_config.fine_tune_checkpoint_type={kind}", "train_config.num_steps=2", "model.ssd.num_classes=0",
               f"train_input_reader.label_map_path={labels}", f"eval_input_reader.label_map_path={labels}",
               eval_on_end=False)


BACKBONE = "model/_feature_extractor/classification_backbone/"


@pytest.mark.parametrize("kind", ["detection", "classification"])
def test_fine_tuning_restores_what_its_type_says(data_dir, trained, tmp_path, kind):
    """One class instead of two: 'detection' restores the whole feature extractor from a detection
    checkpoint, 'classification' the backbone from a classification one; the class head is new."""
    _, model_dir = trained
    trained_prefix = os.path.join(model_dir, "ckpt-4")
    source, root = trained_prefix, "model/_feature_extractor/"
    if kind == "classification":
        source, root = write_classification_checkpoint(model_dir, str(tmp_path / "backbone" / "ckpt")), BACKBONE
    out = str(tmp_path / kind)
    fine_tune(data_dir, out, source, kind, one_class_labels(tmp_path))
    expected = read_variables(source, "feature_extractor/" if kind == "classification" else root)
    start = read_variables(os.path.join(out, "ckpt-1"), root)  # saved at step 0, right after restoring
    assert expected and expected.keys() == start.keys()
    for name in expected:
        np.testing.assert_array_equal(start[name], expected[name], err_msg=name)
    head = read_variables(os.path.join(out, "ckpt-1"), "model/_box_predictor/")
    trained_head = read_variables(trained_prefix, "model/_box_predictor/")
    assert any(not np.array_equal(head[n], trained_head[n]) for n in head if n in trained_head
               and head[n].shape == trained_head[n].shape)


def test_a_detection_checkpoint_given_as_classification_is_caught(data_dir, trained, tmp_path):
    """The zoo's TF2 configs say 'classification'; pointed at a detection checkpoint, the OD API
    would fail deep in restoring with 'Found 135 Python objects that were not bound'."""
    from od_tools.config import PreflightError

    _, model_dir = trained
    with pytest.raises(PreflightError) as error:
        fine_tune(data_dir, str(tmp_path / "out"), model_dir, "classification", one_class_labels(tmp_path))
    assert error.value.problems == [
        f"train_config.fine_tune_checkpoint_type: 'classification' restores feature_extractor/... variables, but "
        f"'{model_dir}/ckpt-4' is a detection checkpoint; set train_config.fine_tune_checkpoint_type: \"detection\""]


def test_a_model_dir_of_another_model_is_refused_untouched(data_dir, trained):
    _, model_dir = trained
    before = {name: os.path.getmtime(os.path.join(model_dir, name)) for name in os.listdir(model_dir)}
    with pytest.raises(UserError) as error:
        run(data_dir, model_dir, "model.ssd.feature_extractor.fpn.additional_layer_depth=24")
    assert str(error.value).startswith(f"--model_dir {model_dir}: holds ckpt-4 of another model")
    assert {name: os.path.getmtime(os.path.join(model_dir, name)) for name in os.listdir(model_dir)} == before

"""Training a tiny detector in-process: the loss falls, runs are reproducible, evaluation and
fine-tuning work on what training wrote."""

from __future__ import annotations

import glob
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from od_tools.common.errors import UserError
from od_tools.config import Checks, Purpose, prepare
from od_tools.modeling import build_model, restore_fine_tune, restore_model, variables_fingerprint
from od_tools.training import TrainOptions, set_determinism, train
from od_tools.training.launch import end_of_training_eval

from shapes_records import write_shapes  # beside this file

TINY = os.path.join(os.path.dirname(__file__), "..", "testdata", "tiny_pipeline.config")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = write_shapes(str(tmp_path_factory.mktemp("shapes")))
    shutil.copy(TINY, os.path.join(folder, "pipeline.config"))
    return folder


def tiny(data_dir: str, *overrides: str, seed: int = 7):
    return prepare(os.path.join(data_dir, "pipeline.config"), list(overrides), checks=Checks(Purpose.TRAIN),
                   seed=seed, deterministic=True)


def run(prepared, model_dir: str, **options):
    set_determinism(7, True)
    settings = dict(model_dir=model_dir, checkpoint_every_n=10, summary_every_n=1, seed=7, deterministic=True)
    settings.update(options)
    return train(prepared, TrainOptions(**settings), tf.distribute.get_strategy(),
                 evaluate=end_of_training_eval(prepared, model_dir))


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    """30 steps, a checkpoint every 10, evaluation at the end."""
    model_dir = str(tmp_path_factory.mktemp("run"))
    overrides = ("eval_config.visualization_export_dir=" + os.path.join(model_dir, "png"),
                 "eval_config.num_visualizations=3")
    return run(tiny(data_dir, *overrides), model_dir), model_dir


def test_a_few_steps_lower_the_loss(trained):
    result, _ = trained
    losses = [record["total_loss"] for _, record in result.losses]
    assert [step for step, _ in result.losses] == list(range(1, 31))
    assert np.mean(losses[-5:]) < 0.85 * np.mean(losses[:5]), losses


def test_training_writes_checkpoints_summaries_and_its_config(trained):
    result, model_dir = trained
    assert result.final_step == 30 and result.start_step == 0
    assert tf.train.latest_checkpoint(model_dir) == os.path.join(model_dir, "ckpt-30")
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(model_dir, "ckpt-*.index"))) == [
        "ckpt-10.index", "ckpt-20.index", "ckpt-30.index"]
    for name in ("pipeline.config", "params.yaml"):
        assert os.path.exists(os.path.join(model_dir, name))
    tags = set()
    for event_file in glob.glob(os.path.join(model_dir, "train", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(event_file):
            tags.update(value.tag for value in event.summary.value)
    assert {"loss/total_loss", "loss/cls_loss", "loss/box_loss", "learning_rate", "steps_per_sec"} <= tags


def test_evaluation_at_the_end_records_coco_metrics_and_pictures(trained):
    result, model_dir = trained
    with open(os.path.join(model_dir, "eval", "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["step"] == 30 and metrics["num_images"] == 8
    for name in ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR@100"):
        assert -1.0 <= metrics[name] <= 1.0
    assert result.eval_metrics["AP"] == metrics["AP"]
    assert len(glob.glob(os.path.join(model_dir, "png", "*.png"))) == 3
    assert glob.glob(os.path.join(model_dir, "eval", "events.out.tfevents.*"))


def test_the_same_seed_trains_the_same_weights(data_dir, trained, tmp_path):
    result, _ = trained
    again = run(tiny(data_dir), str(tmp_path), eval_on_end=False)
    assert again.fingerprint == result.fingerprint
    other = run(tiny(data_dir, seed=8), str(tmp_path / "seed8"), eval_on_end=False)
    assert other.fingerprint != result.fingerprint


def test_a_checkpoint_restores_for_inference_and_fine_tuning(data_dir, trained):
    result, model_dir = trained
    prepared = tiny(data_dir)
    model = build_model(prepared.experiment)
    assert restore_model(model, model_dir).endswith("ckpt-30")
    assert variables_fingerprint(model.variables) == result.fingerprint

    # Fine-tuning on one class: the 2-class head does not fit and is skipped.
    one_class = tiny(data_dir, "model.ssd.num_classes=1", "train_input_reader.label_map_path=",
                     "eval_input_reader.label_map_path=")
    fresh = build_model(one_class.experiment)
    restored = restore_fine_tune(fresh, model_dir, "all")
    assert restored.startswith("backbone + decoder from") and restored.endswith("ckpt-30")
    for mine, theirs in zip(fresh.backbone.variables, model.backbone.variables):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    assert restore_fine_tune(build_model(prepared.experiment), model_dir, "all").startswith(
        "backbone + decoder + head")


def test_a_model_dir_of_another_model_is_refused(data_dir, trained):
    _, model_dir = trained
    with open(os.path.join(model_dir, "pipeline.config")) as f:
        before = f.read()
    wider = tiny(data_dir, "model.ssd.feature_extractor.fpn.additional_layer_depth=24")
    with pytest.raises(UserError) as error:
        run(wider, model_dir)
    assert "ckpt-30 does not fit the model this pipeline config describes" in str(error.value)
    with open(os.path.join(model_dir, "pipeline.config")) as f:
        assert f.read() == before


def test_training_fine_tunes_from_a_checkpoint(data_dir, trained, tmp_path):
    _, model_dir = trained
    prepared = tiny(data_dir, f"train_config.fine_tune_checkpoint={model_dir}",
                    "train_config.fine_tune_checkpoint_type=classification", "train_config.num_steps=2")
    result = run(prepared, str(tmp_path), eval_on_end=False)
    assert result.fine_tuned == f"backbone from {os.path.join(model_dir, 'ckpt-30')}"
    assert result.final_step == 2

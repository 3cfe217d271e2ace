"""The demo detector (//od_tools/demo:detector): an OD API model_dir, restorable by the OD API's
own evaluation, and as good as it says."""

from __future__ import annotations

import json
import os

import pytest

from od_tools.config import Checks, Purpose, checkpoints, prepare
from od_tools.evaluation.checkpoint import evaluate_checkpoint
from od_tools.evaluation.coco import short_metrics
from od_tools.config.checkpoints import checkpoint_fingerprint, read_step

RUNFILES = os.path.join(os.environ.get("TEST_SRCDIR", ""), os.environ.get("TEST_WORKSPACE", "od_toolchain"))
DETECTOR = os.path.join(RUNFILES, "od_tools", "demo", "detector")


@pytest.fixture(scope="module")
def num_steps() -> int:
    """The steps the demo's pipeline.config trains (train_config.num_steps)."""
    from object_detection.utils import config_util

    return config_util.get_configs_from_pipeline_file(os.path.join(DETECTOR, "pipeline.config"))["train_config"].num_steps


@pytest.fixture(scope="module")
def metrics() -> dict:
    with open(os.path.join(DETECTOR, "metrics.json")) as f:
        return json.load(f)


def test_the_folder_holds_what_export_needs():
    names = set(os.listdir(DETECTOR))
    assert {"checkpoint", "pipeline.config", "label_map.pbtxt", "metrics.json"} <= names
    assert {"ckpt-2.index", "ckpt-2.data-00000-of-00001"} <= names  # the OD API's: saved at step 0, then at the end
    assert len(os.listdir(os.path.join(DETECTOR, "detections"))) == 8
    with open(os.path.join(DETECTOR, "pipeline.config")) as f:
        text = f.read()
    # It travels with the folder: data paths are relative, no trace of the build's scratch space.
    assert 'label_map_path: "label_map.pbtxt"' in text and "../dataset/val.tfrecord-" in text
    assert "bazel-out" not in text and "/tmp" not in text and "visualization_export_dir" not in text


def test_the_demo_detector_reaches_ap50_095(metrics, num_steps):
    assert metrics["AP50"] >= 0.95, metrics
    assert metrics["step"] == num_steps > 0


def test_its_checkpoint_and_config_reproduce_the_metrics(metrics, num_steps, tmp_path):
    """The OD API's own config reader and eval loop, on what the folder holds."""
    from object_detection.utils import config_util

    configs = config_util.get_configs_from_pipeline_file(os.path.join(DETECTOR, "pipeline.config"))
    assert configs["model"].ssd.feature_extractor.type == "ssd_mobilenet_v2_fpn_keras"
    prepared = prepare(os.path.join(DETECTOR, "pipeline.config"), checks=Checks(Purpose.EVAL), strict=True)
    prefix = checkpoints.resolve(DETECTOR, "detector").prefix
    assert read_step(prefix) == num_steps
    assert checkpoint_fingerprint(prefix) == metrics["variables_fingerprint"]
    result = evaluate_checkpoint(prepared.config, prefix, str(tmp_path / "eval"))
    assert result.num_images == 100 and result.step == num_steps
    again = short_metrics(result.metrics)
    assert again["AP"] == pytest.approx(metrics["AP"], abs=1e-6)
    assert again["AP50"] == pytest.approx(metrics["AP50"], abs=1e-6)

"""The demo detector (//od_tools/demo:detector): complete, restorable, and as good as it says."""

from __future__ import annotations

import json
import os

import pytest

from od_tools.config import Checks, Purpose, prepare
from od_tools.evaluation import EvalSettings, evaluate
from od_tools.modeling import Detector, build_model, restore_model, variables_fingerprint

RUNFILES = os.path.join(os.environ.get("TEST_SRCDIR", ""), os.environ.get("TEST_WORKSPACE", "od_toolchain"))
DETECTOR = os.path.join(RUNFILES, "od_tools", "demo", "detector")


@pytest.fixture(scope="module")
def metrics() -> dict:
    with open(os.path.join(DETECTOR, "metrics.json")) as f:
        return json.load(f)


def test_the_folder_holds_what_export_needs():
    names = set(os.listdir(DETECTOR))
    assert {"checkpoint", "pipeline.config", "params.yaml", "label_map.pbtxt", "metrics.json"} <= names
    assert {"ckpt-600.index", "ckpt-600.data-00000-of-00001"} <= names
    assert len(os.listdir(os.path.join(DETECTOR, "detections"))) == 8
    with open(os.path.join(DETECTOR, "pipeline.config")) as f:
        text = f.read()
    # It travels with the folder: data paths are relative, no trace of the build's scratch space.
    assert 'label_map_path: "label_map.pbtxt"' in text and "../dataset/val.tfrecord-" in text
    assert "bazel-out" not in text and "/tmp" not in text and "visualization_export_dir" not in text


def test_the_demo_detector_reaches_ap50_090(metrics):
    assert metrics["AP50"] >= 0.90, metrics
    assert metrics["step"] == 600


def test_its_checkpoint_and_config_reproduce_the_metrics(metrics):
    prepared = prepare(os.path.join(DETECTOR, "pipeline.config"), checks=Checks(Purpose.EVAL), strict=True)
    assert prepared.num_classes == 3 and prepared.experiment.task.model.input_size == [256, 256, 3]
    model = build_model(prepared.experiment)
    restore_model(model, DETECTOR)
    assert variables_fingerprint(model.variables) == metrics["variables_fingerprint"]
    settings = EvalSettings.from_pipeline(prepared.pipeline)
    result = evaluate(Detector.from_model(prepared.experiment, model), settings, prepared.label_map.id_to_label())
    assert result.num_images == 100
    assert result.metrics["AP"] == pytest.approx(metrics["AP"], abs=1e-6)
    assert result.metrics["AP50"] == pytest.approx(metrics["AP50"], abs=1e-6)

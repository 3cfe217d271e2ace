"""Faster R-CNN and Mask R-CNN on the real engine, as the walkthroughs run them: the TF2 zoo's
config (made small: 128 px, 16 proposals), fine-tuned from a zoo-layout checkpoint the engine
wrote (the Faster R-CNN run killed after its first checkpoint and resumed), evaluated with the
OD API's COCO box (and mask) evaluators, exported with `export_saved_model` (checked by a reload
in a fresh process), and run by `detect`, masks and all. One Bazel target per family (`-k ID`)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pytest
import tensorflow as tf

from killed_training import kill_after_checkpoint, latest_step, train_command  # beside this file
from shapes_records import write_shapes
from zoo_folder import write_zoo_folder

TESTDATA = Path(__file__).parent.parent / "testdata"
RUNFILES = os.path.join(os.environ.get("TEST_SRCDIR", ""), os.environ.get("TEST_WORKSPACE", "od_toolchain"))
F = "model.faster_rcnn"
NMS = f"{F}.second_stage_post_processing.batch_non_max_suppression"


@dataclasses.dataclass(frozen=True)
class Family:
    config: str
    resizer: str
    masks: bool
    input_type: str  # what export_saved_model is asked for
    killed: bool     # killed after its first checkpoint and resumed (the trainer's, so one family is enough)


FAMILIES = {
    "faster_rcnn": Family("faster_rcnn_resnet50_v1_640x640",
                    "{keep_aspect_ratio_resizer {min_dimension: 128 max_dimension: 128 pad_to_max_dimension: true}}",
                    masks=False, input_type="encoded_image_string_tensor", killed=True),
    "mask_rcnn": Family("mask_rcnn_inception_resnet_v2_1024x1024", "{fixed_shape_resizer {height: 128 width: 128}}",
                   masks=True, input_type="image_tensor", killed=False),
}
SMALL = (f"{F}.first_stage_max_proposals=16", f"{F}.second_stage_batch_size=16", f"{NMS}.max_total_detections=16",
         f"{NMS}.max_detections_per_class=16", "train_config.batch_size=2")


def tool(name: str) -> list[str]:
    return [os.path.join(RUNFILES, "od_tools", name)]


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def run(request, tmp_path_factory):
    """A family fine-tuned from its zoo-layout folder (killed after the first checkpoint and resumed,
    where the family says so) two steps further and evaluated at the end."""
    family = FAMILIES[request.param]
    root = tmp_path_factory.mktemp(request.param)
    data = write_shapes(str(root / "data"), num_train=8, num_val=4, size=128, with_masks=family.masks)
    config = str(TESTDATA / f"{family.config}.config")
    small = [f"{F}.image_resizer={family.resizer}", *SMALL]
    zoo = write_zoo_folder(config, small, root / "zoo", saved_model=False)  # the zoo's 90 classes
    overrides = [f"train_input_reader.label_map_path={data}/label_map.pbtxt",
                 f"train_input_reader.tf_record_input_reader.input_path={data}/train.tfrecord-*",
                 f"eval_input_reader.label_map_path={data}/label_map.pbtxt",
                 f"eval_input_reader.tf_record_input_reader.input_path={data}/val.tfrecord-*",
                 f"train_config.fine_tune_checkpoint={zoo}/checkpoint/ckpt-0",
                 "train_config.fine_tune_checkpoint_type=detection", f"{F}.num_classes=0", *small]
    model_dir = str(root / "model_dir")
    first = train_command(config, model_dir, overrides, "--num_train_steps=100000", "--checkpoint_every_n=1",
                          "--noeval_on_train_end")
    killed_at = kill_after_checkpoint(first, model_dir, 1, root / "first.log", timeout=600) if family.killed else 0
    second = subprocess.run(train_command(config, model_dir, overrides, f"--num_train_steps={killed_at + 2}",
                                          "--checkpoint_every_n=1"), capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    return request.param, family, root, model_dir, killed_at, second.stderr


def test_resumes_after_a_kill_and_fine_tunes_from_the_zoo_folder(run):
    _, family, root, model_dir, killed_at, err = run
    assert (f"resuming from step {killed_at} in {model_dir}" in err) == family.killed
    assert latest_step(model_dir) == killed_at + 2
    with open(os.path.join(model_dir, "pipeline.config")) as f:
        assert f"{root}/zoo/checkpoint/ckpt-0" in f.read()


def test_the_od_api_evaluators_score_boxes_and_masks(run):
    _, family, _, model_dir, killed_at, _ = run
    with open(os.path.join(model_dir, "eval", "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["step"] == killed_at + 2 and metrics["num_images"] == 4
    measured = metrics["od_api_metrics"]
    assert 0.0 <= measured["DetectionBoxes_Precision/mAP"] <= 1.0
    assert ("DetectionMasks_Precision/mAP" in measured) == family.masks
    losses = set(metrics["losses"])
    assert {"Loss/RPNLoss/objectness_loss", "Loss/BoxClassifierLoss/classification_loss"} <= losses
    assert ("Loss/BoxClassifierLoss/mask_loss" in losses) == family.masks


def summary_tags(folder: str) -> set[str]:
    tags = set()
    for event_file in Path(folder).glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            tags.update(value.tag for value in event.summary.value)
    return tags


def test_tensorboard_shows_both_stages_and_the_eval_pictures(run):
    _, family, _, model_dir, _, _ = run
    train = summary_tags(os.path.join(model_dir, "train"))
    stages = {"Loss/RPNLoss/localization_loss", "Loss/RPNLoss/objectness_loss",
              "Loss/BoxClassifierLoss/localization_loss", "Loss/BoxClassifierLoss/classification_loss",
              "Loss/total_loss", "learning_rate", "train_input_images"}
    assert stages <= train and ("Loss/BoxClassifierLoss/mask_loss" in train) == family.masks
    evaluated = summary_tags(os.path.join(model_dir, "eval"))
    assert "DetectionBoxes_Precision/mAP" in evaluated and any(t.startswith("eval_side_by_side_") for t in evaluated)
    assert ("DetectionMasks_Precision/mAP" in evaluated) == family.masks


@pytest.fixture(scope="module")
def exported(run):
    name, family, root, model_dir, _, _ = run
    output = root / "exported"
    result = subprocess.run(tool("export_saved_model") + [f"--trained_checkpoint_dir={model_dir}",
                                                          f"--output_directory={output}",
                                                          f"--input_type={family.input_type}", "--num_check_images=4"],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return output, result


def test_export_saved_model_writes_the_zoo_layout_checked_by_a_reload(run, exported):
    _, family, _, _, _, _ = run
    output, result = exported
    assert {p.name for p in output.iterdir()} == {"saved_model", "checkpoint", "pipeline.config", "serve_check.json"}
    check = json.loads((output / "serve_check.json").read_text())
    assert check["passed"] and check["images"] == 4 and check["input_type"] == family.input_type
    assert check["max_raw_difference"] is not None and check["max_raw_difference"] <= 1e-3
    assert (check["max_mask_difference"] is not None) == (family.masks and check["detections"] > 0)
    assert "reload check: a fresh process serving" in result.stdout
    signature = tf.saved_model.load(str(output / "saved_model")).signatures["serving_default"]
    (spec,) = signature.structured_input_signature[1].values()
    assert spec.dtype == (tf.string if family.input_type == "encoded_image_string_tensor" else tf.uint8)
    assert ("detection_masks" in signature.structured_outputs) == family.masks


def test_detect_runs_the_saved_model_and_writes_masks(run, exported, tmp_path):
    name, family, root, _, _, _ = run
    output, _ = exported  # of its input type: detect gives each picture as the pixels or bytes it takes
    result = subprocess.run(tool("detect") + [f"--model={output}/saved_model", f"--source={root}/data/val.tfrecord-*",
                                              f"--output_dir={tmp_path}/found", "--min_score_threshold=0.0"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    detections = json.loads((tmp_path / "found" / "detections.json").read_text())
    assert len(json.loads((tmp_path / "found" / "images.json").read_text())["images"]) == 4
    if family.masks:  # a 3-step Faster R-CNN may find nothing yet; this Mask R-CNN finds something everywhere
        assert len({d["image_id"] for d in detections}) == 4
    assert all(("segmentation" in d and "counts" in d["segmentation"]) == family.masks for d in detections)
    assert len(list((tmp_path / "found").glob("*.png"))) == 4


def test_eval_scores_the_saved_model_with_mask_ap(run, exported, tmp_path):
    _, family, _, model_dir, _, _ = run
    output, _ = exported
    result = subprocess.run(tool("eval") + [f"--model={output}/saved_model", f"--model_dir={tmp_path}",
                                            f"--pipeline_config_path={model_dir}/pipeline.config"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["num_images"] == 4 and 0.0 <= metrics["AP"] <= 1.0
    assert ("mask_AP" in metrics and 0.0 <= metrics["mask_AP50"] <= 1.0) == family.masks


def test_a_checkpoint_of_another_model_is_refused_and_nothing_written(run, tmp_path):
    name, _, root, model_dir, _, _ = run
    if name != "faster_rcnn":
        pytest.skip("one family is enough: the refusal is the checkpoint loader's, not the family's")
    output = tmp_path / "out"
    result = subprocess.run(tool("export_saved_model") + [f"--trained_checkpoint_dir={model_dir}",
                                                          f"--output_directory={output}",
                                                          f"--override={F}.first_stage_box_predictor_depth=256"],
                            capture_output=True, text=True, timeout=600)
    errors = [line for line in result.stderr.splitlines() if line.startswith("export_saved_model: error:")]
    assert result.returncode == 1 and len(errors) == 1, result.stderr[-3000:]
    assert "does not fit the model this pipeline config describes" in errors[0]
    assert not output.exists() and not list(tmp_path.glob(".out*"))

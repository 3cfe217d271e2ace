"""The command-line tools as users run them: `python -m od_tools.train` killed mid-run and
resumed, `od_tools:eval` on the result, and preflight errors before anything starts."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf

from killed_training import kill_after_checkpoint, latest_step, train_command as od_train_command  # beside this file
from shapes_records import write_shapes

TINY = os.path.join(os.path.dirname(__file__), "..", "testdata", "tiny_pipeline.config")
RUNFILES = os.path.join(os.environ.get("TEST_SRCDIR", ""), os.environ.get("TEST_WORKSPACE", "od_toolchain"))


def tool(name: str) -> list[str]:
    return [os.path.join(RUNFILES, "od_tools", name)]


def train_command(config: str, model_dir: str, *flags: str) -> list[str]:
    return od_train_command(config, model_dir, (), "--noeval_on_train_end", *flags)


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> str:
    folder = write_shapes(str(tmp_path_factory.mktemp("shapes")))
    shutil.copy(TINY, os.path.join(folder, "pipeline.config"))
    return os.path.join(folder, "pipeline.config")


@pytest.fixture(scope="module")
def resumed(config, tmp_path_factory):
    """Training killed with SIGKILL after its second checkpoint, then started again."""
    model_dir = str(tmp_path_factory.mktemp("killed"))
    first = train_command(config, model_dir, "--num_train_steps=100000", "--checkpoint_every_n=3")
    killed_at = kill_after_checkpoint(first, model_dir, 6, Path(model_dir) / "first.log", timeout=240)
    second = subprocess.run(train_command(config, model_dir, f"--num_train_steps={killed_at + 4}",
                                          "--checkpoint_every_n=3"),
                            capture_output=True, text=True, timeout=300)
    return model_dir, killed_at, second


def test_killed_training_resumes_at_the_next_step(resumed):
    model_dir, killed_at, second = resumed
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"resuming from step {killed_at} in {model_dir}" in second.stderr
    assert f"trained steps {killed_at}-{killed_at + 4}" in second.stderr
    assert re.search(rf"train \[#+\] {killed_at + 4}/{killed_at + 4} steps [\d.]+ steps/s ETA 0:00 loss [\d.]+ lr ",
                     second.stderr)
    assert latest_step(model_dir) == killed_at + 4


def test_no_checkpoint_is_left_corrupt(resumed):
    model_dir, _, _ = resumed
    state = tf.train.get_checkpoint_state(model_dir)
    assert len(state.all_model_checkpoint_paths) >= 3
    for prefix in state.all_model_checkpoint_paths:
        reader = tf.train.load_checkpoint(prefix)  # raises on a truncated or missing file
        assert reader.get_variable_to_shape_map()
    assert not glob.glob(os.path.join(model_dir, "*_temp*"))


def test_eval_tool_scores_the_checkpoint_and_draws_it(resumed, tmp_path):
    model_dir, killed_at, _ = resumed
    render_dir = str(tmp_path / "png")
    result = subprocess.run(tool("eval") + [f"--checkpoint_dir={model_dir}", f"--render_dir={render_dir}",
                                            "--num_render=2", "--min_score_threshold=0.0"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(os.path.join(model_dir, "eval", "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["step"] == killed_at + 4 and metrics["num_images"] == 8
    assert metrics["checkpoint"] == tf.train.latest_checkpoint(model_dir)
    assert {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR@1", "AR@10", "AR@100"} <= set(metrics)
    assert len(glob.glob(os.path.join(render_dir, "*.png"))) == 2


def test_eval_tool_rejects_a_missing_checkpoint(tmp_path, config):
    result = subprocess.run(tool("eval") + [f"--checkpoint_dir={tmp_path}", f"--pipeline_config_path={config}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("eval: error:")]
    assert errors == [f"eval: error: --checkpoint_dir {tmp_path}: no checkpoint in it (no `checkpoint` file naming a "
                      "ckpt-N, in it or in its checkpoint/ folder); give the model_dir training wrote, a model-zoo "
                      "folder or a ckpt-N prefix"]


def test_preflight_stops_training_before_it_starts(config, tmp_path):
    result = subprocess.run(train_command(config, str(tmp_path / "run"),
                                          "--override=model.ssd.image_resizer.fixed_shape_resizer.height=70",
                                          "--override=train_config.batch_size=0"),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("train: error:"))
    assert "2 problem(s)" in lines[start]
    assert lines[start + 1].strip().startswith("model.ssd.image_resizer.fixed_shape_resizer.height: 70 is not")
    assert lines[start + 1].strip().endswith("use 64 or 96 (or set model.ssd.feature_extractor.pad_to_multiple: 32)")
    assert lines[start + 2].strip().startswith("train_config.batch_size: must be at least 1")
    assert not os.path.exists(tmp_path / "run")


def test_checkpoint_dir_evaluates_as_model_main_tf2_does(resumed, tmp_path):
    """--checkpoint_dir: the OD API's eval_continuously on the newest checkpoint, which is the
    last training step, so it stops there."""
    model_dir, killed_at, _ = resumed
    eval_dir = tmp_path / "eval_run"
    result = subprocess.run([sys.executable, "-m", "od_tools.train", f"--pipeline_config_path={model_dir}/pipeline.config",
                             f"--model_dir={eval_dir}", f"--checkpoint_dir={model_dir}", "--eval_timeout=5"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    steps = []
    for event_file in glob.glob(str(eval_dir / "eval" / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(event_file):
            steps += [event.step for value in event.summary.value if value.tag == "DetectionBoxes_Precision/mAP"]
    assert steps == [killed_at + 4]

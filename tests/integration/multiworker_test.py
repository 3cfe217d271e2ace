"""Two MultiWorkerMirroredStrategy workers on localhost train together with the OD API's loop."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys

import tensorflow as tf

from od_tools.config.checkpoints import read_step
from shapes_records import write_shapes  # beside this file

TINY = os.path.join(os.path.dirname(__file__), "..", "testdata", "tiny_pipeline.config")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_end_with_the_same_variables(tmp_path):
    folder = write_shapes(str(tmp_path / "shapes"))
    shutil.copy(TINY, os.path.join(folder, "pipeline.config"))
    model_dir = str(tmp_path / "run")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        command = [sys.executable, "-m", "od_tools.train", f"--pipeline_config_path={folder}/pipeline.config",
                   f"--model_dir={model_dir}", "--num_train_steps=4", "--checkpoint_every_n=2", "--num_workers=2"]
        workers.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = []
    for worker in workers:
        output, _ = worker.communicate(timeout=400)
        logs.append(output)
        assert worker.returncode == 0, output[-3000:]
    for log in logs:
        assert "MultiWorkerMirroredStrategy, 2 replica(s)" in log
    # Synchronous training: both workers saw the same all-reduced loss at every step.
    final_losses = [re.findall(r"train \[#+\] 4/4 steps .* loss ([\d.]+)", log)[-1] for log in logs]
    assert final_losses[0] == final_losses[1]
    # The chief keeps the checkpoints (the OD API's: steps 0, 2 and 4), the config and settings it ran
    # with, and evaluates alone; the other worker's scratch copies are gone.
    assert read_step(tf.train.latest_checkpoint(model_dir)) == 4
    assert sorted(os.listdir(model_dir)) == ["checkpoint", "ckpt-1.data-00000-of-00001", "ckpt-1.index",
                                             "ckpt-2.data-00000-of-00001", "ckpt-2.index",
                                             "ckpt-3.data-00000-of-00001", "ckpt-3.index", "eval",
                                             "pipeline.config", "train", "train_settings.json"]
    with open(os.path.join(model_dir, "eval", "metrics.json")) as f:
        assert json.load(f)["step"] == 4

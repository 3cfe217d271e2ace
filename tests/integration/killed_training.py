"""A training run as a user's crash leaves it: `python -m od_tools.train` SIGKILLed once it has
written a checkpoint, for the tests that resume from there."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

import tensorflow as tf

from od_tools.config.checkpoints import read_step


def latest_step(model_dir: str) -> int:
    """The step of model_dir's newest checkpoint, -1 if it has none."""
    latest = tf.train.latest_checkpoint(model_dir)
    return read_step(latest) if latest else -1


def train_command(config: str, model_dir: str, overrides: Sequence[str] = (), *flags: str) -> list[str]:
    return [sys.executable, "-m", "od_tools.train", f"--pipeline_config_path={config}", f"--model_dir={model_dir}",
            *(f"--override={o}" for o in overrides), *flags]


def kill_after_checkpoint(command: Sequence[str], model_dir: str, step: int, log: Path, timeout: float) -> int:
    """Runs `command` (logging to `log`) until model_dir has a checkpoint at `step` or later, then
    SIGKILLs it; returns the step of the newest checkpoint it left."""
    with open(log, "w+") as output:
        process = subprocess.Popen(list(command), stdout=output, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        try:
            while latest_step(model_dir) < step:
                output.seek(0)
                assert process.poll() is None, output.read()[-3000:]
                assert time.monotonic() < deadline, f"no checkpoint at step {step} after {timeout} s"
                time.sleep(0.2)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
    return latest_step(model_dir)

"""TensorBoard's command line starts from the locked venv (the README and the image tell users
to run it): setuptools 82 removed pkg_resources, which tensorboard 2.20's main module imports."""

import importlib.metadata
import subprocess
import sys
from pathlib import Path

TENSORBOARD = Path(sys.executable).parent / "tensorboard"


def test_tensorboard_command_line_starts():
    result = subprocess.run([str(TENSORBOARD), "--version_tb"], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == importlib.metadata.version("tensorboard")

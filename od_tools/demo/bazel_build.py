"""Builds the demo's Bazel targets from inside `bazel run` (the no-flag `export_tflite`).

`bazel run //od_tools:export_tflite` with flags exports the user's model and must not build the
demo, so the demo is not in the tool's runfiles: with no flags the tool asks Bazel for it here,
on the same output base (cached like any build output). Bazel prints an action's output only
once the action has ended, so while the demo detector trains this shows the status lines its
actions write (od_tools.common.progress: step, loss, ETA) beside Bazel's own output.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Sequence

from od_tools.common.errors import UserError
from od_tools.common.progress import bazel_output_base, status_file

# The demo's long actions: the status name each names in its environment (the target's path),
# and what to call it here.
STATUSES = (("od_tools/demo/detector", "demo detector"), ("od_tools/demo/tflite", "demo export"))


def _bazel() -> str:
    bazel = shutil.which("bazel")
    if not bazel:
        raise UserError("no `bazel` on PATH to build the demo with; run this through ./bazelw run "
                        "//od_tools:export_tflite, or pass flags to export your own model")
    return bazel


def _forward(stream: IO[str], to: IO[str]) -> None:
    for line in stream:
        to.write(line)
        to.flush()


class _StatusWatch:
    """Prints a status file's line whenever an action rewrites it (only those written after `since`)."""

    def __init__(self, files: Sequence[tuple[Path, str]], since: float, out: IO[str]):
        self._files, self._since, self._out = files, since, out
        self._shown: dict[Path, str] = {}

    def poll(self) -> None:
        for path, label in self._files:
            try:
                if path.stat().st_mtime < self._since:
                    continue
                line = path.read_text(encoding="utf-8").strip()
            except OSError:
                continue
            if line and self._shown.get(path) != line:
                self._shown[path] = line
                self._out.write(f"{label}: {line}\n")
                self._out.flush()


def build(targets: Sequence[str], workspace: str, inside: str | Path) -> Path:
    """Builds `targets` in `workspace` with the Bazel output base around `inside` (this binary's
    runfiles); returns the bazel-bin folder. Bazel's output goes to stderr as it comes."""
    bazel = _bazel()
    base = bazel_output_base(inside)
    startup = [f"--output_base={base}"] if base else []
    watch = _StatusWatch([(status_file(name, inside), label) for name, label in STATUSES if base],
                         since=time.time() - 1, out=sys.stderr)
    print(f"export_tflite: building the demo: bazel build {' '.join(targets)}", file=sys.stderr, flush=True)
    process = subprocess.Popen([bazel, *startup, "build", "--curses=no", *targets], cwd=workspace,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    forward = threading.Thread(target=_forward, args=(process.stderr, sys.stderr), daemon=True)
    forward.start()
    while process.poll() is None:
        watch.poll()
        time.sleep(1.0)
    forward.join()
    if process.returncode != 0:
        raise UserError(f"bazel build {' '.join(targets)} failed (exit {process.returncode}); its output is above")
    info = subprocess.run([bazel, *startup, "info", "bazel-bin"], cwd=workspace, capture_output=True, text=True,
                          check=False)
    if info.returncode != 0:
        raise UserError(f"bazel info bazel-bin failed (exit {info.returncode}): {info.stderr.strip()[-300:]}")
    return Path(info.stdout.strip())

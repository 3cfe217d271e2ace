"""A dependency-free progress line for long loops: counts, rate and ETA on stderr.

On a terminal it redraws one line; in logs (CI, `bazel test`) it prints at most one line per
`log_every` seconds, so long jobs show life without flooding the output.

Bazel shows an action's output only once the action has ended, so a long build action (the demo
detector's training) names a status file in its environment (`OD_STATUS_FILE`, a name such as
`od_tools/demo/detector`): every progress line is also written there, where whoever started the
build (`export_tflite`'s no-flag run) reads it while the action runs. The file lives under /tmp
(writable in Bazel's sandbox), in a folder per Bazel output base.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

STATUS_ENV = "OD_STATUS_FILE"
STATUS_ROOT = Path("/tmp/od_toolchain-status")


def bazel_output_base(path: str | os.PathLike[str]) -> str | None:
    """The Bazel output base that `path` lies in: an action's working directory
    (`<base>/execroot/<ws>` or `<base>/sandbox/<strategy>/N/execroot/<ws>`) or a binary's runfiles."""
    text = os.path.abspath(path)
    cuts = [i for i in (text.find("/execroot/"), text.find("/sandbox/")) if i > 0]
    return text[:min(cuts)] if cuts else None


def status_file(name: str, inside: str | os.PathLike[str], root: Path | None = None) -> Path | None:
    """Where the action named `name` of the output base around `inside` writes its status."""
    base = bazel_output_base(inside)
    if base is None:
        return None
    return (root or STATUS_ROOT) / hashlib.sha256(base.encode()).hexdigest()[:16] / f"{name}.txt"


def report_status(line: str) -> None:
    """Writes `line` to this process's status file, if its environment names one (see above).

    The status is a courtesy to whoever watches: any failure to write it is ignored.
    """
    name = os.environ.get(STATUS_ENV)
    path = status_file(name, os.getcwd()) if name else None
    if path is None:
        return
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(line.strip() + "\n")
        os.replace(temporary, path)
    except OSError:
        if temporary:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_progress(label: str, done: int, total: int | None, elapsed: float, unit: str, width: int = 24,
                    counted: int | None = None, detail: str = "") -> str:
    """One progress line, e.g. `convert [#######.....] 350/600 images 41.2 images/s ETA 0:06`.

    `counted` is the work done in `elapsed` (default `done`), when the count did not start at 0.
    """
    counted = done if counted is None else counted
    rate = counted / elapsed if elapsed > 0 else 0.0
    tail = f" {detail}" if detail else ""
    if total:
        filled = min(width, int(width * done / total))
        bar = "#" * filled + "." * (width - filled)
        eta = format_duration((total - done) / rate) if rate > 0 else "?"
        return f"{label} [{bar}] {done}/{total} {unit} {rate:.1f} {unit}/s ETA {eta}{tail}"
    return f"{label} {done} {unit} {rate:.1f} {unit}/s elapsed {format_duration(elapsed)}{tail}"


class Progress:
    """Counts work and reports it; use as a context manager and call `update(n)` or `set(done)`.

    `initial` is work done before (a resumed run); with `clock_from_first_update`, the rate and ETA
    count from the first update, so set-up time (e.g. tracing a training step) does not skew them.
    """

    def __init__(self, label: str, total: int | None = None, unit: str = "items",
                 stream: IO[str] | None = None, log_every: float = 5.0, initial: int = 0,
                 clock_from_first_update: bool = False):
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_every = 0.1 if self.interactive else log_every
        self.done = initial
        self.detail = ""
        self._origin: tuple[float, int] | None = None if clock_from_first_update else (time.monotonic(), initial)
        self._last = float("-inf")

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1, detail: str | None = None) -> None:
        self.set(self.done + n, detail)

    def set(self, done: int, detail: str | None = None) -> None:
        """Reports `done` in all (e.g. the training step), with an optional tail such as the loss."""
        now = time.monotonic()
        if self._origin is None:  # the clock starts here: the work up to now (set-up) has no rate
            self._origin = (now, done)
        self.done = done
        if detail is not None:
            self.detail = detail
        if now - self._last >= self.log_every:
            self._last = now
            self._emit(final=False)

    def close(self) -> None:
        self._emit(final=True)

    def _emit(self, final: bool) -> None:
        since, start = self._origin or (time.monotonic(), self.done)
        line = format_progress(self.label, self.done, self.total, time.monotonic() - since, self.unit,
                               counted=self.done - start, detail=self.detail)
        if self.interactive:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        report_status(line)

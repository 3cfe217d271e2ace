"""A dependency-free progress line for long loops: counts, rate and ETA on stderr.

On a terminal it redraws one line; in logs (CI, `bazel test`) it prints at most one line per
`log_every` seconds, so long jobs show life without flooding the output.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Iterable, Iterator, TypeVar

T = TypeVar("T")


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_progress(label: str, done: int, total: int | None, elapsed: float, unit: str, width: int = 24) -> str:
    """One progress line, e.g. `convert [#######.....] 350/600 images 41.2 images/s ETA 0:06`."""
    rate = done / elapsed if elapsed > 0 else 0.0
    if total:
        filled = min(width, int(width * done / total))
        bar = "#" * filled + "." * (width - filled)
        eta = format_duration((total - done) / rate) if rate > 0 else "?"
        return f"{label} [{bar}] {done}/{total} {unit} {rate:.1f} {unit}/s ETA {eta}"
    return f"{label} {done} {unit} {rate:.1f} {unit}/s elapsed {format_duration(elapsed)}"


class Progress:
    """Counts work and reports it; use as a context manager and call `update(n)`."""

    def __init__(self, label: str, total: int | None = None, unit: str = "items",
                 stream: IO[str] | None = None, log_every: float = 5.0):
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_every = 0.1 if self.interactive else log_every
        self.done = 0
        self._start = time.monotonic()
        self._last = float("-inf")

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.log_every:
            self._last = now
            self._emit(final=False)

    def close(self) -> None:
        self._emit(final=True)

    def _emit(self, final: bool) -> None:
        line = format_progress(self.label, self.done, self.total, time.monotonic() - self._start, self.unit)
        if self.interactive:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def track(items: Iterable[T], label: str, total: int | None = None, unit: str = "items") -> Iterator[T]:
    """Iterates `items`, reporting progress."""
    with Progress(label, total=total, unit=unit) as progress:
        for item in items:
            yield item
            progress.update()

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


def track(items: Iterable[T], label: str, total: int | None = None, unit: str = "items") -> Iterator[T]:
    """Iterates `items`, reporting progress."""
    with Progress(label, total=total, unit=unit) as progress:
        for item in items:
            yield item
            progress.update()

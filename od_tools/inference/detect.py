"""A model (and optionally a second one to compare) over every picture of a source, with outputs.

Three stages overlap: a reader thread decodes and resizes the next pictures, the calling thread
runs the model, a writer thread draws and writes; bounded queues between them keep memory flat
on any number of pictures. Everything is written into a temporary folder that replaces
`output_dir` only when the run succeeded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import queue
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from od_tools.common.errors import UserError
from od_tools.common.files import atomic_dir
from od_tools.common.progress import Progress
from od_tools.export import parity
from od_tools.inference import outputs, sources
from od_tools.inference.models import Model
from od_tools.modeling import Detections

SUMMARY_JSON = "summary.json"
_DONE = object()
# The interpreter releases the GIL while it runs, but on its return waits for it until the
# thread holding it is switched out: after 5 ms by default, longer than a small model takes. At
# 0.2 ms the model thread gets it back at once (measured: int8 invoke 3.4 ms alone, 9.0 ms beside
# a busy Python thread at the default, 4.1 ms at 0.2 ms).
_SWITCH_INTERVAL_S = 0.0002


@contextlib.contextmanager
def _short_gil_slices() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, _SWITCH_INTERVAL_S))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


@dataclasses.dataclass(frozen=True)
class DetectSettings:
    output_dir: str
    min_score: float | None = None  # None: the model's (its config's eval_config.min_score_threshold, else 0.5)
    max_detections: int = 100
    classes: tuple[str, ...] = ()   # names or ids to keep; empty: all
    strict: bool = False            # an unreadable picture stops the run
    output: outputs.OutputOptions = outputs.OutputOptions()
    match_iou: float = 0.5          # --compare: a detection matches one of the same class at this IoU
    queue_size: int = 8


def class_filter(classes: Sequence[str], labels: dict[int, str]) -> set[int] | None:
    """The class ids that `classes` (names or ids) name; a one-line error for an unknown one."""
    if not classes:
        return None
    by_name = {name: i for i, name in labels.items()}
    ids = set()
    for item in classes:
        if item in by_name:
            ids.add(by_name[item])
        elif item.isdigit() and (int(item) in labels or not labels):
            ids.add(int(item))
        else:
            known = ", ".join(f"{i}:{name}" for i, name in sorted(labels.items())[:12])
            raise UserError(f"--classes {item}: the model has no such class (it knows {known}); give names or ids")
    return ids


def keep(found: Detections, min_score: float, classes: set[int] | None, limit: int) -> Detections:
    """The detections shown: score >= min_score, of the chosen classes, the best `limit`."""
    chosen = np.asarray(found.scores) >= min_score
    if classes is not None:
        chosen &= np.isin(np.asarray(found.classes), list(classes))
    index = np.flatnonzero(chosen)
    return found.select(index[np.argsort(-np.asarray(found.scores)[index], kind="stable")][:limit])


def agreement(reference: Detections, candidate: Detections, match_iou: float) -> dict:
    """How the second model reproduced the first one's (shown) detections on one picture."""
    result = parity.compare([reference], [candidate], score_threshold=0.0, match_iou=match_iou)
    return {"reference": result.num_reference, "candidate": len(candidate), "matched": result.num_matched,
            "matched_fraction": round(result.matched_fraction, 4), "mean_iou": round(result.mean_iou, 4),
            "max_score_delta": round(result.max_abs_score_delta, 4)}


@dataclasses.dataclass
class Summary:
    """What a run read, skipped, found and how fast."""

    models: list[str]
    pictures: int = 0
    skipped: list[str] = dataclasses.field(default_factory=list)  # "file: why"
    per_class: Counter = dataclasses.field(default_factory=Counter)
    model_seconds: list[float] = dataclasses.field(default_factory=list)
    wall_seconds: float = 0.0
    agreement: dict | None = None

    def model_ms(self, q: float) -> float:
        return float(np.percentile(self.model_seconds, q) * 1000) if self.model_seconds else 0.0

    @property
    def throughput(self) -> float:
        return self.pictures / self.wall_seconds if self.wall_seconds else 0.0

    def to_json(self) -> dict:
        return {"models": self.models, "pictures": self.pictures, "skipped": len(self.skipped),
                "skipped_files": self.skipped, "detections_per_class": dict(sorted(self.per_class.items())),
                "model_ms_median": round(self.model_ms(50), 2), "model_ms_p95": round(self.model_ms(95), 2),
                "pictures_per_second": round(self.throughput, 2), "wall_seconds": round(self.wall_seconds, 2),
                "agreement": self.agreement}

    def text(self) -> str:
        lines = [f"detect: {self.pictures} pictures read, {len(self.skipped)} skipped, "
                 f"{sum(self.per_class.values())} detections"]
        lines += [f"  {name}: {count}" for name, count in sorted(self.per_class.items())]
        lines += [f"  skipped {why}" for why in self.skipped[:10]]
        if len(self.skipped) > 10:
            lines.append(f"  ... and {len(self.skipped) - 10} more (summary.json lists them all)")
        lines.append(f"model time per picture: median {self.model_ms(50):.1f} ms, p95 {self.model_ms(95):.1f} ms; "
                     f"overall {self.throughput:.1f} pictures/s in {self.wall_seconds:.1f} s")
        if self.agreement:
            a = self.agreement
            lines.append(f"agreement of {self.models[1]} with {self.models[0]}: matched {a['matched']}/{a['reference']} "
                         f"({a['matched_fraction']:.1%}), mean IoU {a['mean_iou']:.4f}, largest score difference "
                         f"{a['max_score_delta']:.3f}, over {a['pictures']} pictures")
        return "\n".join(lines)


def _threaded(produce: Iterator, size: int, stop: threading.Event) -> Iterator:
    """`produce` run in a thread, its items handed over through a bounded queue (errors re-raised)."""
    handoff: queue.Queue = queue.Queue(maxsize=size)

    def work() -> None:
        try:
            for item in produce:
                while not stop.is_set():
                    try:
                        handoff.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(_DONE)
        except BaseException as e:  # handed to the consumer, which re-raises it
            handoff.put(e)

    thread = threading.Thread(target=work, name="detect-reader", daemon=True)
    thread.start()
    while True:
        item = handoff.get()
        if item is _DONE:
            break
        if isinstance(item, BaseException):
            raise item
        yield item
    thread.join()


class _Writer:
    """The writing stage: a thread taking (picture, detections, agreement) from a bounded queue."""

    def __init__(self, sink: Callable[..., None], size: int):
        self._queue: queue.Queue = queue.Queue(maxsize=size)
        self._sink = sink
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="detect-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self.error is None:
                try:
                    self._sink(*item)
                except BaseException as e:
                    self.error = e

    def put(self, *item) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put(item)

    def finish(self) -> None:
        self.stop()
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        """Ends the thread after what is queued (also when the run failed: no thread is left behind)."""
        if self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()


def run(model: Model, source: str, settings: DetectSettings, compare: Model | None = None) -> Summary:
    """Runs `model` (and `compare`) on every picture of `source`; writes into settings.output_dir."""
    inputs = sources.resolve(source, settings.output_dir)
    models = [model] + ([compare] if compare is not None else [])
    min_score = model.min_score if settings.min_score is None else settings.min_score
    chosen = class_filter(settings.classes, model.labels)
    summary = Summary(models=[m.name for m in models])
    matched = reference = 0
    ious: list[float] = []
    deltas: list[float] = []
    stop = threading.Event()

    def prepared() -> Iterator[tuple]:
        for picture in sources.pictures(inputs):
            yield picture, None if picture.image is None else [m.prepare(picture.image) for m in models]

    began = time.monotonic()
    try:
        with atomic_dir(settings.output_dir) as folder, contextlib.ExitStack() as stack, _short_gil_slices():
            sink = outputs.Outputs(Path(folder), model.labels, settings.output, titles=summary.models,
                                   compare=compare is not None)
            writer = _Writer(sink.add, settings.queue_size)
            stack.callback(writer.stop)
            with Progress("detect", total=sources.expected_count(inputs), unit="pictures") as progress:
                for picture, inputs_of in _threaded(prepared(), settings.queue_size, stop):
                    if picture.image is None:
                        message = f"{picture.input.path}: {picture.error}"
                        if settings.strict:
                            raise UserError(f"{message}; remove or replace the file (or drop --strict to skip it)")
                        summary.skipped.append(message)
                        progress.update()
                        continue
                    t0 = time.perf_counter()
                    found = [keep(models[0].run(inputs_of[0]), min_score, chosen, settings.max_detections)]
                    summary.model_seconds.append(time.perf_counter() - t0)
                    if compare is not None:
                        found.append(keep(compare.run(inputs_of[1]), min_score, chosen, settings.max_detections))
                    _check_labels(found, model.labels, model.source)
                    agreed = agreement(found[0], found[1], settings.match_iou) if compare is not None else None
                    if agreed is not None:
                        reference += agreed["reference"]
                        matched += agreed["matched"]
                        ious.append(agreed["mean_iou"] * agreed["reference"])
                        deltas.append(agreed["max_score_delta"])
                    summary.per_class.update(model.labels.get(int(c), str(int(c))) for c in found[0].classes)
                    summary.pictures += 1
                    writer.put(picture, found, agreed)
                    progress.update()
            writer.finish()
            sink.close()
            if summary.pictures == 0:
                raise UserError(f"--source {source}: none of its {len(summary.skipped)} pictures could be read "
                                f"(first: {summary.skipped[0] if summary.skipped else '?'}); nothing was written")
            summary.wall_seconds = time.monotonic() - began
            if compare is not None:
                summary.agreement = {"pictures": summary.pictures, "reference": reference, "matched": matched,
                                     "matched_fraction": round(matched / reference, 4) if reference else 1.0,
                                     "mean_iou": round(sum(ious) / reference, 4) if reference else 1.0,
                                     "max_score_delta": round(max(deltas, default=0.0), 4)}
            (Path(folder) / SUMMARY_JSON).write_text(json.dumps(summary.to_json(), indent=2) + "\n", encoding="utf-8")
    finally:
        stop.set()
    return summary


def _check_labels(found: Sequence[Detections], labels: dict[int, str], source: str) -> None:
    """Every class id the model outputs must have a label (a wrong --label_map shows here)."""
    if not labels:
        return
    for detections in found:
        unknown = sorted({int(c) for c in detections.classes} - set(labels))
        if unknown:
            raise UserError(f"{source}: outputs class ids {unknown} that its label map does not name; pass the "
                            "label map it was trained with (--label_map)")

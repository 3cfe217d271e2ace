"""The conversion pipeline: records -> validation in worker processes -> sharded TFRecords.

Used by create_tf_record, inspect_tf_record (--fix) and the demo dataset. Workers validate
images and serialize the tf.Examples (no TensorFlow there); this process writes them in input
order (`parallel.ordered_map`), so the output bytes depend only on the inputs and the seed, never
on the worker count. Nothing is published until everything succeeded (see `writer`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import signal
import sys
import threading
import time
from typing import IO, Any, Iterable, Iterator, Sequence

from od_tools.common.errors import UserError
from od_tools.common.files import atomic_path
from od_tools.common.progress import Progress
from od_tools.datasets.writing.parallel import Mapper, ordered_map, worker_count
from od_tools.datasets.annotations.image_record import ImageRecord
from od_tools.datasets.checks.dataset_report import Report, SplitStats, skipped_breakdown
from od_tools.datasets.annotations.tf_example import serialize_example
from od_tools.datasets.checks.validation import Issue, Processed, ValidationContext, validate_record
from od_tools.datasets.writing.writer import ShardedWriter, auto_num_shards, remove_stale_shards
from od_tools.label_map import ANDROID_LABELS_FILE, LabelMap, android_labels_text, format_label_map

LABEL_MAP_NAME = "label_map.pbtxt"


@dataclasses.dataclass(frozen=True)
class Split:
    """Records that go to one set of shards (`output_prefix` None: validate only)."""

    name: str
    records: Sequence[ImageRecord]
    output_prefix: str | None = None
    num_shards: int = 0  # 0: one shard per ~100 MB of images


@dataclasses.dataclass(frozen=True)
class Settings:
    tool: str = "create_tf_record"
    strict: bool = False
    num_workers: int = 0                 # 0: every core this process may use
    image_check: str = "decode"          # images.CHECKS
    include_masks: bool = False          # every object needs a mask, written as image/object/mask
    label_map_dir: str | None = None     # where label_map.pbtxt and labelmap.txt go
    report_path: str | None = None
    inputs: dict[str, Any] = dataclasses.field(default_factory=dict)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    split: dict[str, Any] | None = None  # how a --val_fraction split kept images together


def process_record(record: ImageRecord, context: ValidationContext) -> Processed:
    """The workers' job: validate, then serialize the tf.Example there too (the image bytes then
    cross back to this process once, inside the serialized record)."""
    processed = validate_record(record, context)
    if processed.example is None:
        return processed
    serialized = serialize_example(processed.example)
    return dataclasses.replace(processed, example=dataclasses.replace(processed.example, encoded=b""),
                               serialized=serialized)


def validation_context(label_map: LabelMap, image_check: str = "decode",
                       include_masks: bool = False) -> ValidationContext:
    return ValidationContext(name_to_id=label_map.name_to_id(),
                             id_to_name={item.id: item.name for item in label_map.items}, image_check=image_check,
                             include_masks=include_masks)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so temporary shards are removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _split_bytes(records: Iterable[ImageRecord]) -> int:
    """Bytes of images in a split, for automatic sharding (without reading streamed records)."""
    total = getattr(records, "total_bytes", None)
    return total if total is not None else sum(_record_bytes(r) for r in records)


def _record_bytes(record: ImageRecord) -> int:
    if record.encoded is not None:
        return len(record.encoded)
    try:
        return os.path.getsize(record.image_path) if record.image_path else 0
    except OSError:
        return 0


def _check_prefixes(splits: Sequence[Split]) -> None:
    prefixes = [(s.name, os.path.abspath(s.output_prefix)) for s in splits if s.output_prefix]
    for i, (name, prefix) in enumerate(prefixes):
        for other_name, other in prefixes[i + 1:]:
            if other == prefix or other.startswith(prefix + "-") or prefix.startswith(other + "-"):
                raise UserError(f"the {name} and {other_name} outputs ({prefix}, {other}) would share the shard "
                                "pattern <prefix>-*; give them distinct prefixes")


def _open_writers(splits: Sequence[Split], stats: dict[str, SplitStats],
                  stack: contextlib.ExitStack) -> dict[str, ShardedWriter]:
    writers = {}
    for split in splits:
        if split.output_prefix:
            count = split.num_shards or auto_num_shards(_split_bytes(split.records))
            writers[split.name] = ShardedWriter(split.output_prefix, count, stack)
            stats[split.name].shards = list(writers[split.name].paths)
    return writers


def _convert_all(splits: Sequence[Split], ordered: Mapper, context: ValidationContext,
                 writers: dict[str, ShardedWriter], report: Report, tool: str, log: IO[str]) -> None:
    """Streams every record through the workers, in order, into its split's shards and the report."""
    check = functools.partial(process_record, context=context)
    seen: dict[str, str] = {}  # image sha256 -> first record with those bytes
    with Progress(tool, total=sum(len(s.records) for s in splits), unit="images", stream=log) as progress:
        for split in splits:
            stats, writer = report.splits[split.name], writers.get(split.name)
            for processed in ordered(check, split.records):
                issues = list(processed.issues)
                example = processed.example
                if example is not None:
                    name = f"{split.name}: '{example.filename}'"
                    if example.sha256 in seen:
                        issues.append(Issue("image_duplicate", name, f"same image bytes as {seen[example.sha256]}"))
                    seen.setdefault(example.sha256, name)
                    if writer is not None:
                        writer.write(processed.serialized)
                stats.add(processed)
                for issue in issues:
                    if report.issues.add(issue):
                        print(f"{tool}: warning: {issue.message()}", file=log)
                progress.update()


def _refuse_unless_usable(report: Report, strict: bool, out: IO[str]) -> None:
    """--strict and empty splits end the run here, before anything is published."""
    first = report.issues.first
    if strict and first is not None:
        print(report.summary(), file=out)
        raise UserError(f"{first.error()} (--strict: {report.issues.total} issue(s) in all, nothing written)")
    for stats in report.splits.values():
        if stats.images_written == 0:
            print(report.summary(), file=out)
            raise UserError(f"{stats.name}: none of its {stats.images_read} images is usable "
                            f"({skipped_breakdown(report.issues)}; first: {first.error() if first else '-'}); "
                            "nothing written")


def _side_files(report: Report, writers: dict[str, ShardedWriter], settings: Settings) -> dict[str, str]:
    """label_map.pbtxt, labelmap.txt and report.json (path -> text); records them in the report."""
    texts = {}
    if writers and settings.label_map_dir is not None:
        android_labels = android_labels_text(report.label_map.android_labels())
        for key, name, text in (("label map", LABEL_MAP_NAME, format_label_map(report.label_map)),
                                ("android labels", ANDROID_LABELS_FILE, android_labels)):
            path = os.path.join(settings.label_map_dir, name)
            texts[path] = text
            report.outputs[key] = path
    if settings.report_path:
        report.outputs["report"] = settings.report_path
        report_dir = os.path.dirname(os.path.abspath(settings.report_path))
        texts[settings.report_path] = report.to_json_text(relative_to=report_dir)
    return texts


def run(splits: Sequence[Split], label_map: LabelMap, label_map_origin: str, settings: Settings,
        log: IO[str] | None = None, out: IO[str] | None = None) -> Report:
    """Validates every split's records and writes the shards, label maps and report.

    Raises UserError, with nothing written, when --strict finds any issue, a split ends up with
    no valid image, or the run is interrupted.
    """
    log = log if log is not None else sys.stderr
    out = out if out is not None else sys.stdout
    for split in splits:
        if not split.records:
            raise UserError(f"{split.name}: no images to convert (empty dataset)")
    _check_prefixes(splits)
    report = Report(tool=settings.tool, inputs=settings.inputs, options=settings.options, label_map=label_map,
                    label_map_origin=label_map_origin, splits={s.name: SplitStats(s.name) for s in splits},
                    split=settings.split)
    workers = worker_count(settings.num_workers, sum(len(s.records) for s in splits))
    try:
        with contextlib.ExitStack() as stack:
            # Workers fork first: before TensorFlow loads (writers) and before the SIGTERM handler.
            ordered = stack.enter_context(ordered_map(workers, log))
            stack.enter_context(terminate_as_interrupt())
            writers = _open_writers(splits, report.splits, stack)
            started = time.monotonic()
            context = validation_context(label_map, settings.image_check, settings.include_masks)
            _convert_all(splits, ordered, context, writers, report, settings.tool, log)
            elapsed = time.monotonic() - started
            _refuse_unless_usable(report, settings.strict, out)
            if writers:
                report.written = True
                report.outputs = {f"{name} shards": writer.paths[0].replace("-00000-of-", "-?????-of-")
                                  for name, writer in writers.items()}
            for path, text in _side_files(report, writers, settings).items():
                stack.enter_context(atomic_path(path)).write_text(text, encoding="utf-8")
        # Leaving the ExitStack closed every shard and renamed everything into place, at once.
    except KeyboardInterrupt as e:
        raise UserError(f"interrupted ({e or 'Ctrl-C'}); nothing was written") from None
    for split in splits:
        if split.output_prefix:
            for path in remove_stale_shards(split.output_prefix, report.splits[split.name].shards):
                print(f"{settings.tool}: removed {path} (a shard of an earlier run with another shard count)",
                      file=log)
    print(report.summary(elapsed), file=out)
    return report

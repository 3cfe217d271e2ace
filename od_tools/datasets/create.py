"""create_tf_record's work: annotations of any format -> split, validated, sharded TFRecords,
`label_map.pbtxt`, Android `labelmap.txt` and a JSON report, next to each other."""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from typing import IO, Sequence

from od_tools.common.errors import UserError
from od_tools.common.progress import Progress
from od_tools.datasets.writing.classes import resolve_label_map
from od_tools.datasets.writing.conversion import Settings, Split, run, terminate_as_interrupt
from od_tools.datasets.writing.grouping import SAME_IMAGE, Grouping, compile_split_by, group_for_split, identify
from od_tools.datasets.checks.encoded_images import CHECKS
from od_tools.datasets.writing.parallel import ordered_map, worker_count
from od_tools.datasets.formats.readers import read_dataset
from od_tools.datasets.annotations.image_record import ImageRecord
from od_tools.datasets.checks.dataset_report import Report
from od_tools.datasets.writing.splits import shuffled, split_train_val, val_count

REPORT_NAME = "report.json"


@dataclasses.dataclass(frozen=True)
class CreateRequest:
    input_format: str
    annotations: str
    output_path: str
    image_dir: str | None = None
    num_shards: int = 0
    val_fraction: float = 0.0
    seed: int = 0
    split_by: str | None = None      # regex over file names: its first group keeps images together
    same_image: str = "bytes"        # grouping.SAME_IMAGE: what makes images identical for the split
    val_annotations: str | None = None
    val_image_dir: str | None = None
    val_output_path: str | None = None
    num_val_shards: int = 0
    label_map_path: str | None = None
    strict: bool = False
    include_masks: bool = False      # COCO segmentation / VoTT polygons -> image/object/mask PNGs
    num_workers: int = 0
    image_check: str = "decode"
    report_path: str | None = None

    @property
    def splits_val(self) -> bool:
        return self.val_fraction > 0 or self.val_annotations is not None


def default_val_prefix(output_path: str) -> str:
    """`data/train.tfrecord` -> `data/val.tfrecord`; otherwise `<prefix>_val`."""
    folder, name = os.path.split(output_path)
    if "train" in name:
        head, _, tail = name.rpartition("train")
        return os.path.join(folder, head + "val" + tail)
    return output_path + "_val"


def _check(request: CreateRequest) -> None:
    if request.num_shards < 0 or request.num_val_shards < 0:
        raise UserError("--num_shards and --num_val_shards must be 0 (automatic) or more")
    if request.image_check not in CHECKS:
        raise UserError(f"--image_check={request.image_check}: use one of {', '.join(CHECKS)}")
    if request.num_workers < 0:
        raise UserError(f"--num_workers={request.num_workers}: must be 0 (every core) or more")
    if request.val_annotations is not None and request.val_fraction > 0:
        raise UserError("--val_fraction splits --annotations, --val_annotations gives the validation set: "
                        "use one of them")
    if not 0.0 <= request.val_fraction < 1.0:
        raise UserError(f"--val_fraction={request.val_fraction}: must be at least 0 and below 1")
    if request.same_image not in SAME_IMAGE:
        raise UserError(f"--same_image={request.same_image}: use one of {', '.join(SAME_IMAGE)}")
    for flag, given in (("--split_by", request.split_by is not None), ("--same_image=pixels",
                                                                        request.same_image != "bytes")):
        if given and request.val_fraction == 0:
            raise UserError(f"{flag} shapes the split that --val_fraction makes; give --val_fraction too "
                            "(--val_annotations is a split already made)")
    if request.split_by is not None:
        compile_split_by(request.split_by)
    for flag, path in (("--output_path", request.output_path), ("--val_output_path", request.val_output_path)):
        if path and (os.path.isdir(path) or path.endswith(os.sep)):
            example = os.path.join(path, "train.tfrecord")
            raise UserError(f"{flag}={path}: is a folder; give a file prefix such as {example}")


def kept_together(records: Sequence[ImageRecord], request: CreateRequest, log: IO[str]) -> Grouping:
    """Reads every image once (in worker processes) to find those the split must keep together."""
    identify_one = functools.partial(identify, same_image=request.same_image)
    pattern = compile_split_by(request.split_by) if request.split_by is not None else None
    with ordered_map(worker_count(request.num_workers, len(records)), log) as ordered, \
            Progress("create_tf_record: finding identical images", total=len(records), unit="images",
                     stream=log) as progress:
        identities = []
        for identity in ordered(identify_one, records):
            identities.append(identity)
            progress.update()
    return group_for_split(records, identities, request.same_image, pattern)


def _split_summary(grouping: Grouping, request: CreateRequest, total: int, val_images: int) -> dict:
    return {"val_fraction": request.val_fraction, "seed": request.seed,
            "val_images_wanted": val_count(total, request.val_fraction), "val_images": val_images,
            **grouping.summary}


def create_tf_records(request: CreateRequest, out: IO[str] | None = None) -> Report:
    """Converts; the summary goes to `out` (default stdout), warnings and progress to stderr."""
    _check(request)
    train_data = read_dataset(request.input_format, request.annotations, request.image_dir, request.include_masks)
    datasets = [train_data]
    if request.val_annotations is not None:
        datasets.append(read_dataset(request.input_format, request.val_annotations,
                                     request.val_image_dir or request.image_dir, request.include_masks))
    label_map, origin = resolve_label_map(datasets, request.label_map_path)

    grouping = None
    if request.val_fraction > 0:
        try:
            with terminate_as_interrupt():
                grouping = kept_together(train_data.records, request, sys.stderr)
        except KeyboardInterrupt as e:
            raise UserError(f"interrupted ({e or 'Ctrl-C'}); nothing was written") from None
    if request.val_annotations is not None:
        train, val = shuffled(train_data.records, request.seed), shuffled(datasets[1].records, request.seed)
    else:
        train, val = split_train_val(train_data.records, request.val_fraction, request.seed,
                                     grouping.together if grouping else ())
    splits = [Split("train" if request.splits_val else "dataset", train, request.output_path, request.num_shards)]
    if request.splits_val:
        val_prefix = request.val_output_path or default_val_prefix(request.output_path)
        splits.append(Split("val", val, val_prefix, request.num_val_shards))

    output_dir = os.path.dirname(request.output_path) or "."
    settings = Settings(
        tool="create_tf_record",
        strict=request.strict,
        num_workers=request.num_workers,
        image_check=request.image_check,
        include_masks=request.include_masks,
        label_map_dir=output_dir,
        report_path=request.report_path or os.path.join(output_dir, REPORT_NAME),
        inputs={"format": request.input_format, "annotations": request.annotations, "image_dir": request.image_dir,
                "val_annotations": request.val_annotations, "label_map_path": request.label_map_path},
        options={"strict": request.strict, "seed": request.seed, "val_fraction": request.val_fraction,
                 "image_check": request.image_check,
                 # only when given, so the reports of box-only runs keep their bytes
                 **({"include_masks": True} if request.include_masks else {})},
        split=_split_summary(grouping, request, len(train_data.records), len(val)) if grouping else None,
    )
    return run(splits, label_map, origin, settings, out=out)

"""inspect_tf_record's work: statistics and problems of any detection TFRecords, and `--fix`.

Inspection runs the converter's own validation over the records, so "valid" means exactly what
create_tf_record would write; `--fix` writes that repaired copy (clipped boxes, dropped bad
objects, skipped undecodable images, corrected sizes, ids and source ids).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

from od_tools.common.errors import UserError
from od_tools.datasets.writing.classes import resolve_label_map
from od_tools.datasets.writing.conversion import Settings, Split, run
from od_tools.datasets.checks.encoded_images import CHECKS
from od_tools.datasets.preview import render_preview
from od_tools.datasets.checks.dataset_report import Report
from od_tools.datasets.formats.tfrecords import read_tfrecord_files, tfrecord_files
from od_tools.datasets.checks.validation import KINDS


@dataclasses.dataclass(frozen=True)
class InspectRequest:
    patterns: Sequence[str]
    label_map_path: str | None = None
    fix_path: str | None = None
    num_shards: int = 0          # for --fix; 0: as many as the input has files
    strict: bool = False
    num_workers: int = 0
    image_check: str = "decode"
    report_path: str | None = None
    preview_path: str | None = None   # PNG of the first records with their boxes


def inspect_tf_records(request: InspectRequest) -> Report:
    if not request.patterns:
        raise UserError("no TFRecords given; usage: inspect_tf_record PATTERN [PATTERN ...] [--fix OUT_PREFIX]")
    if request.image_check not in CHECKS:
        raise UserError(f"--image_check={request.image_check}: use one of {', '.join(CHECKS)}")
    files = sorted({f for pattern in request.patterns for f in tfrecord_files(pattern, flag="PATTERN")})
    source = " ".join(request.patterns)
    if request.fix_path and any(os.path.abspath(f).startswith(os.path.abspath(request.fix_path) + "-") for f in files):
        raise UserError(f"--fix={request.fix_path}: would overwrite the records being inspected; choose another prefix")
    dataset = read_tfrecord_files(files, source, in_memory=False)
    if not dataset.records:
        raise UserError(f"{source}: the TFRecords hold no records (empty dataset)")
    label_map, origin = resolve_label_map([dataset], request.label_map_path)
    split = Split("records", dataset.records, request.fix_path, request.num_shards or len(files))
    settings = Settings(
        tool="inspect_tf_record",
        num_workers=request.num_workers,
        image_check=request.image_check,
        label_map_dir=(os.path.dirname(request.fix_path) or ".") if request.fix_path else None,
        report_path=request.report_path,
        inputs={"patterns": list(request.patterns), "files": len(files), "label_map_path": request.label_map_path},
        options={"fix": request.fix_path, "strict": request.strict, "image_check": request.image_check},
    )
    report = run([split], label_map, origin, settings)
    if request.preview_path:
        print(f"preview: {render_preview(files, request.preview_path)}")
    if request.strict and report.issues.total:
        kinds = ", ".join(f"{name} {report.issues.counts[name]}" for name in KINDS if report.issues.counts[name])
        fixed = f"a repaired copy is at {request.fix_path}" if request.fix_path else "--fix OUT writes a repaired copy"
        raise UserError(f"{source}: {report.issues.total} issue(s) ({kinds}); first: {report.issues.first.message()}; "
                        f"{fixed}")
    return report

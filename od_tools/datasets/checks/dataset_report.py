"""What a conversion or inspection found: counts per split and class, and every issue counted.

The same report is printed (a short table) and written as JSON (`--report_path`). The JSON has
no timings or absolute temporary paths, so the same inputs give the same bytes.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from typing import Any

from od_tools.datasets.checks.validation import KINDS, Action, Issue, Processed
from od_tools.label_map import LabelMap

EXAMPLES_PER_KIND = 5
# COCO's area ranges for small / medium / large objects, in pixels².
SMALL_AREA, MEDIUM_AREA = 32 ** 2, 96 ** 2
POLICY = ("boxes past the image edge are clipped; inverted, sub-pixel, outside or unclassified boxes are "
          "dropped; missing, undecodable, non-JPEG/PNG or wrongly sized images are skipped; "
          "--strict fails on any issue")


def _sorted_counts(counter: collections.Counter) -> dict[str, int]:
    return {str(k): v for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))}


@dataclasses.dataclass
class SplitStats:
    """Counts for one split (or for all records an inspection read)."""

    name: str
    images_read: int = 0
    images_written: int = 0
    objects_read: int = 0
    objects_written: int = 0
    image_bytes: int = 0
    shards: list[str] = dataclasses.field(default_factory=list)
    objects_per_class: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    images_per_class: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    objects_per_image: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    image_sizes: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    image_formats: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    box_sizes: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    masks_written: int = 0

    def add(self, processed: Processed) -> None:
        self.images_read += 1
        self.objects_read += processed.objects_read
        example = processed.example
        if example is None:
            return
        self.images_written += 1
        self.objects_written += len(example.objects)
        self.masks_written += sum(obj.mask_png is not None for obj in example.objects)
        self.image_bytes += example.size_bytes
        self.objects_per_image[len(example.objects)] += 1
        self.image_sizes[f"{example.width}x{example.height}"] += 1
        self.image_formats[example.image_format] += 1
        for obj in example.objects:
            self.objects_per_class[obj.class_id] += 1
            area = obj.box.area * example.width * example.height
            self.box_sizes["small" if area < SMALL_AREA else "medium" if area < MEDIUM_AREA else "large"] += 1
        for class_id in {obj.class_id for obj in example.objects}:
            self.images_per_class[class_id] += 1

    def per_image(self) -> dict[str, Any]:
        counts = self.objects_per_image
        total = sum(counts.values())
        return {
            "min": min(counts) if counts else 0,
            "mean": round(sum(k * v for k, v in counts.items()) / total, 3) if total else 0.0,
            "max": max(counts) if counts else 0,
            "histogram": {str(k): counts[k] for k in sorted(counts)},
        }

    def to_json(self, label_map: LabelMap) -> dict[str, Any]:
        """`masks` appears only when masks were written, so box-only reports keep their bytes."""
        masks = {"masks_written": self.masks_written} if self.masks_written else {}
        return {
            "images_read": self.images_read,
            "images_written": self.images_written,
            "objects_read": self.objects_read,
            "objects_written": self.objects_written,
            **masks,
            "image_bytes": self.image_bytes,
            "shards": [os.path.basename(s) for s in self.shards],
            "classes": [{"id": item.id, "name": item.name, "objects": self.objects_per_class[item.id],
                         "images": self.images_per_class[item.id]} for item in label_map.items],
            "objects_per_image": self.per_image(),
            "image_sizes": _sorted_counts(self.image_sizes),
            "image_formats": _sorted_counts(self.image_formats),
            "box_sizes": {size: self.box_sizes[size] for size in ("small", "medium", "large")},
        }


@dataclasses.dataclass
class IssueLog:
    """Counts per issue kind, the first few messages of each, and the very first issue."""

    counts: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    examples: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    first: Issue | None = None

    def add(self, issue: Issue) -> bool:
        """Counts `issue`; True while it is among the first few of its kind (worth printing)."""
        self.counts[issue.kind] += 1
        self.first = self.first or issue
        shown = self.examples.setdefault(issue.kind, [])
        if len(shown) < EXAMPLES_PER_KIND:
            shown.append(issue.message())
            return True
        return False

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> dict[str, Any]:
        return {name: {"action": kind.action.value, "count": self.counts[name], "meaning": kind.meaning,
                       "examples": self.examples.get(name, [])}
                for name, kind in KINDS.items() if kind.always_listed or self.counts[name]}


@dataclasses.dataclass
class Report:
    tool: str
    inputs: dict[str, Any]
    options: dict[str, Any]
    label_map: LabelMap
    label_map_origin: str
    splits: dict[str, SplitStats]
    issues: IssueLog = dataclasses.field(default_factory=IssueLog)
    outputs: dict[str, Any] = dataclasses.field(default_factory=dict)
    written: bool = False
    split: dict[str, Any] | None = None   # a --val_fraction split: the images it kept together

    def totals(self) -> dict[str, int]:
        splits = self.splits.values()
        read = sum(s.images_read for s in splits)
        written = sum(s.images_written for s in splits)
        objects_read = sum(s.objects_read for s in splits)
        objects_written = sum(s.objects_written for s in splits)
        return {"images_read": read, "images_written": written, "images_skipped": read - written,
                "objects_read": objects_read, "objects_written": objects_written,
                "objects_dropped": objects_read - objects_written}

    def to_json(self, relative_to: str | None = None) -> dict[str, Any]:
        """The report as JSON data; output paths relative to `relative_to` (the report's folder).
        `split` appears only for a --val_fraction split, so other reports keep their bytes."""
        split = {"split": self.split} if self.split is not None else {}
        return {
            "tool": self.tool,
            "written": self.written,
            "input": {key: _relative_paths(value, relative_to) for key, value in self.inputs.items()},
            "options": self.options,
            "policy": POLICY,
            "label_map": {"origin": self.label_map_origin,
                          "classes": [{"id": i.id, "name": i.name} for i in self.label_map.items]},
            "totals": self.totals(),
            **split,
            "splits": {name: stats.to_json(self.label_map) for name, stats in self.splits.items()},
            "issues": self.issues.to_json(),
            "outputs": {key: _relative(path, relative_to) for key, path in self.outputs.items()},
        }

    def to_json_text(self, relative_to: str | None = None) -> str:
        return json.dumps(self.to_json(relative_to), indent=2, ensure_ascii=False) + "\n"

    def summary(self, elapsed_s: float | None = None) -> str:
        """The printed report: a few lines a person can read at a glance."""
        totals = self.totals()
        splits = list(self.splits.values())
        verb = "written" if self.written else "passed validation"
        head = (f"{self.tool}: {totals['images_written']} of {totals['images_read']} images {verb}, "
                f"{totals['objects_written']} of {totals['objects_read']} objects")
        if elapsed_s:
            megabytes = sum(s.image_bytes for s in splits) / 1e6
            head += (f" in {elapsed_s:.1f} s ({totals['images_read'] / elapsed_s:.1f} images/s, "
                     f"{megabytes / elapsed_s:.1f} MB/s)")
        lines = [head]
        rows = [("split", "images", "objects", "skipped", "output")]
        for s in splits:
            output = (s.shards[0].replace("-00000-of-", "-?????-of-") if s.shards else "-")
            rows.append((s.name, str(s.images_written), str(s.objects_written),
                         str(s.images_read - s.images_written), output))
        lines += _table(rows)
        if self.split is not None:
            lines.append(split_line(self.split))
        lines.append(f"classes ({self.label_map_origin}):")
        class_rows = [("id", "name") + tuple(s.name for s in splits)]
        for item in self.label_map.items:
            class_rows.append((str(item.id), item.name) + tuple(str(s.objects_per_class[item.id]) for s in splits))
        lines += _table(class_rows)
        for s in splits:
            per_image = s.per_image()
            sizes = ", ".join(f"{k} x{v}" for k, v in list(_sorted_counts(s.image_sizes).items())[:3])
            more = f", +{len(s.image_sizes) - 3} more" if len(s.image_sizes) > 3 else ""
            lines.append(f"{s.name}: objects per image min {per_image['min']} / mean {per_image['mean']:.2f} / "
                         f"max {per_image['max']}, without objects {s.objects_per_image[0]}; "
                         f"box sizes small {s.box_sizes['small']} / medium {s.box_sizes['medium']} / "
                         f"large {s.box_sizes['large']}; image sizes {sizes or '-'}{more}"
                         + (f"; masks {s.masks_written}" if s.masks_written else ""))
        if not self.issues.total:
            lines.append("issues: none")
        else:
            lines.append(f"issues ({self.issues.total}; policy: {POLICY}):")
            issue_rows = []
            for name, kind in KINDS.items():
                if self.issues.counts[name]:
                    example = self.issues.examples[name][0]
                    issue_rows.append((name, str(self.issues.counts[name]), kind.action.value, example))
            lines += _table(issue_rows)
        for key, value in self.outputs.items():
            lines.append(f"{key}: {value}")
        return "\n".join(lines)


def split_line(split: dict[str, Any]) -> str:
    """e.g. "split: 14 images to val (14 wanted, seed 0); kept together: 5 groups of 11 images (same
    bytes 4, --split_by 1, 66 names unmatched)"."""
    line = (f"split: {split['val_images']} images to val ({split['val_images_wanted']} wanted, seed "
            f"{split['seed']}); kept together: {split['groups_kept_together']} groups of "
            f"{split['images_in_groups']} images (same bytes {split['same_bytes_groups']}")
    if split["same_image"] == "pixels":
        line += f", same pixels {split['same_pixels_groups']}"
    if split["split_by"] is not None:
        line += f", --split_by {split['split_by_groups']}, {split['split_by_unmatched']} names unmatched"
    return line + ")"


def _relative(path: str, start: str | None) -> str:
    if start is None:
        return path
    relative = os.path.relpath(os.path.abspath(path), start)
    return path if relative.startswith(os.pardir) else relative


def _relative_paths(value: Any, start: str | None) -> Any:
    """Input paths relative to the report, so reports of relocated outputs stay byte-identical."""
    if isinstance(value, str) and start is not None and os.path.exists(value):
        return _relative(value, start)
    if isinstance(value, list):
        return [_relative_paths(v, start) for v in value]
    return value


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    """Left-aligned text columns (the last one unpadded), indented by two spaces."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  " + "  ".join([cell.ljust(w) for cell, w in zip(row, widths)] + [row[-1]]) for row in rows]


def skipped_breakdown(log: IssueLog) -> str:
    """e.g. "image_missing 3, image_corrupt 1": why images were left out."""
    parts = [f"{name} {log.counts[name]}" for name, kind in KINDS.items()
             if kind.action is Action.SKIPPED and log.counts[name]]
    return ", ".join(parts) or "no image-level issue"

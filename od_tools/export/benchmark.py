"""Size, latency and AP50 of each exported quantization, as one table.

    bazel run //od_tools/export:benchmark                         # the demo export
    bazel run //od_tools/export:benchmark -- --export_dir=exported/ --image=photo.jpg

Latency is the median of --runs invocations (after 5 warm-up runs each time) on the standalone
LiteRT interpreter (XNNPACK), in fresh processes that never load TensorFlow. The runs are split
over --rounds that visit the models in turn, so a busy spell on a shared machine falls on every
model alike instead of on one. AP50 is the export report's figure for the same bytes (checked by
sha256): COCO AP50 on the held-out images, worst of tf.lite and ai_edge_litert.
Targets: int8 <= 0.8x float32 latency at 1 thread, <= 0.45x its size, AP50 within 0.02.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
from absl import flags
from PIL import Image

from od_tools.common import cli
from od_tools.common.errors import UserError
from od_tools.export.latency import time_in_subprocess

_EXPORT_DIR = flags.DEFINE_string("export_dir", None, "An export's --output_directory (default: the demo export).")
_IMAGE = flags.DEFINE_string("image", None, "Image to time on (default: the first demo val image).")
_RUNS = flags.DEFINE_integer("runs", 50, "Timed runs per model and thread count (median reported).")
_THREADS = flags.DEFINE_list("threads", ["1", "2"], "Interpreter thread counts.")
_ROUNDS = flags.DEFINE_integer("rounds", 5, "Rounds over the models the runs are split into.")

_RUNFILES_EXPORT = "od_tools/demo/tflite"
_RUNFILES_IMAGES = "od_tools/demo/dataset/coco/images"


@dataclasses.dataclass(frozen=True)
class Row:
    quantization: str
    size_bytes: int
    latency_ms: dict[int, float]
    ap50: float


def _runfiles_root() -> Path:
    # This module sits at <root>/od_tools/export/benchmark.py in the runfiles tree.
    return Path(os.path.abspath(__file__)).parents[2]


def _default_image(root: Path) -> Path:
    images = sorted((root / _RUNFILES_IMAGES).rglob("*.jpg")) + sorted((root / _RUNFILES_IMAGES).rglob("*.png"))
    if not images:
        raise UserError(f"{root / _RUNFILES_IMAGES}: no demo images; pass --image")
    val = [p for p in images if "val" in p.name or "val" in p.parent.name]
    return (val or images)[0]


def measure(export_dir: Path, image: Path, threads: Sequence[int], runs: int, rounds: int = 1) -> list[Row]:
    report_path = export_dir / "report.json"
    if not report_path.is_file():
        raise UserError(f"{report_path}: not found; pass an export's --output_directory as --export_dir")
    report = json.loads(report_path.read_text())
    height, width = report["input_size"]
    pixels = np.asarray(Image.open(image).convert("RGB").resize((width, height), Image.BILINEAR), np.uint8)
    sizes = {}
    for entry in report["models"]:
        data = (export_dir / entry["file"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise UserError(f"{export_dir / entry['file']}: sha256 differs from report.json; re-run the export")
        sizes[entry["quantization"]] = len(data)
    times: dict[tuple[str, int], list[float]] = {(e["quantization"], t): [] for e in report["models"] for t in threads}
    per_round = max(1, -(-runs // rounds))
    with tempfile.TemporaryDirectory() as tmp:
        image_npy = Path(tmp) / "image.npy"
        np.save(image_npy, pixels)
        for _ in range(rounds):
            for t in threads:
                for entry in report["models"]:
                    times[entry["quantization"], t] += time_in_subprocess(export_dir / entry["file"], image_npy, t,
                                                                          per_round)
    return [Row(e["quantization"], sizes[e["quantization"]],
                {t: statistics.median(times[e["quantization"], t]) for t in threads}, min(e["ap50"].values()))
            for e in report["models"]]


def table(rows: Sequence[Row], threads: Sequence[int], runs: int) -> str:
    base = next((r for r in rows if r.quantization == "float32"), rows[0])
    head = (f"{'quantization':<14} {'size MB':>8} {'x size':>7} "
            + " ".join(f"{f'{t} thr ms':>9}" for t in threads)
            + f" {'x lat(1)':>8} {'AP50':>6} {'dAP50':>7}")
    lines = [f"median of {runs} runs, ai_edge_litert (XNNPACK), in processes without TensorFlow", head]
    first = threads[0]
    for r in rows:
        lines.append(
            f"{r.quantization:<14} {r.size_bytes / 1e6:>8.2f} {r.size_bytes / base.size_bytes:>6.2f}x "
            + " ".join(f"{r.latency_ms[t]:>9.2f}" for t in threads)
            + f" {r.latency_ms[first] / base.latency_ms[first]:>7.2f}x {r.ap50:>6.3f} {r.ap50 - base.ap50:>+7.3f}")
    int8 = next((r for r in rows if r.quantization == "int8"), None)
    if int8 is not None and base is not int8:
        checks = [
            ("int8 latency", int8.latency_ms[first] / base.latency_ms[first], 0.8, "x float32 at %d thread" % first),
            ("int8 size", int8.size_bytes / base.size_bytes, 0.45, "x float32"),
            ("int8 AP50 drop", base.ap50 - int8.ap50, 0.02, "vs float32"),
        ]
        lines.append("")
        for name, value, limit, unit in checks:
            lines.append(f"{name}: {value:.3f} {unit} (target <= {limit}): {'met' if value <= limit else 'MISSED'}")
    return "\n".join(lines)


def main(argv: Sequence[str]) -> None:
    del argv  # cli.run refuses words that are not flags
    root = _runfiles_root()
    export_dir = Path(cli.workspace_path(_EXPORT_DIR.value)) if _EXPORT_DIR.value else root / _RUNFILES_EXPORT
    image = Path(cli.workspace_path(_IMAGE.value)) if _IMAGE.value else _default_image(root)
    threads = [int(t) for t in _THREADS.value]
    if _RUNS.value < 1 or not threads:
        raise UserError("--runs and --threads must be positive")
    rounds = max(1, _ROUNDS.value)
    runs = max(_RUNS.value, rounds)
    print(table(measure(export_dir, image, threads, runs, rounds), threads, -(-runs // rounds) * rounds))


if __name__ == "__main__":
    cli.run(main)

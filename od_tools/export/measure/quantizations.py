"""Size, latency and AP50 of each exported quantization, as one table; with --kernels, how each
model's accuracy moves with the kernels that run it.

    bazel run //od_tools/export/measure:quantizations                         # the demo export
    bazel run //od_tools/export/measure:quantizations -- --export_dir=exported/ --image=photo.jpg
    bazel run //od_tools/export/measure:quantizations -- --kernels            # AP50/recall/parity per kernel set

Latency is the median of --runs invocations (after 5 warm-up runs each time) on the standalone
LiteRT interpreter (XNNPACK), in fresh processes that never load TensorFlow. The runs are split
over --rounds that visit the models in turn, so a busy spell on a shared machine falls on every
model alike instead of on one. AP50 is the export report's figure for the same bytes (checked by
sha256): COCO AP50 on the held-out images, worst of tf.lite and ai_edge_litert.
Targets: int8 <= 0.8x float32 latency at 1 thread, <= 0.45x its size, AP50 within 0.02.

--kernels runs every model on the held-out images (--val_records, default the demo val set) with
each interpreter (tf.lite, ai_edge_litert), kernel set (XNNPACK, the optimized built-ins without
it, the reference kernels) and thread count, and prints COCO AP50, recall of the ground truth at
score 0.5 and IoU 0.5, and parity with the export's SavedModel (mean IoU, as the export's gate
computes it), then each figure's spread. Int8 kernels take other code paths on other CPUs
(XNNPACK by instruction set), so test bars and gates are set below the worst of these.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
from absl import flags
from PIL import Image

from od_tools.common import cli, machine
from od_tools.common.errors import UserError
from od_tools.export.latency import time_in_subprocess

_EXPORT_DIR = flags.DEFINE_string("export_dir", None, "An export's --output_directory (default: the demo export).")
_IMAGE = flags.DEFINE_string("image", None, "Image to time on (default: the first demo val image).")
_RUNS = flags.DEFINE_integer("runs", 50, "Timed runs per model and thread count (median reported).")
_THREADS = flags.DEFINE_list("threads", ["1", "2"], "Interpreter thread counts.")
_ROUNDS = flags.DEFINE_integer("rounds", 5, "Rounds over the models the runs are split into.")
_KERNELS = flags.DEFINE_bool("kernels", False, "Accuracy on every interpreter, kernel set and thread count "
                             "instead of latency.")
_VAL_RECORDS = flags.DEFINE_string("val_records", None, "With --kernels: held-out TFRecords (glob; default the "
                                   "demo val set).")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 100, "With --kernels: held-out images to use.")

_RUNFILES_EXPORT = "od_tools/demo/tflite"
_RUNFILES_IMAGES = "od_tools/demo/dataset/coco/images"
_RUNFILES_VAL = "od_tools/demo/dataset/val.tfrecord-?????-of-?????"


@dataclasses.dataclass(frozen=True)
class Row:
    quantization: str
    size_bytes: int
    latency_ms: dict[int, float]
    ap50: float


def _runfiles_root() -> Path:
    # This module sits at <root>/od_tools/export/measure/quantizations.py in the runfiles tree.
    return Path(os.path.abspath(__file__)).parents[3]


def _default_image(root: Path) -> Path:
    images = sorted((root / _RUNFILES_IMAGES).rglob("*.jpg")) + sorted((root / _RUNFILES_IMAGES).rglob("*.png"))
    if not images:
        raise UserError(f"{root / _RUNFILES_IMAGES}: no demo images; pass --image")
    val = [p for p in images if "val" in p.name or "val" in p.parent.name]
    return (val or images)[0]


def measure(export_dir: Path, image: Path, threads: Sequence[int], runs: int, rounds: int = 1) -> list[Row]:
    from od_tools.export.report import read_report

    report = read_report(export_dir)
    height, width = report.input_size
    pixels = np.asarray(Image.open(image).convert("RGB").resize((width, height), Image.BILINEAR), np.uint8)
    sizes = {m.quantization: len(m.read_model(export_dir)) for m in report.models}
    times: dict[tuple[str, int], list[float]] = {(m.quantization, t): [] for m in report.models for t in threads}
    per_round = max(1, -(-runs // rounds))
    with tempfile.TemporaryDirectory() as tmp:
        image_npy = Path(tmp) / "image.npy"
        np.save(image_npy, pixels)
        for _ in range(rounds):
            for t in threads:
                for m in report.models:
                    times[m.quantization, t] += time_in_subprocess(export_dir / m.file, image_npy, t, per_round)
    return [Row(m.quantization, sizes[m.quantization],
                {t: statistics.median(times[m.quantization, t]) for t in threads}, min(m.ap50.values()))
            for m in report.models]


def table(rows: Sequence[Row], threads: Sequence[int], runs: int) -> str:
    base = next((r for r in rows if r.quantization == "float32"), rows[0])
    head = (f"{'quantization':<14} {'size MB':>8} {'x size':>7} "
            + " ".join(f"{f'{t} thr ms':>9}" for t in threads)
            + f" {'x lat(1)':>8} {'AP50':>6} {'dAP50':>7}")
    lines = [f"median of {runs} runs, ai_edge_litert (XNNPACK), in processes without TensorFlow, on "
             f"{machine.describe()}", head]
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


@dataclasses.dataclass(frozen=True)
class KernelRow:
    quantization: str
    interpreter: str
    kernels: str
    threads: int
    ap50: float
    recall: float
    parity_mean_iou: float


def accuracy_by_kernel(export_dir: Path, val_files: Sequence[str], num_images: int,
                       threads: Sequence[int]) -> tuple[list[KernelRow], int]:
    """Every model of the export on every interpreter, kernel set and thread count; and how many
    held-out images they ran on."""
    from od_tools.common.progress import Progress
    from od_tools.config import read_pipeline_config
    from od_tools.export import images, parity, runtime
    from od_tools.export.exporter import held_out_accuracy, reference_detections, tflite_reference
    from od_tools.export.report import read_report
    from od_tools.modeling import Detector

    report = read_report(export_dir)
    height, width = report.input_size
    held_out = images.read_images(val_files, num_images, height, width)
    if not held_out:
        raise UserError(f"{', '.join(val_files)}: no records for --kernels")
    labels = report.labels
    detections = reference_detections(Detector.from_saved_model(str(export_dir / "saved_model")), held_out)
    reference = tflite_reference(read_pipeline_config(str(export_dir / "pipeline.config")), detections)
    truth_boxes = [im.groundtruth.boxes for im in held_out]
    truth_classes = [im.groundtruth.classes for im in held_out]
    models = {m.quantization: m.read_model(export_dir) for m in report.models}  # each read and checked once
    combos = [(m, i, k, t) for m in report.models for i in runtime.Interpreter for k in runtime.Kernels
              for t in threads]
    rows = []
    with Progress("quantizations: models x interpreters x kernels x threads", total=len(combos), unit="runs") as bar:
        for entry, interpreter, kernels, t in combos:
            detector = runtime.TFLiteDetector(models[entry.quantization], interpreter, t,
                                              input_mean=report.input_mean, input_std=report.input_std,
                                              kernels=kernels)
            found = [detector.detect(im.pixels) for im in held_out]
            agreement = parity.compare(reference, found, report.parity_score_threshold,
                                       max_detections=report.max_detections)
            rows.append(KernelRow(entry.quantization, interpreter.value, kernels.value, t,
                                  held_out_accuracy(held_out, found, labels).ap50, parity.recall(truth_boxes, truth_classes, found),
                                  round(agreement.mean_iou, 4)))
            bar.update()
    return rows, len(held_out)


def kernel_table(rows: Sequence[KernelRow], num_images: int) -> str:
    lines = [f"{num_images} held-out images; recall at score 0.5 and IoU 0.5; parity: mean IoU with the SavedModel; "
             f"on {machine.describe()}",
             f"{'quantization':<14} {'interpreter':<15} {'kernels':<10} {'thr':>3} {'AP50':>7} {'recall':>7} "
             f"{'parity':>7}"]
    lines += [f"{r.quantization:<14} {r.interpreter:<15} {r.kernels:<10} {r.threads:>3} {r.ap50:>7.4f} "
              f"{r.recall:>7.4f} {r.parity_mean_iou:>7.4f}" for r in rows]
    lines += ["", "spread (min - max over interpreters, kernels and threads):"]
    for quantization in dict.fromkeys(r.quantization for r in rows):
        mine = [r for r in rows if r.quantization == quantization]
        spans = [f"{name} {min(getattr(r, field) for r in mine):.4f} - {max(getattr(r, field) for r in mine):.4f}"
                 for name, field in (("AP50", "ap50"), ("recall", "recall"), ("parity", "parity_mean_iou"))]
        lines.append(f"{quantization:<14} " + ", ".join(spans))
    return "\n".join(lines)


def main(argv: Sequence[str]) -> None:
    del argv  # cli.run refuses words that are not flags
    root = _runfiles_root()
    export_dir = Path(cli.workspace_path(_EXPORT_DIR.value)) if _EXPORT_DIR.value else root / _RUNFILES_EXPORT
    if _KERNELS.value:
        from od_tools.export import images

        pattern = cli.workspace_path(_VAL_RECORDS.value) if _VAL_RECORDS.value else str(root / _RUNFILES_VAL)
        files = images.match_files(pattern, "--val_records")
        threads = [int(t) for t in _THREADS.value]
        print(kernel_table(*accuracy_by_kernel(export_dir, files, _NUM_IMAGES.value, threads)))
        return
    image = Path(cli.workspace_path(_IMAGE.value)) if _IMAGE.value else _default_image(root)
    threads = [int(t) for t in _THREADS.value]
    if _RUNS.value < 1 or not threads:
        raise UserError("--runs and --threads must be positive")
    rounds = max(1, _ROUNDS.value)
    runs = max(_RUNS.value, rounds)
    print(table(measure(export_dir, image, threads, runs, rounds), threads, -(-runs // rounds) * rounds))


if __name__ == "__main__":
    cli.run(main)

"""detect's throughput against the bare model in the same run: is decoding, resizing, drawing and
writing hidden behind the model?

    bazel run //od_tools/inference:detect_throughput                       # the demo's int8 TFLite and SavedModel
    bazel run //od_tools/inference:detect_throughput -- --export_dir=exported/ --num_images=500

Writes --num_images pictures (the demo's validation images, mirrored and rotated to reach the
count) as JPEGs, as the demo's and phones' pictures are, then for each model: the bare rate (TFLite: `interpreter.invoke()` alone on inputs
prepared beforehand; SavedModel: its call on decoded images) and detect's rate over the folder,
annotated pictures and JSON written. Prints both, their ratio and the machine.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from absl import flags
from PIL import Image

from od_tools.common import cli, machine
from od_tools.common.errors import UserError

_EXPORT_DIR = flags.DEFINE_string("export_dir", None, "An export's --output_directory (default: the demo export).")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 500, "Pictures to run.", lower_bound=1)
_THREADS = flags.DEFINE_integer("num_threads", 1, "TFLite interpreter threads.", lower_bound=1)
_MODELS = flags.DEFINE_list("models", ["detect_int8.tflite", "saved_model"], "Models of the export to time.")

_RUNFILES_EXPORT = "od_tools/demo/tflite"
_RUNFILES_IMAGES = "od_tools/demo/dataset/coco/images"


def _runfiles_root() -> Path:
    return Path(os.path.abspath(__file__)).parents[2]  # <root>/od_tools/inference/detect_throughput.py


def write_pictures(sources: Sequence[Path], count: int, folder: Path) -> list[Path]:
    """`count` JPEGs from `sources`, each variant (mirrored, rotated) a different picture."""
    variants = (lambda im: im, lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                lambda im: im.transpose(Image.Transpose.ROTATE_90), lambda im: im.transpose(Image.Transpose.ROTATE_180),
                lambda im: im.transpose(Image.Transpose.FLIP_TOP_BOTTOM))
    written = []
    for k in range(count):
        image = Image.open(sources[k % len(sources)]).convert("RGB")
        path = folder / f"{k:05d}.jpg"
        variants[(k // len(sources)) % len(variants)](image).save(path, quality=92)
        written.append(path)
    return written


def bare_rate(model, path: Path, pictures: Sequence[Path], threads: int) -> float:
    """Pictures per second of the model alone, on inputs decoded and prepared beforehand: for a
    TFLite model `interpreter.invoke()` (each input set first), for the others the model's call."""
    from od_tools.export import runtime

    prepared = [model.prepare(np.asarray(Image.open(p).convert("RGB"))) for p in pictures]
    if path.suffix == ".tflite":
        model_bytes = path.read_bytes()
        info = runtime.detector_info(model_bytes)
        detector = runtime.TFLiteDetector(model_bytes, runtime.Interpreter.LITERT, threads, info.mean, info.std)
        inputs = [detector.model_input(p) for p in prepared]
        detector.invoke(inputs[0])
        began = time.perf_counter()
        for batch in inputs:
            detector.invoke(batch)
        return len(inputs) / (time.perf_counter() - began)
    model.run(prepared[0])
    began = time.perf_counter()
    for pixels in prepared:
        model.run(pixels)
    return len(prepared) / (time.perf_counter() - began)


def main(argv: Sequence[str]) -> None:
    del argv
    from od_tools import inference

    root = _runfiles_root()
    export_dir = Path(cli.workspace_path(_EXPORT_DIR.value)) if _EXPORT_DIR.value else root / _RUNFILES_EXPORT
    images = sorted((root / _RUNFILES_IMAGES).rglob("*.jpg")) + sorted((root / _RUNFILES_IMAGES).rglob("*.png"))
    val = [p for p in images if "val" in p.parent.name] or images
    if not val:
        raise UserError(f"{root / _RUNFILES_IMAGES}: no demo images to run on")
    print(f"machine: {machine.describe()}")
    with tempfile.TemporaryDirectory(prefix="detect_throughput.") as tmp:
        folder = Path(tmp) / "pictures"
        folder.mkdir()
        pictures = write_pictures(val, _NUM_IMAGES.value, folder)
        print(f"{len(pictures)} pictures {Image.open(pictures[0]).size[0]}x{Image.open(pictures[0]).size[1]} "
              f"JPEG in {folder}; model threads {_THREADS.value}")
        print("| model | bare model pictures/s | detect pictures/s | detect / bare |")
        print("| --- | --- | --- | --- |")
        for name in _MODELS.value:
            path = export_dir / name
            model = inference.load(str(path), inference.ModelSpec(num_threads=_THREADS.value))
            bare = bare_rate(model, path, pictures, _THREADS.value)
            summary = inference.run(model, str(folder), inference.DetectSettings(
                output_dir=str(Path(tmp) / f"out_{name}"), min_score=None))
            print(f"| {name} | {bare:.1f} | {summary.throughput:.1f} | {summary.throughput / bare:.2f}x |",
                  flush=True)


if __name__ == "__main__":
    cli.run(main)

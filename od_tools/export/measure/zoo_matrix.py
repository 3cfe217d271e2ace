"""Every detector of a folder of pipeline.configs to TFLite, measured: what each costs on a phone-class CPU.

    bazel run //od_tools/export/measure:zoo_matrix -- --config_dir=configs/ --output_dir=matrix/ \
        [--quantization=float32,int8] [--threads=1,2] [--runs=10]

For each `*.config` (or `*/pipeline.config`) in --config_dir, as published (num_classes as they
are), in a process of its own: the model is built by the OD API with seeded random weights, its
TFLite graph exported (export_tflite_graph_lib_tf2), and each quantization converted (int8
calibrated on seeded synthetic images at the config's input size). Random weights give no
confident detections, so each TFLite model is compared with the OD API's inference module (what
exporter_main_v2 saves) on the top 10 detections by score, whatever the score: mean IoU and the
largest score difference. Then, with no TensorFlow process alive, each .tflite is timed on the
standalone LiteRT interpreter in fresh processes at each thread count (median of --runs; a model
that takes seconds per run gets fewer, at least 3, see --time_budget), after all exports are done.

Prints one row per config, `exported` or `refused: <why>` (a meta-architecture the OD API does
not export to TFLite, a config that does not parse, one too large for this machine), and writes
the same to OUTPUT_DIR/matrix.json and matrix.md; each config's models stay in OUTPUT_DIR/<name>/.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import statistics
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from absl import flags

from od_tools.common import cli, machine, synthetic
from od_tools.common.errors import UserError
from od_tools.common.files import write_text_atomic
from od_tools.common.progress import format_duration
from od_tools.export.latency import time_in_subprocess

_CONFIG_DIR = flags.DEFINE_string("config_dir", None, "Folder of OD API pipeline configs (*.config, */pipeline.config).")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Folder for matrix.json, matrix.md and each config's models.")
_QUANTIZATION = flags.DEFINE_list("quantization", ["float32", "int8"], "float32, float16, dynamic_range, int8.")
_THREADS = flags.DEFINE_list("threads", ["1", "2"], "Interpreter thread counts to time.")
_RUNS = flags.DEFINE_integer("runs", 10, "Timed runs per model and thread count (median reported).", lower_bound=1)
_TIME_BUDGET = flags.DEFINE_float("time_budget", 20.0, "Seconds of timed runs a slow model gets per thread count: "
                                  "fewer runs than --runs (at least 3) when one run takes seconds.", lower_bound=0.0)
_NUM_IMAGES = flags.DEFINE_integer("num_images", 5, "Synthetic images the agreement is measured on.", lower_bound=1)
_NUM_CALIBRATION = flags.DEFINE_integer("num_calibration_images", 20, "Synthetic images int8 is calibrated on.",
                                        lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the random weights and the synthetic images.")
_TIMEOUT = flags.DEFINE_integer("timeout", 7200, "Seconds one config may take to export before it is refused.")
# Internal: the export of one config, in its own process.
_ROW_CONFIG = flags.DEFINE_string("row_config", None, "(internal) export this one config ...")
_ROW_DIR = flags.DEFINE_string("row_dir", None, "(internal) ... into this folder")

TOP_K = 10
ROW_FILE = "row.json"


@dataclasses.dataclass
class ModelRow:
    quantization: str
    file: str
    size_bytes: int
    mean_iou: float            # top-10 agreement with the inference module
    max_score_delta: float
    latency_ms: dict[str, float] = dataclasses.field(default_factory=dict)  # threads -> median
    latency_runs: dict[str, int] = dataclasses.field(default_factory=dict)  # threads -> timed runs


@dataclasses.dataclass
class Row:
    name: str
    status: str                # "exported" or "refused: <one line>"
    family: str = ""
    input_size: str = ""
    params: int = 0
    note: str = ""
    export_seconds: float = 0.0
    models: list[ModelRow] = dataclasses.field(default_factory=list)

    def model(self, quantization: str) -> ModelRow | None:
        return next((m for m in self.models if m.quantization == quantization), None)


def find_configs(config_dir: Path) -> list[tuple[str, Path]]:
    """(name, path) of each config: `NAME.config`, or `NAME/pipeline.config` as in zoo downloads."""
    if not config_dir.is_dir():
        raise UserError(f"--config_dir {config_dir}: no such folder")
    found = [(p.stem, p) for p in config_dir.glob("*.config")]
    found += [(p.parent.name, p) for p in config_dir.glob("*/pipeline.config")]
    if not found:
        raise UserError(f"--config_dir {config_dir}: no *.config or */pipeline.config files in it")
    return sorted(found)


# ----- one config, in its own process (imports TensorFlow) -----

def _fixed_size(config) -> tuple[tuple[int, int], str]:
    """The TFLite input size, and a note when a square-padding resizer was made a fixed one."""
    from od_tools.config import fixed_input_size, meta_architecture, model_block

    size = fixed_input_size(config)
    if size is not None:
        return size, ""
    resizer = model_block(config).image_resizer
    if resizer.WhichOneof("image_resizer_oneof") == "keep_aspect_ratio_resizer" and \
            resizer.keep_aspect_ratio_resizer.pad_to_max_dimension:
        side = resizer.keep_aspect_ratio_resizer.max_dimension
        resizer.fixed_shape_resizer.height = side
        resizer.fixed_shape_resizer.width = side  # setting it clears the oneof's other member
        return (side, side), f"keep_aspect_ratio_resizer padded to {side}: exported at a fixed {side}x{side}"
    raise UserError(f"model.{meta_architecture(config)}.image_resizer: TFLite needs a fixed input size "
                    "(fixed_shape_resizer, or keep_aspect_ratio_resizer with pad_to_max_dimension)")


def export_row(config_path: Path, row_dir: Path, quantizations: Sequence[str], num_images: int,
               num_calibration: int, seed: int) -> Row:
    import tensorflow as tf

    from od_tools.config import meta_architecture, model_block, read_pipeline_config
    from od_tools.config.architecture import family
    from od_tools.export import convert, images, metadata, parity, runtime, tflite_graph
    from od_tools.export.exporter import build_tflite
    from od_tools.export.report import tflite_file_name
    from od_tools.modeling import Detections, Detector, build_model

    started = time.monotonic()
    config = read_pipeline_config(str(config_path))
    kind = meta_architecture(config)
    if kind not in ("ssd", "center_net"):
        raise UserError(f"model.{kind}: the Object Detection API exports only SSD and CenterNet models to TFLite")
    (height, width), note = _fixed_size(config)
    block = model_block(config)
    row = Row(name="", status="exported", family=family(block.feature_extractor.type) if kind == "ssd"
              else f"CenterNet {block.feature_extractor.type}", input_size=f"{width}x{height}", note=note)

    tf.keras.utils.set_random_seed(seed)
    model = build_model(config)
    inputs, shapes = model.preprocess(tf.zeros([1, height, width, 3]))
    model.predict(inputs, shapes)
    row.params = int(sum(int(np.prod(v.shape)) for v in model.trainable_variables))
    prefix = tf.train.Checkpoint(model=model).save(str(row_dir / "checkpoint" / "ckpt"))

    pixels = synthetic.pictures(num_images, height, width, seed=seed)
    # The module's detections come sorted by score: its top 10, like the TFLite models' 10.
    reference = [Detections(d.boxes[:TOP_K], d.classes[:TOP_K], d.scores[:TOP_K])
                 for d in Detector.from_model(model)(np.stack(pixels))]
    del model
    tflite_dir = str(row_dir / tflite_graph.TFLITE_DIR)
    tflite_graph.export_tflite_graph(config, prefix, tflite_dir, TOP_K)
    num_classes = block.num_classes
    description = metadata.DetectorDescription(
        name=row_dir.name, description=f"{row_dir.name} with random weights (zoo_matrix).", version="1",
        input_height=height, input_width=width, uint8_input=False, mean=tflite_graph.INPUT_MEAN,
        std=tflite_graph.INPUT_STD, labels=tuple(f"class{i}" for i in range(1, num_classes + 1)))
    calibration = synthetic.pictures(num_calibration, height, width, seed=seed + 1)

    def representative():
        for image in calibration:
            yield images.to_model_input(image, False, tflite_graph.INPUT_MEAN, tflite_graph.INPUT_STD)

    for name in quantizations:
        quantization = convert.Quantization(name)
        model_bytes, _ = build_tflite(tflite_dir, quantization, description,
                                      representative if quantization.uint8_input else None)
        file = tflite_file_name(quantization.value)
        (row_dir / file).write_bytes(model_bytes)
        detector = runtime.TFLiteDetector(model_bytes, runtime.Interpreter.LITERT)
        agreement = parity.compare(reference, [detector.detect(p) for p in pixels], score_threshold=0.0)
        row.models.append(ModelRow(name, file, len(model_bytes), round(agreement.mean_iou, 4),
                                   round(agreement.max_abs_score_delta, 4)))
    np.save(row_dir / "image.npy", pixels[0])
    row.export_seconds = round(time.monotonic() - started, 1)
    return row


def _row_main() -> None:
    row_dir = Path(_ROW_DIR.value)
    try:
        row = export_row(Path(_ROW_CONFIG.value), row_dir, _QUANTIZATION.value, _NUM_IMAGES.value,
                         _NUM_CALIBRATION.value, _SEED.value)
    except UserError as e:
        row = Row(name="", status=f"refused: {e}")
    except MemoryError:
        row = Row(name="", status="refused: too large for this machine (out of memory while exporting)")
    except Exception as e:  # noqa: BLE001 - one config's failure is that row's status, not the matrix's
        if type(e).__name__ == "ResourceExhaustedError":
            row = Row(name="", status="refused: too large for this machine (TensorFlow ran out of memory)")
        else:
            raise
    (row_dir / ROW_FILE).write_text(json.dumps(dataclasses.asdict(row)), encoding="utf-8")


# ----- the matrix (no TensorFlow in this process) -----

def _row_from_json(data: dict, name: str) -> Row:
    models = [ModelRow(**m) for m in data.pop("models")]
    row = Row(**{**data, "name": name})
    row.models = models
    return row


def run_row(name: str, config: Path, work_dir: Path, log: Path, timeout: int) -> Row:
    """Exports one config in a child process; its death by memory or time becomes the row's status."""
    args = [sys.executable, "-m", "od_tools.export.measure.zoo_matrix", f"--row_config={config}", f"--row_dir={work_dir}",
            f"--quantization={','.join(_QUANTIZATION.value)}", f"--num_images={_NUM_IMAGES.value}",
            f"--num_calibration_images={_NUM_CALIBRATION.value}", f"--seed={_SEED.value}"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    try:
        with open(work_dir / log.name, "w", encoding="utf-8") as out:
            result = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return Row(name, f"refused: took over {format_duration(timeout)} to export (--timeout)")
    if (work_dir / ROW_FILE).is_file() and result.returncode == 0:
        return _row_from_json(json.loads((work_dir / ROW_FILE).read_text(encoding="utf-8")), name)
    if result.returncode in (-signal.SIGKILL, 137):
        return Row(name, f"refused: too large for this machine (killed at {machine.memory_gb():.0f} GB of RAM)")
    text = (work_dir / log.name).read_text(encoding="utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    return Row(name, f"refused: export failed ({lines[-1][:160] if lines else f'exit {result.returncode}'}; "
                     f"see {log})")


def time_models(row: Row, row_dir: Path, threads: Sequence[int], runs: int, budget_s: float) -> None:
    for model in row.models:
        for t in threads:
            times = time_in_subprocess(row_dir / model.file, row_dir / "image.npy", t, runs, budget_s=budget_s)
            model.latency_ms[str(t)] = round(statistics.median(times), 3)
            model.latency_runs[str(t)] = len(times)


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else ""


def table(rows: Sequence[Row], quantizations: Sequence[str], threads: Sequence[int]) -> str:
    """A Markdown table: one row per config, sizes and latencies per quantization."""
    head = ["config", "status", "family", "input", "params"]
    for q in quantizations:
        head += [f"{q} MB"] + [f"{q} {t}-thr ms" for t in threads] + [f"{q} IoU / max dscore"]
    if "float32" in quantizations and "int8" in quantizations:
        head += ["int8/f32 size", "int8/f32 1-thr"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        cells = [row.name, row.status, row.family, row.input_size, f"{row.params / 1e6:.2f}M" if row.params else ""]
        for q in quantizations:
            m = row.model(q)
            cells += [f"{m.size_bytes / 1e6:.2f}" if m else ""]
            cells += [f"{m.latency_ms.get(str(t), 0):.2f}" if m else "" for t in threads]
            cells += [f"{m.mean_iou:.3f} / {m.max_score_delta:.3f}" if m else ""]
        if "float32" in quantizations and "int8" in quantizations:
            f, i = row.model("float32"), row.model("int8")
            cells += [_ratio(i and i.size_bytes, f and f.size_bytes),
                      _ratio(i and i.latency_ms.get("1"), f and f.latency_ms.get("1"))]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- {row.name}: {row.note}" for row in rows if row.note]
    # int8 latency depends on the instruction sets XNNPACK's kernels find (VNNI above all): a figure names them.
    measured = [f"Measured on {machine.describe()}."]
    return "\n".join(lines + [""] + measured + ([""] + notes if notes else [])) + "\n"


def main(argv: Sequence[str]) -> None:
    del argv  # cli.run refuses words that are not flags
    if _ROW_CONFIG.value:
        _row_main()
        return
    from od_tools.export.convert import parse_quantizations

    quantizations = [q.value for q in parse_quantizations(_QUANTIZATION.value)]
    threads = [int(t) for t in _THREADS.value]
    if not _CONFIG_DIR.value or not _OUTPUT_DIR.value:
        raise UserError("give --config_dir (a folder of pipeline configs) and --output_dir")
    configs = find_configs(Path(cli.workspace_path(_CONFIG_DIR.value)))
    output = Path(cli.workspace_path(_OUTPUT_DIR.value))
    output.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def write(rows: Sequence[Row]) -> str:
        text = table(rows, quantizations, threads)
        data = {"quantizations": quantizations, "threads": threads, "runs": _RUNS.value,
                "time_budget_s": _TIME_BUDGET.value, "seconds": round(time.monotonic() - started, 1),
                "machine": machine.describe(), "rows": [dataclasses.asdict(r) for r in rows]}
        write_text_atomic(output / "matrix.json", json.dumps(data, indent=2) + "\n")
        write_text_atomic(output / "matrix.md", text)
        return text

    # Exports first, timings after: no TensorFlow process (and no other export) runs beside a timed run.
    rows: list[Row] = []
    for i, (name, path) in enumerate(configs, 1):
        print(f"zoo_matrix: export [{i}/{len(configs)}] {name} ...", flush=True)
        row_dir = output / name
        work_dir = output / f".{name}.tmp"
        shutil.rmtree(work_dir, ignore_errors=True)  # a killed run's leftovers
        work_dir.mkdir()
        row = run_row(name, path, work_dir, row_dir / "export.log", _TIMEOUT.value)
        shutil.rmtree(row_dir, ignore_errors=True)
        os.replace(work_dir, row_dir)
        rows.append(row)
        summary = row.status if row.status != "exported" else ", ".join(
            f"{m.quantization} {m.size_bytes / 1e6:.2f} MB" for m in row.models)
        print(f"zoo_matrix: export [{i}/{len(configs)}] {name}: {summary} "
              f"({format_duration(time.monotonic() - started)} so far)", flush=True)
        write(rows)
    exported = [row for row in rows if row.status == "exported"]
    for i, row in enumerate(exported, 1):
        print(f"zoo_matrix: timing [{i}/{len(exported)}] {row.name} ...", flush=True)
        time_models(row, output / row.name, threads, _RUNS.value, _TIME_BUDGET.value)
        print(f"zoo_matrix: timing [{i}/{len(exported)}] {row.name}: " + ", ".join(
            f"{m.quantization} {m.latency_ms[str(threads[0])]:.1f} ms" for m in row.models) +
            f" at {threads[0]} thread(s) ({format_duration(time.monotonic() - started)} so far)", flush=True)
        write(rows)
    print(write(rows), end="")
    print(f"zoo_matrix: {len(rows)} configs in {format_duration(time.monotonic() - started)}; "
          f"wrote {output / 'matrix.json'} and matrix.md")


if __name__ == "__main__":
    cli.run(main)

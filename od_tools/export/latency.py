"""Latency of one .tflite model on the standalone LiteRT interpreter, in its own process.

Run as `python -m od_tools.export.latency MODEL INPUT.npy THREADS RUNS [BUDGET_S]`; prints one JSON line.
It imports neither TensorFlow nor the rest of the exporter, so TensorFlow's thread pools and
memory never share the process with the timed runs.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def measure(model_path: str, image: np.ndarray, threads: int, runs: int, warmup: int = 5,
            budget_s: float | None = None) -> dict:
    """Times `runs` invocations after `warmup` ones.

    With `budget_s`, a slow model (a 1536x1536 EfficientDet takes seconds per run) gets fewer runs,
    no fewer than 3, so that the timed runs take about `budget_s`; warm-up then stops after 2 s.
    """
    from ai_edge_litert import interpreter as litert

    runner = litert.Interpreter(model_path=model_path, num_threads=threads)
    runner.allocate_tensors()
    detail = runner.get_input_details()[0]
    if detail["dtype"] == np.uint8:
        batch = image[np.newaxis].astype(np.uint8)
    else:
        batch = ((image[np.newaxis].astype(np.float32) - 127.5) / 127.5).astype(np.float32)

    def invoke() -> float:
        runner.set_tensor(detail["index"], batch)
        start = time.perf_counter()
        runner.invoke()
        return (time.perf_counter() - start) * 1000.0

    warm = [invoke()]
    while len(warm) < warmup and (budget_s is None or sum(warm) < 2000.0):
        warm.append(invoke())
    if budget_s is not None:
        runs = min(runs, max(3, math.ceil(budget_s * 1000.0 / warm[-1])))
    times = [invoke() for _ in range(runs)]
    return {"threads": threads, "runs": runs, "median_ms": statistics.median(times), "times_ms": times}


def time_in_subprocess(model: Path, image_npy: Path, threads: int, runs: int, timeout: float | None = None,
                       budget_s: float | None = None) -> list[float]:
    """Milliseconds of the timed invocations of `model` on the image, in a fresh process (see measure)."""
    args = [sys.executable, "-m", "od_tools.export.latency", str(model), str(image_npy), str(threads), str(runs)]
    if budget_s is not None:
        args.append(str(budget_s))
    result = subprocess.run(args, capture_output=True, text=True, check=False, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"latency run of {model} failed:\n{result.stderr[-2000:]}")
    return list(json.loads(result.stdout.strip().splitlines()[-1])["times_ms"])


def main(argv: list[str]) -> int:
    model, image_path, threads, runs = argv[1], argv[2], int(argv[3]), int(argv[4])
    budget_s = float(argv[5]) if len(argv) > 5 else None
    print(json.dumps(measure(model, np.load(image_path), threads, runs, budget_s=budget_s)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Latency of one .tflite model on the standalone LiteRT interpreter, in its own process.

Run as `python -m od_tools.export.latency MODEL INPUT.npy THREADS RUNS`; prints one JSON line.
It imports neither TensorFlow nor the rest of the exporter, so TensorFlow's thread pools and
memory never share the process with the timed runs.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def measure(model_path: str, image: np.ndarray, threads: int, runs: int, warmup: int = 5) -> dict:
    from ai_edge_litert import interpreter as litert

    runner = litert.Interpreter(model_path=model_path, num_threads=threads)
    runner.allocate_tensors()
    detail = runner.get_input_details()[0]
    if detail["dtype"] == np.uint8:
        batch = image[np.newaxis].astype(np.uint8)
    else:
        batch = ((image[np.newaxis].astype(np.float32) - 127.5) / 127.5).astype(np.float32)
    times = []
    for i in range(warmup + runs):
        runner.set_tensor(detail["index"], batch)
        start = time.perf_counter()
        runner.invoke()
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1000.0)
    return {"threads": threads, "runs": runs, "median_ms": statistics.median(times), "times_ms": times}


def time_in_subprocess(model: Path, image_npy: Path, threads: int, runs: int, timeout: float | None = None) -> list[float]:
    """Milliseconds of `runs` invocations of `model` on the image, timed in a fresh process."""
    result = subprocess.run([sys.executable, "-m", "od_tools.export.latency", str(model), str(image_npy),
                             str(threads), str(runs)], capture_output=True, text=True, check=False, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"latency run of {model} failed:\n{result.stderr[-2000:]}")
    return list(json.loads(result.stdout.strip().splitlines()[-1])["times_ms"])


def main(argv: list[str]) -> int:
    model, image_path, threads, runs = argv[1], argv[2], int(argv[3]), int(argv[4])
    print(json.dumps(measure(model, np.load(image_path), threads, runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

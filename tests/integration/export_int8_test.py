"""The int8 model under the microscope: the quantization debugger's per-layer errors in the demo
export (//od_tools/demo:tflite runs with --int8_debug), and an export that keeps the two worst of
those layers in float (--int8_float_layers=NAMES) and records the choice down to the model card.
The auto search's stepping is tests/unit/export_test's; here the real converter does the work."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest

from od_tools.common import synthetic
from od_tools.export import tflite_model

ROOT = Path(os.environ["TEST_SRCDIR"]) / os.environ["TEST_WORKSPACE"]
DEMO_EXPORT = ROOT / "od_tools/demo/tflite"
DETECTOR = ROOT / "od_tools/demo/detector"
TOOL = ROOT / "od_tools/export_tflite"


def debug_rows() -> list[dict]:
    with open(DEMO_EXPORT / "int8_debug.csv", newline="") as f:
        return list(csv.DictReader(f))


def tensor_types(model: bytes) -> dict[str, int]:
    graph = tflite_model.read(model).subgraphs[0]
    return {t.name.decode() if isinstance(t.name, bytes) else t.name: t.type for t in graph.tensors}


def test_the_demo_export_carries_the_debuggers_per_layer_errors():
    rows = debug_rows()
    report = json.loads((DEMO_EXPORT / "report.json").read_text())
    assert len(rows) > 100 and [int(r["depth"]) for r in rows] == list(range(len(rows)))
    assert {r["op_name"] for r in rows} >= {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD"}
    worst = report["int8_worst_layers"]
    errors = sorted((float(r["rmse/scale"]) for r in rows), reverse=True)
    assert [w["rmse/scale"] for w in worst] == pytest.approx(errors[:10], abs=1e-4)
    # Layers that compute err by about rounding (1/sqrt(12) = 0.29 steps; measured 0.02 - 0.32, median
    # 0.25), none by more than a step on the well-calibrated demo; those that only move int8 values
    # (RESHAPE, PACK) are exact.
    by_op = lambda *ops: [float(r["rmse/scale"]) for r in rows if r["op_name"] in ops]  # noqa: E731
    computing = sorted(by_op("CONV_2D", "DEPTHWISE_CONV_2D", "ADD"))
    assert 0.15 < computing[len(computing) // 2] < 0.4 and computing[-1] < 1.0, computing
    assert set(by_op("RESHAPE", "PACK")) == {0.0}
    assert (DEMO_EXPORT / "int8_debug.png").read_bytes()[:4] == b"\x89PNG"
    assert "int8 layers with the largest error" in (DEMO_EXPORT / "report.txt").read_text()
    assert report["int8_float_layers"] is None  # --int8_debug alone chooses nothing


@pytest.fixture(scope="module")
def with_float_layers(tmp_path_factory) -> tuple[Path, list[str]]:
    # The two worst layers but the first (depth 0 reads the input: in float, it is refused).
    rows = sorted((r for r in debug_rows() if r["depth"] != "0"), key=lambda r: -float(r["rmse/scale"]))
    names = [rows[0]["tensor_name"], rows[1]["tensor_name"]]
    out = tmp_path_factory.mktemp("int8") / "export"
    result = subprocess.run(
        [str(TOOL), f"--pipeline_config_path={DETECTOR / 'pipeline.config'}", f"--trained_checkpoint_dir={DETECTOR}",
         f"--output_directory={out}", "--quantization=int8", "--num_parity_images=20", "--num_calibration_images=20",
         "--op_profile_runs=0", f"--int8_float_layers={','.join(names)}"],
        capture_output=True, text=True, timeout=900, check=False, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    return out, names


def test_named_layers_stay_float_in_the_exported_model(with_float_layers):
    out, names = with_float_layers
    search = json.loads((out / "report.json").read_text())["int8_float_layers"]
    assert search["mode"] == "names" and search["chosen"] == 1
    assert [s["float_layers"] for s in search["steps"]] == [[], names]
    exported = (out / "detect_int8.tflite").read_bytes()
    assert len(exported) == search["steps"][1]["size_bytes"]
    mine, plain = tensor_types(exported), tensor_types((DEMO_EXPORT / "detect_int8.tflite").read_bytes())
    float32, int8 = 0, 9  # the TFLite schema's TensorType values
    for name in names:
        assert (plain[name], mine[name]) == (int8, float32), name
    # Everything else stays int8: a few more float tensors (the two layers, their weights and the
    # DEQUANTIZE/QUANTIZE around them), not a float model.
    assert sum(t == float32 for t in mine.values()) <= sum(t == float32 for t in plain.values()) + 12
    assert "int8 with layers kept in float (--int8_float_layers=names" in (out / "report.txt").read_text()


def test_the_model_card_records_the_float_layers(with_float_layers):
    out, names = with_float_layers
    card = json.loads((out / "android/model_card.json").read_text())
    assert card["quantization"] == "int8" and card["int8_float_layers"]["layers"] == names
    assert card["int8_float_layers"]["mode"] == "names"
    assert (out / "android/detect.tflite").read_bytes() == (out / "detect_int8.tflite").read_bytes()


def test_the_layer_that_reads_the_input_is_the_debuggers_first():
    """The calibrated model names its tensors as the debugger does: the one layer reading the
    input is depth 0 of int8_debug.csv, which --int8_float_layers refuses and auto passes by."""
    from od_tools.export import images
    from od_tools.export.float_layers import Calibrated

    pictures = synthetic.pictures(4, 224, 224)
    calibrated = Calibrated(str(DEMO_EXPORT / "tflite_saved_model"),
                            lambda: (images.to_model_input(p, False, 127.5, 127.5) for p in pictures))
    assert calibrated.input_layers() == {debug_rows()[0]["tensor_name"]}

"""Phone readiness of the cached demo export (//od_tools/demo:tflite): what every export report
says of each model, what `inspect_tflite` prints and writes, and the one-op models the CPU profile
times, checked against the whole model's own tensors."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from od_tools.export import readiness, runtime, tflite_model

ROOT = Path(os.environ["TEST_SRCDIR"]) / os.environ["TEST_WORKSPACE"]
EXPORT = ROOT / "od_tools/demo/tflite"
TOOL = ROOT / "od_tools/inspect_tflite"
QUANTIZATIONS = ("float32", "float16", "dynamic_range", "int8")
LABELS = ["circle", "square", "triangle"]


@pytest.fixture(scope="module")
def report() -> dict:
    return json.loads((EXPORT / "report.json").read_text())


@pytest.mark.parametrize("quantization", QUANTIZATIONS)
def test_the_export_report_says_what_the_phone_gets(report, quantization):
    ready = report["readiness"][quantization]
    assert ready["input"]["dtype"] == ("uint8" if quantization == "int8" else "float32")
    assert ready["input"]["shape"] == [1, 224, 224, 3]
    assert [o["role"] for o in ready["outputs"]] == ["boxes", "classes", "scores", "num_detections"]
    assert ready["labels"] == LABELS and ready["metadata_name"] == "od_toolchain detector"
    assert ready["custom_ops"] == ["TFLite_Detection_PostProcess"]
    assert any("TFLite_Detection_PostProcess: a custom op" in g for g in ready["gpu_unsupported"])
    assert ready["op_counts"]["CONV_2D"] > 20 and sum(ready["op_counts"].values()) > 100
    # The profile: the ten slowest, slowest first, and the ops alone add up to about the whole model
    # (measured 0.92x - 1.06x on the four demo models; a factor of 2 either way on any CPU).
    times = [t["ms"] for t in ready["slowest_ops"]]
    assert len(times) == readiness.TOP_OPS and times == sorted(times, reverse=True) and times[-1] > 0
    assert 0.5 * ready["model_ms"] < ready["ops_alone_ms"] < 2.0 * ready["model_ms"], ready
    assert "TFLite_Detection_PostProcess" in {t["op"] for t in ready["slowest_ops"]}


def test_the_report_text_has_the_readiness_section():
    text = (EXPORT / "report.txt").read_text()
    assert "Phone readiness (LiteRT):" in text
    for quantization in QUANTIZATIONS:
        assert f"\n{quantization}:\n  input " in text
    assert "slowest ops on the CPU" in text


def test_a_one_op_model_computes_what_the_op_computes_in_the_whole_model():
    """The profile times each op as a one-op model on the tensors the whole model gave it: the
    op's output there must be the whole model's own output tensor, bit for bit."""
    from ai_edge_litert import interpreter as litert

    data = (EXPORT / "detect_float16.tflite").read_bytes()
    full = litert.Interpreter(model_content=data, num_threads=1, experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=runtime.Kernels.BUILTIN.resolver(litert))
    full.allocate_tensors()
    pixels = np.random.default_rng(0).normal(0, 0.5, full.get_input_details()[0]["shape"]).astype(np.float32)
    full.set_tensor(full.get_input_details()[0]["index"], pixels)
    full.invoke()
    model = tflite_model.read(data)
    ops = model.subgraphs[0].operators
    convs = [i for i, op in enumerate(ops) if readiness.op_name(model, op) == "CONV_2D"]
    for index in (convs[3], len(ops) - 1):  # a float16-weight conv (with its DEQUANTIZE) and the detection op
        alone, inputs = readiness.one_op_model(model, index)
        runner = litert.Interpreter(model_content=alone, num_threads=1,
                                    experimental_op_resolver_type=runtime.Kernels.BUILTIN.resolver(litert))
        runner.allocate_tensors()
        for slot, tensor in zip(runner.get_input_details(), inputs):
            runner.set_tensor(slot["index"], full.get_tensor(tensor))
        runner.invoke()
        for slot, tensor in zip(runner.get_output_details(), ops[index].outputs):
            np.testing.assert_array_equal(runner.get_tensor(slot["index"]), full.get_tensor(int(tensor)))


def test_analyzer_flags_are_read_with_their_op():
    text = ("Subgraph#0 main(T#0) -> [T#3]\n  Op#0 CONV_2D(T#0, T#1, T#2) -> [T#3]\n"
            "  Op#1 NON_MAX_SUPPRESSION_V4(T#3) -> [T#4]\nGPU COMPATIBILITY WARNING: Not supported op NON_MAX_SUPPRESSION_V4\n"
            "\nGPU COMPATIBILITY WARNING: Subgraph#0 has GPU delegate compatibility issues at nodes 1\n")
    assert readiness.analyzer_flags(text) == ["Op#1 NON_MAX_SUPPRESSION_V4: Not supported op NON_MAX_SUPPRESSION_V4"]


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(TOOL), *args], capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def test_inspect_tflite_prints_and_writes_the_reports_facts(tmp_path, report):
    out = tmp_path / "ready.json"
    result = run_tool(str(EXPORT / "detect_int8.tflite"), str(EXPORT / "detect_float32.tflite"),
                      "--profile_runs=2", f"--json={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(out.read_text())
    for quantization in ("int8", "float32"):
        mine, reported = found[str(EXPORT / f"detect_{quantization}.tflite")], report["readiness"][quantization]
        timing = ("slowest_ops", "ops_alone_ms", "model_ms", "profile_runs")
        assert {k: v for k, v in mine.items() if k not in timing} == {k: v for k, v in reported.items() if k not in timing}
        assert mine["profile_runs"] == 2 and len(mine["slowest_ops"]) == readiness.TOP_OPS
    assert "uint8 pixels as they are" in result.stdout and "float input (pixel - 127.5) / 127.5" in result.stdout
    assert "(CPU times on " in result.stdout


def test_inspect_tflite_refuses_what_is_not_a_detector(tmp_path):
    import tensorflow as tf

    classifier = tmp_path / "classifier.tflite"
    model = tf.keras.Sequential([tf.keras.Input((8, 8, 3)), tf.keras.layers.Flatten(), tf.keras.layers.Dense(2)])
    classifier.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    text = tmp_path / "notes.tflite"
    text.write_text("not a model")
    vector = tmp_path / "vector.tflite"
    dense = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(2)])
    vector.write_bytes(tf.lite.TFLiteConverter.from_keras_model(dense).convert())
    for path, message in ((classifier, "not a TFLite detector"), (vector, "not a TFLite detector (its input is [1, 4]"),
                          (text, "not a TFLite model"), (tmp_path / "missing.tflite", "cannot read it")):
        result = run_tool(str(path), f"--json={tmp_path / 'out.json'}")
        assert result.returncode == 1
        (line,) = [line for line in result.stderr.splitlines() if "inspect_tflite: error:" in line]
        assert f"{path}: {message}" in line, line
    assert not (tmp_path / "out.json").exists()
    assert "give one or more .tflite files" in run_tool().stderr
    result = run_tool(str(EXPORT / "detect_int8.tflite"), f"--image={tmp_path / 'notes.tflite'}")
    assert result.returncode == 1 and "--image" in result.stderr and "not a readable picture" in result.stderr

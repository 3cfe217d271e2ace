"""The TF1 zoo's tflite_graph.pb converted as TOCO did: float, quantization-aware and default-ranges
uint8, then metadata, output order and Android assets; bad graphs get one-line errors.

Nothing of TF1's OD API runs on TF 2.x, so the graphs are built here with what its
export_tflite_ssd_graph.py writes: the `normalized_input_image_tensor` placeholder, the
`raw_outputs/box_encodings` and `raw_outputs/class_predictions` heads, an `anchors` constant and
the `TFLite_Detection_PostProcess` node with the attributes that exporter sets.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import node_def_pb2, types_pb2

from od_tools.export import metadata, runtime, tflite_model
from od_tools.label_map import ANDROID_LABELS_FILE

ROOT = Path(os.environ["TEST_SRCDIR"]) / os.environ["TEST_WORKSPACE"]
TOOL = ROOT / "od_tools/export_tflite"
SIZE, CLASSES, ANCHORS_PER_SIDE = 64, 3, 16


def tiny_ssd_graph(fake_quant: bool = False, with_postprocess: bool = True,
                   input_name: str = "normalized_input_image_tensor") -> tf.compat.v1.GraphDef:
    """Two convolutions, box and class heads over a 16x16 grid of anchors, the post-processing op."""
    def fq(t, low, high):
        return tf.quantization.fake_quant_with_min_max_args(t, low, high) if fake_quant else t

    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, SIZE, SIZE, 3], name=input_name)
        y = fq(tf.nn.relu6(tf.nn.conv2d(fq(x, -1.0, 1.0), rng.normal(0, 0.3, (3, 3, 3, 8)).astype(np.float32), 2,
                                        "SAME")), 0.0, 6.0)
        y = fq(tf.nn.relu6(tf.nn.conv2d(y, rng.normal(0, 0.3, (3, 3, 8, 8)).astype(np.float32), 2, "SAME")), 0.0, 6.0)
        cells = ANCHORS_PER_SIDE ** 2
        boxes = fq(tf.nn.conv2d(y, rng.normal(0, 0.1, (1, 1, 8, 4)).astype(np.float32), 1, "SAME"), -2.0, 2.0)
        tf.reshape(boxes, [1, cells, 4], name="raw_outputs/box_encodings")
        logits = fq(tf.nn.conv2d(y, rng.normal(0, 1.0, (1, 1, 8, CLASSES + 1)).astype(np.float32), 1, "SAME"),
                    -8.0, 8.0)
        tf.identity(fq(tf.sigmoid(tf.reshape(logits, [1, cells, CLASSES + 1])), 0.0, 1.0),
                    name="raw_outputs/class_predictions")
        centers = (np.arange(ANCHORS_PER_SIDE) + 0.5) / ANCHORS_PER_SIDE
        cy, cx = np.meshgrid(centers, centers, indexing="ij")
        tf.constant(np.stack([cy.ravel(), cx.ravel(), np.full(cells, 0.3), np.full(cells, 0.3)], 1)
                    .astype(np.float32), name="anchors")
    graph_def = graph.as_graph_def()
    if with_postprocess:
        node = node_def_pb2.NodeDef(name="TFLite_Detection_PostProcess", op="TFLite_Detection_PostProcess")
        node.input.extend(["raw_outputs/box_encodings", "raw_outputs/class_predictions", "anchors"])
        for name, value in (("max_detections", 10), ("max_classes_per_detection", 1), ("detections_per_class", 100),
                            ("num_classes", CLASSES)):
            node.attr[name].i = value
        for name, value in (("nms_score_threshold", 1e-8), ("nms_iou_threshold", 0.6), ("y_scale", 10.0),
                            ("x_scale", 10.0), ("h_scale", 5.0), ("w_scale", 5.0)):
            node.attr[name].f = value
        node.attr["use_regular_nms"].b = False
        node.attr["_output_quantized"].b = True
        node.attr["_support_output_type_float_in_quantized_op"].b = True
        node.attr["_output_types"].list.type.extend([types_pb2.DT_FLOAT] * 4)
        graph_def.node.append(node)
    return graph_def


@pytest.fixture()
def label_map(tmp_path) -> Path:
    path = tmp_path / "label_map.pbtxt"
    path.write_text("".join(f"item {{ id: {i} name: 'class{i}' }}\n" for i in range(1, CLASSES + 1)))
    return path


def write_graph(tmp_path: Path, graph_def, name: str = "tflite_graph.pb") -> Path:
    path = tmp_path / name
    path.write_bytes(graph_def.SerializeToString())
    return path


def run_export(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "BUILD_WORKSPACE_DIRECTORY": str(tmp_path / "workspace"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([str(TOOL), *flags], capture_output=True, text=True, env=env, timeout=600, check=False)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("export_tflite: error: ")]
    assert len(errors) == 1, result.stderr[-3000:]
    return errors[0]


def uint8_agreement(report: dict) -> dict:
    entry = next(m for m in report["models"] if m["quantization"] == "uint8")
    return entry["parity"][runtime.Interpreter.LITERT.value]


def test_quantization_aware_graph_converts_float_and_uint8_that_agree(tmp_path, label_map):
    graph = write_graph(tmp_path, tiny_ssd_graph(fake_quant=True))
    out = tmp_path / "out"
    result = run_export(tmp_path, f"--tflite_graph_path={graph}", f"--label_map_path={label_map}",
                        f"--output_directory={out}", "--inference_type=FLOAT,QUANTIZED_UINT8")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert [m["file"] for m in report["models"]] == ["detect_float32.tflite", "detect_uint8.tflite"]
    assert report["input_size"] == [SIZE, SIZE] and report["max_detections"] == 10
    for m in report["models"]:
        model = (out / m["file"]).read_bytes()
        tflite_model.check_output_order(model)
        files = metadata.associated_files(model)
        assert files[ANDROID_LABELS_FILE].decode().split() == ["class1", "class2", "class3"]
        stored = metadata.parse(tflite_model.metadata_buffer(model, metadata.METADATA_FIELD_NAME))
        image = stored.subgraphMetadata[0].inputTensorMetadata[0]
        assert (image.processUnits is None) == (m["quantization"] == "uint8")  # raw pixels into a uint8 model
        detector = runtime.TFLiteDetector(model, runtime.Interpreter.LITERT, input_mean=128.0, input_std=128.0)
        assert detector.uint8_input == (m["quantization"] == "uint8")
        found = detector.detect(np.full((SIZE, SIZE, 3), 100, np.uint8))
        assert len(found.scores) == 10 and set(found.classes) <= {1, 2, 3}
    # The graph's own ranges make the uint8 model a faithful copy of the float one.
    assert uint8_agreement(report)["mean_iou"] >= 0.9, uint8_agreement(report)
    android = out / "android"
    card = json.loads((android / "model_card.json").read_text())
    assert card["quantization"] == "uint8" and card["input"]["type"] == "uint8"
    assert (android / "detect.tflite").read_bytes() == (out / "detect_uint8.tflite").read_bytes()
    assert (android / "labelmap.txt").read_text() == "class1\nclass2\nclass3\n"


def test_default_ranges_quantize_a_float_graph(tmp_path, label_map):
    graph = write_graph(tmp_path, tiny_ssd_graph())
    out = tmp_path / "out"
    result = run_export(tmp_path, f"--tflite_graph_path={graph}", f"--label_map_path={label_map}",
                        f"--output_directory={out}", "--inference_type=QUANTIZED_UINT8",
                        "--default_ranges_min=-2", "--default_ranges_max=6", "--mean_values=127.5",
                        "--std_values=127.5")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["tf1_conversion"] == {"default_ranges": [-2.0, 6.0], "fake_quant_ranges": False,
                                        "inference_types": ["QUANTIZED_UINT8"]}
    model = (out / "detect_uint8.tflite").read_bytes()
    detector = runtime.TFLiteDetector(model, runtime.Interpreter.LITERT, input_mean=127.5, input_std=127.5)
    assert detector.uint8_input
    quantized = {t["dtype"] for t in tflite_model_tensors(model)}
    assert np.uint8 in quantized  # activations run in uint8, not float with quantized weights only


def tflite_model_tensors(model: bytes) -> list[dict]:
    interpreter = runtime.make_interpreter(model, runtime.Interpreter.LITERT)
    return interpreter.get_tensor_details()


@pytest.mark.parametrize("case,fragment", [
    ("no_input", "no input placeholder named normalized_input_image_tensor"),
    ("no_postprocess", "no TFLite_Detection_PostProcess nodes"),
    ("not_a_graph", "not a frozen TensorFlow GraphDef"),
    ("no_ranges", "has no fake-quant ranges"),
    ("label_map", "the label map has 2 classes but"),
    ("shape", "--input_shape=1,64,3: give 1,HEIGHT,WIDTH,3"),
    ("mixed", "--trained_checkpoint_dir: not used with --tflite_graph_path"),
])
def test_bad_inputs_get_one_line_errors(tmp_path, label_map, case, fragment):
    graph_def = {"no_input": tiny_ssd_graph(input_name="image"),
                 "no_postprocess": tiny_ssd_graph(with_postprocess=False)}.get(case, tiny_ssd_graph())
    graph = write_graph(tmp_path, graph_def)
    if case == "not_a_graph":
        graph.write_bytes(b"\x00 this is a JPEG, honest")
    flags = []
    if case == "no_ranges":
        flags.append("--inference_type=QUANTIZED_UINT8")
    if case == "label_map":
        label_map.write_text("item { id: 1 name: 'a' }\nitem { id: 2 name: 'b' }\n")
    if case == "shape":
        flags.append("--input_shape=1,64,3")
    if case == "mixed":
        flags.append(f"--trained_checkpoint_dir={tmp_path}")
    out = tmp_path / "out"
    error = one_line_error(run_export(tmp_path, f"--tflite_graph_path={graph}", f"--label_map_path={label_map}",
                                      f"--output_directory={out}", *flags))
    assert fragment in error, error
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]

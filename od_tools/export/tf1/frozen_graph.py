"""TF1 model-zoo `tflite_graph.pb` to TFLite, as the TF1 tutorials' TOCO commands converted it.

The TF1 zoo tarballs, and the OD API's TF1 `export_tflite_ssd_graph.py`, give a frozen GraphDef
whose input is `normalized_input_image_tensor` and whose last node is the custom op
`TFLite_Detection_PostProcess` with its four outputs. Nothing of TF1's OD API runs on TF 2.x, but
TF 2.20's converter still reads frozen graphs (`tf.compat.v1.lite.TFLiteConverter`), so the TOCO
command maps onto it flag for flag:

    --inference_type=FLOAT | QUANTIZED_UINT8   -> inference_type (QUANTIZED_UINT8: uint8 inside)
    --mean_values=128 --std_values=128         -> quantized_input_stats (real = (q - mean) / std)
    --default_ranges_min=0 --default_ranges_max=6 -> a FakeQuant(0, 6) on every activation
                                                   without a range (graphs not trained
                                                   quantization-aware: "dummy" quantization)
    --input_shapes=1,300,300,3                 -> input_shapes (default: the graph's placeholder)
    --allow_custom_ops                         -> always (the post-processing op)

The result then gets what every export gets: outputs in the order boxes, classes, scores,
num_detections, TFLite Model Metadata with the labels, labelmap.txt and the Android assets.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import tempfile
import time
from typing import Sequence

import numpy as np
import tensorflow as tf
from google.protobuf import message as pb_message
from google.protobuf import text_format

from od_tools.common import synthetic
from od_tools.common.errors import UserError, first_line
from od_tools.common.files import atomic_dir, sha256
from od_tools.export import metadata, parity, readiness, report, runtime, tflite_model
from od_tools.export.exporter import finish_tflite
from od_tools.label_map import ANDROID_LABELS_FILE, LabelMap, android_labels_text

INPUT_NODE = "normalized_input_image_tensor"
POSTPROCESS_OP = "TFLite_Detection_PostProcess"


class InferenceType(str, enum.Enum):
    """TOCO's --inference_type values this conversion supports, and the model name each gives."""

    FLOAT = "FLOAT"
    QUANTIZED_UINT8 = "QUANTIZED_UINT8"

    @property
    def model_name(self) -> str:
        return "float32" if self is InferenceType.FLOAT else "uint8"


@dataclasses.dataclass(frozen=True)
class FrozenGraphOptions:
    inference_type: InferenceType = InferenceType.FLOAT
    mean_value: float = 128.0   # a uint8 input q means (q - mean_value) / std_value
    std_value: float = 128.0
    default_ranges: tuple[float, float] | None = None
    input_shape: tuple[int, int, int, int] | None = None


@dataclasses.dataclass(frozen=True)
class FrozenGraph:
    """What the conversion needs to know about a TF1 TFLite graph, read from its nodes."""

    graph_def: tf.compat.v1.GraphDef
    input_shape: tuple[int, int, int, int]
    postprocess_node: str
    num_classes: int
    max_detections: int
    has_fake_quant: bool

    @property
    def outputs(self) -> list[str]:
        return [self.postprocess_node] + [f"{self.postprocess_node}:{i}" for i in (1, 2, 3)]


def parse_input_shape(text: str) -> tuple[int, int, int, int]:
    """`1,300,300,3` (TOCO's --input_shapes for the one input)."""
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 4 or shape[0] != 1 or shape[3] != 3 or min(shape) < 1:
        raise UserError(f"--input_shape={text}: give 1,HEIGHT,WIDTH,3 (e.g. 1,300,300,3)")
    return shape  # type: ignore[return-value]


def _read_graph_def(path: str) -> tf.compat.v1.GraphDef:
    if not os.path.isfile(path):
        raise UserError(f"--tflite_graph_path {path}: no such file; give the tflite_graph.pb of a TF1 zoo model "
                        "or of export_tflite_ssd_graph.py")
    with open(path, "rb") as f:
        data = f.read()
    graph_def = tf.compat.v1.GraphDef()
    try:
        if path.endswith(".pbtxt"):
            text_format.Parse(data.decode("utf-8"), graph_def)
        else:
            graph_def.ParseFromString(data)
    except (pb_message.DecodeError, text_format.ParseError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not a frozen TensorFlow GraphDef ({e}); give tflite_graph.pb "
                        "(binary) or tflite_graph.pbtxt (text)") from None
    if not graph_def.node:
        raise UserError(f"{path}: the GraphDef has no nodes; give the tflite_graph.pb of a TF1 zoo model")
    return graph_def


def _placeholder_shape(node) -> tuple[int, ...] | None:
    shape = node.attr["shape"].shape if "shape" in node.attr else None
    if shape is None or shape.unknown_rank or not shape.dim:
        return None
    return tuple(int(d.size) for d in shape.dim)


def read_frozen_graph(path: str, input_shape: tuple[int, int, int, int] | None = None) -> FrozenGraph:
    """The graph and its facts, or a one-line error naming what is missing."""
    graph_def = _read_graph_def(path)
    nodes = {node.name: node for node in graph_def.node}
    input_node = nodes.get(INPUT_NODE)
    if input_node is None or input_node.op != "Placeholder":
        raise UserError(f"{path}: no input placeholder named {INPUT_NODE}; this is not a TFLite graph of the OD API's "
                        "TF1 export_tflite_ssd_graph.py (a frozen_inference_graph.pb cannot be converted: export "
                        "tflite_graph.pb from the checkpoint first)")
    postprocess = [node for node in graph_def.node if node.op == POSTPROCESS_OP]
    if len(postprocess) != 1:
        raise UserError(f"{path}: {'no' if not postprocess else len(postprocess)} {POSTPROCESS_OP} nodes (need "
                        "exactly one); export the graph with export_tflite_ssd_graph.py --add_postprocessing_op=true")
    node = postprocess[0]
    shape = input_shape or _placeholder_shape(input_node)
    if shape is None or len(shape) != 4 or any(d < 1 for d in shape):
        raise UserError(f"{path}: {INPUT_NODE} has no complete shape ({shape}); pass --input_shape=1,HEIGHT,WIDTH,3")
    if shape[0] != 1 or shape[3] != 3:
        raise UserError(f"{path}: {INPUT_NODE} has shape {list(shape)}; the detector takes one RGB image "
                        "(pass --input_shape=1,HEIGHT,WIDTH,3)")
    for attr in ("num_classes", "max_detections"):
        if attr not in node.attr:
            raise UserError(f"{path}: node {node.name} has no '{attr}' attribute; re-export the graph with "
                            "export_tflite_ssd_graph.py")
    fake_quant = any(n.op.startswith("FakeQuantWithMinMax") for n in graph_def.node)
    return FrozenGraph(graph_def, tuple(shape), node.name, int(node.attr["num_classes"].i),  # type: ignore[arg-type]
                       int(node.attr["max_detections"].i), fake_quant)


_PASS_THROUGH_CONSTANT = ("Const", "Identity", "Reshape", "Transpose", "Cast", "Squeeze", "ExpandDims")


def _tensor_name(ref: str) -> str:
    """A GraphDef input reference as `node:port` (`node` means port 0)."""
    return ref if ":" in ref else f"{ref}:0"


def with_default_ranges(graph: FrozenGraph, low: float, high: float) -> tf.compat.v1.GraphDef:
    """The graph with a FakeQuant(low, high) after every float activation that has no range yet.

    What TOCO's --default_ranges_min/max meant ("every array without a range gets this one"),
    spelled as the fake-quant nodes a quantization-aware graph would carry, because TF 2.20's
    converter never returns from `default_ranges_stats`. Weights keep their own ranges: tensors
    computed from constants only are left alone, as are the input (its range is --mean/--std),
    integer tensors and tensors already fake-quantized.
    """
    body = tf.compat.v1.GraphDef()
    body.node.extend(n for n in graph.graph_def.node if n.name != graph.postprocess_node)
    g = tf.Graph()
    with g.as_default():
        tf.graph_util.import_graph_def(body, name="")
    constant: set[str] = set()
    for op in g.get_operations():  # topological order
        if op.type == "Const" or (op.inputs and op.type in _PASS_THROUGH_CONSTANT
                                  and all(t.op.name in constant for t in op.inputs)):
            constant.add(op.name)
    consumers: dict[str, list[str]] = {}
    for node in graph.graph_def.node:
        for ref in node.input:
            if not ref.startswith("^"):
                consumers.setdefault(_tensor_name(ref), []).append(node.op)
    targets = []
    for op in g.get_operations():
        if op.name in constant or op.type == "Placeholder" or op.type.startswith("FakeQuant"):
            continue
        for out in op.outputs:
            users = consumers.get(out.name, [])
            if out.dtype == tf.float32 and users and not all(u.startswith("FakeQuant") for u in users):
                targets.append(out.name)
    rewritten = tf.compat.v1.GraphDef()
    rewritten.CopyFrom(graph.graph_def)
    renamed = {}
    for name in targets:
        fq = rewritten.node.add(name=f"{name.replace(':', '_')}/default_range", op="FakeQuantWithMinMaxArgs")
        fq.input.append(name)
        fq.attr["min"].f, fq.attr["max"].f, fq.attr["num_bits"].i = low, high, 8
        fq.attr["narrow_range"].b = False
        renamed[name] = fq.name
    added = set(renamed.values())
    for node in rewritten.node:
        if node.name in added:
            continue
        for i, ref in enumerate(node.input):
            if not ref.startswith("^") and _tensor_name(ref) in renamed:
                node.input[i] = renamed[_tensor_name(ref)]
    return rewritten


def convert_frozen_graph(graph: FrozenGraph, options: FrozenGraphOptions, scratch_dir: str) -> bytes:
    """The .tflite bytes TOCO would have written for these flags (outputs in the op's order)."""
    if options.inference_type is InferenceType.QUANTIZED_UINT8 and not graph.has_fake_quant \
            and options.default_ranges is None:
        raise UserError("--inference_type=QUANTIZED_UINT8: the graph has no fake-quant ranges (it was not trained "
                        "quantization-aware); pass --default_ranges_min and --default_ranges_max (e.g. 0 and 6) "
                        "as the TOCO command did, or export --inference_type=FLOAT")
    graph_def = graph.graph_def
    if options.inference_type is InferenceType.QUANTIZED_UINT8 and options.default_ranges is not None:
        graph_def = with_default_ranges(graph, *options.default_ranges)
    path = os.path.join(scratch_dir, "tflite_graph.pb")
    with open(path, "wb") as f:
        f.write(graph_def.SerializeToString())
    converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        path, [INPUT_NODE], graph.outputs, input_shapes={INPUT_NODE: list(graph.input_shape)})
    converter.allow_custom_ops = True
    if options.inference_type is InferenceType.QUANTIZED_UINT8:
        converter.inference_type = tf.uint8
        converter.quantized_input_stats = {INPUT_NODE: (options.mean_value, options.std_value)}
    try:
        return bytes(converter.convert())
    except Exception as e:  # the converter's errors are long MLIR dumps: keep the first line
        raise UserError(f"the TFLite converter refused the graph: {first_line(e, limit=1000)}") from e


def _detect_all(model: bytes, pixels: Sequence[np.ndarray], options: FrozenGraphOptions):
    detector = runtime.TFLiteDetector(model, runtime.Interpreter.LITERT, input_mean=options.mean_value,
                                      input_std=options.std_value)
    return [detector.detect(p) for p in pixels]


def export_frozen_graph(path: str, label_map: LabelMap, label_map_source: str, output_directory: str,
                        inference_types: Sequence[InferenceType], options: FrozenGraphOptions,
                        num_agreement_images: int = 20, op_profile_runs: int = 3) -> report.ExportReport:
    """Converts a TF1 tflite_graph.pb once per inference type into output_directory; returns the report.

    Writes detect_float32.tflite and/or detect_uint8.tflite, labelmap.txt and report.json (the
    layout of every export, so the Android assets come from it the same way). With both types,
    the uint8 model's detections are compared with the float model's on seeded synthetic images
    (every detection, whatever its score): a default-ranges model is a guess at the activations'
    ranges, and this says how good a guess it was.
    """
    graph = read_frozen_graph(path, options.input_shape)
    if label_map.num_classes != graph.num_classes:
        raise UserError(f"{label_map_source}: the label map has {label_map.num_classes} classes but {path} "
                        f"detects {graph.num_classes} ({graph.postprocess_node}'s num_classes); use the model's "
                        "label map (the TF1 COCO models: mscoco_label_map.pbtxt, 90 ids)")
    labels = tuple(label_map.android_labels())
    _, height, width, _ = graph.input_shape
    started = time.monotonic()
    models: dict[InferenceType, bytes] = {}
    entries: dict[InferenceType, report.TFLiteResult] = {}
    with atomic_dir(output_directory) as out, tempfile.TemporaryDirectory(prefix="od_tf1_") as scratch:
        for inference_type in inference_types:
            t0 = time.monotonic()
            model = convert_frozen_graph(graph, dataclasses.replace(options, inference_type=inference_type), scratch)
            uint8_input = inference_type is InferenceType.QUANTIZED_UINT8
            description = metadata.DetectorDescription(
                name="od_toolchain detector", description=f"Object detector converted from {os.path.basename(path)}.",
                version="1", input_height=height, input_width=width, uint8_input=uint8_input,
                mean=options.mean_value, std=options.std_value, labels=labels)
            # The post-processing op's outputs are the graph's outputs, already in the app's order.
            model = finish_tflite(tflite_model.add_detection_signature(model), description)
            name = report.tflite_file_name(inference_type.model_name)
            (out / name).write_bytes(model)
            models[inference_type] = model
            # No SavedModel, no held-out images: no accuracy and no parity gate (the uint8 model's
            # agreement with the float one, below, is reported, not enforced).
            entries[inference_type] = report.TFLiteResult(
                quantization=inference_type.model_name, file=name, size_bytes=len(model),
                sha256=sha256(model), convert_seconds=round(time.monotonic() - t0, 1),
                input_type="uint8" if uint8_input else "float32", parity={}, accuracy={}, min_mean_iou=0.0,
                passed=True)
        agreement = None
        if len(models) == 2:
            pixels = synthetic.pictures(num_agreement_images, height, width)
            reference = _detect_all(models[InferenceType.FLOAT], pixels, options)
            candidate = _detect_all(models[InferenceType.QUANTIZED_UINT8], pixels, options)
            agreement = parity.compare(reference, candidate, score_threshold=0.0)
            uint8 = InferenceType.QUANTIZED_UINT8
            entries[uint8] = dataclasses.replace(entries[uint8], parity={runtime.Interpreter.LITERT.value: agreement})
        (out / ANDROID_LABELS_FILE).write_text(android_labels_text(labels), encoding="utf-8")
        picture = synthetic.pictures(1, height, width)[0]
        ready = {t.model_name: readiness.inspect(m, picture, op_profile_runs) for t, m in models.items()}
        result = report.ExportReport(
            config_source=os.path.abspath(path), checkpoint="", input_size=(height, width),
            input_mean=options.mean_value, input_std=options.std_value, max_detections=graph.max_detections,
            labels=labels, num_parity_images=num_agreement_images if agreement else 0, num_calibration_images=0,
            parity_score_threshold=0.0, saved_model_accuracy=None, saved_model_seconds=0.0,
            total_seconds=round(time.monotonic() - started, 1), models=tuple(entries.values()), readiness=ready,
            label_map=label_map_source,
            tf1_conversion=report.TF1Conversion(
                inference_types=tuple(t.value for t in inference_types), fake_quant_ranges=graph.has_fake_quant,
                default_ranges=tuple(options.default_ranges) if options.default_ranges else None))
        result.write(out)
    return result


def summary(result: report.ExportReport) -> str:
    """A few lines for the terminal: one per model, and the uint8 model's agreement with the float one."""
    height, width = result.input_size
    lines = [f"Converted {result.config_source} ({width}x{height}, {len(result.labels)} classes)"]
    for m in result.models:
        line = f"  {m.file:<24} {m.size_bytes / 1e6:7.2f} MB  {m.input_type} input"
        for name, p in m.parity.items():
            line += (f"  vs float32 on {result.num_parity_images} synthetic images ({name}): mean IoU "
                     f"{p.mean_iou:.4f}, mean |dscore| {p.mean_abs_score_delta:.4f}")
        lines.append(line)
        if any(p.mean_iou < 0.9 for p in m.parity.values()):
            lines.append(f"  note: {m.file} strays from the float model; default ranges are a guess at every "
                         "activation's range: a quantization-aware graph, or a TF2 checkpoint's int8 export "
                         "(calibrated on your images), keeps it close")
    lines += readiness.lines_by_model(result.readiness, [m.quantization for m in result.models])
    return "\n".join(lines) + "\n"

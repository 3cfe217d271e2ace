"""Edits of a converted .tflite flatbuffer: output order and the metadata buffer.

The TFLite converter lists a detector's outputs in its own order (num_detections first), but
the legacy Android demo reads them by position as boxes, classes, scores, num_detections: the
order of the TFLite_Detection_PostProcess op's own output ports. MediaPipe's metadata pairs
output tensor metadata with outputs by position too. So the subgraph's output list is rewritten
to be exactly that op's outputs, in port order; signature names keep pointing at the same
tensors, so name-based readers are unaffected.
"""

from __future__ import annotations

import dataclasses

from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

POSTPROCESS_OP = "TFLite_Detection_PostProcess"
# The op's output ports, in order, and the signature output name of each.
OUTPUT_ORDER = ("detection_boxes", "detection_classes", "detection_scores", "num_detections")


class ModelStructureError(Exception):
    """The converted model lacks what a detector export needs (a bug, not bad user input)."""


def read(model_bytes: bytes) -> schema.ModelT:
    return flatbuffer_utils.read_model_from_bytearray(bytearray(model_bytes))


def write(model: schema.ModelT) -> bytes:
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def custom_code(model: schema.ModelT, op: schema.OperatorT) -> str:
    code = model.operatorCodes[op.opcodeIndex].customCode
    return code.decode() if isinstance(code, bytes) else (code or "")


def _signature_outputs(model: schema.ModelT) -> dict[str, int]:
    signatures = model.signatureDefs or []
    return {_name(t.name): int(t.tensorIndex) for t in signatures[0].outputs} if signatures else {}


def postprocess_outputs(model: schema.ModelT) -> list[int]:
    """Tensor indices of boxes, classes, scores and num_detections.

    SSD models end in the TFLite_Detection_PostProcess op: its output ports, in order. Models
    that decode detections with ordinary ops (CenterNet) name them in their signature.
    """
    graph = model.subgraphs[0]
    ops = [op for op in graph.operators if custom_code(model, op) == POSTPROCESS_OP]
    if len(ops) == 1:
        return [int(i) for i in ops[0].outputs]
    if ops:
        raise ModelStructureError(f"expected one {POSTPROCESS_OP} op in the converted model, found {len(ops)}")
    named = _signature_outputs(model)
    missing = [name for name in OUTPUT_ORDER if name not in named]
    if missing:
        raise ModelStructureError(f"no {POSTPROCESS_OP} op and no signature outputs named {', '.join(missing)}")
    return [named[name] for name in OUTPUT_ORDER]


def postprocess_option(model: schema.ModelT, name: str) -> int | None:
    """An integer option of the detection op (e.g. num_classes, max_detections), None without the op."""
    from flatbuffers import flexbuffers

    ops = [op for op in model.subgraphs[0].operators if custom_code(model, op) == POSTPROCESS_OP]
    if len(ops) != 1 or ops[0].customOptions is None:
        return None
    options = flexbuffers.Loads(bytes(bytearray(ops[0].customOptions)))
    value = options.get(name) if isinstance(options, dict) else None
    return int(value) if value is not None else None


def reorder_detection_outputs(model_bytes: bytes) -> bytes:
    """The model with its subgraph outputs set to boxes, classes, scores, num_detections."""
    model = read(model_bytes)
    wanted = postprocess_outputs(model)
    graph = model.subgraphs[0]
    if sorted(int(i) for i in graph.outputs) != sorted(wanted):
        raise ModelStructureError(f"model outputs {list(graph.outputs)} are not the detection outputs {wanted}")
    graph.outputs = wanted
    return write(model)


def add_detection_signature(model_bytes: bytes, input_name: str = "input") -> bytes:
    """The model with a `serving_default` signature naming its input and the op's four outputs.

    Frozen TF1 graphs convert without signatures; with one, name-based readers (and the output
    order check) see the same names as in every other export.
    """
    model = read(model_bytes)
    if model.signatureDefs:
        raise ModelStructureError("the model already has signatures")
    graph = model.subgraphs[0]

    def tensor_map(name: str, index: int) -> schema.TensorMapT:
        entry = schema.TensorMapT()
        entry.name, entry.tensorIndex = name, index
        return entry

    signature = schema.SignatureDefT()
    signature.signatureKey = "serving_default"
    signature.subgraphIndex = 0
    signature.inputs = [tensor_map(input_name, int(graph.inputs[0]))]
    signature.outputs = [tensor_map(name, index) for name, index in zip(OUTPUT_ORDER, postprocess_outputs(model))]
    model.signatureDefs = [signature]
    return write(model)


def set_metadata_buffer(model_bytes: bytes, name: str, data: bytes) -> bytes:
    """The model with a named metadata entry holding `data` (replacing an older one)."""
    import numpy as np

    model = read(model_bytes)
    entries = [m for m in (model.metadata or []) if _name(m.name) != name]
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(data, dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers) - 1
    model.metadata = entries + [entry]
    return write(model)


def _name(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


def metadata_buffer(model_bytes: bytes, name: str) -> bytes | None:
    """The bytes of the named metadata entry, if the model has one."""
    model = read(model_bytes)
    for entry in model.metadata or []:
        if _name(entry.name) == name:
            data = model.buffers[entry.buffer].data
            return bytes(bytearray(data)) if data is not None else b""
    return None


@dataclasses.dataclass(frozen=True)
class OutputLayout:
    """Where each detection output sits: by position in the subgraph and by signature name."""

    by_position: tuple[int, ...]        # tensor index of outputs 0..3
    by_signature: dict[str, int]        # signature output name -> tensor index
    postprocess_ports: tuple[int, ...]  # tensor index of the op's ports 0..3


def output_layout(model_bytes: bytes) -> OutputLayout:
    model = read(model_bytes)
    graph = model.subgraphs[0]
    return OutputLayout(
        by_position=tuple(int(i) for i in graph.outputs),
        by_signature=_signature_outputs(model),
        postprocess_ports=tuple(postprocess_outputs(model)),
    )


def check_output_order(model_bytes: bytes) -> None:
    """Raises ModelStructureError unless outputs are boxes, classes, scores, num by position
    and the signature names point at the same tensors."""
    layout = output_layout(model_bytes)
    if layout.by_position != layout.postprocess_ports:
        raise ModelStructureError(
            f"outputs by position {layout.by_position} != {POSTPROCESS_OP} ports {layout.postprocess_ports}")
    by_name = tuple(layout.by_signature.get(name, -1) for name in OUTPUT_ORDER)
    if by_name != layout.by_position:
        raise ModelStructureError(
            f"signature outputs {dict(zip(OUTPUT_ORDER, by_name))} do not match positions {layout.by_position}")


def pin_uint8_input(model_bytes: bytes, scale: float, zero_point: int) -> bytes:
    """Sets the uint8 input's quantization so its values are raw pixels, whatever calibration saw.

    Apps feed camera bytes to a uint8 model as they are. The converter derives the input's
    scale from the calibration images' range, which only matches pixel semantics when those
    images reach both 0 and 255. The input feeds a single QUANTIZE op (uint8 -> int8), which
    requantizes between any two scales, so pinning the input's parameters is exact.
    """
    import numpy as np

    model = read(model_bytes)
    graph = model.subgraphs[0]
    (index,) = (int(i) for i in graph.inputs)
    tensor = graph.tensors[index]
    if tensor.type != schema.TensorType.UINT8:
        raise ModelStructureError("the model input is not uint8")
    consumers = [op for op in graph.operators if index in [int(i) for i in op.inputs]]
    codes = [model.operatorCodes[op.opcodeIndex] for op in consumers]
    builtins = [max(int(c.builtinCode), int(c.deprecatedBuiltinCode)) for c in codes]
    if builtins != [schema.BuiltinOperator.QUANTIZE]:
        raise ModelStructureError(f"the uint8 input feeds {builtins}, not a single QUANTIZE op")
    tensor.quantization.scale = np.array([scale], np.float32)
    tensor.quantization.zeroPoint = np.array([zero_point], np.int64)
    return write(model)

"""What a phone will make of a .tflite detector, found out before the app is installed: its input
and normalisation, its outputs and their roles, its metadata and labels, its custom ops, the ops the
converter's model analyzer says the LiteRT GPU delegate would not run, and its slowest ops on the CPU.

The op latencies come from running each op alone, as a one-op model on the tensors it sees when
the whole model runs on a real picture, with LiteRT's default CPU kernels (XNNPACK), one thread.
(The benchmark tool's per-op profiler is not in the Python packages; differences of timed graph
prefixes, tried first, were noise on small models.) Their sum is near, not equal to, the whole
model's time: a whole graph shares caches and XNNPACK runs it as one partition.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import io
import re
import statistics
import time
from typing import Sequence

import numpy as np

from od_tools.export import images, metadata, runtime, tflite_model
from od_tools.label_map import ANDROID_LABELS_FILE, parse_android_labels

ROLES = ("boxes", "classes", "scores", "num_detections")  # the detection outputs, in their port order
TOP_OPS = 10
WHOLE_MODEL_RUNS = 10
# The custom ops the GPU delegate implements (tensorflow/lite/tools/versioning/gpu_compatibility.cc).
GPU_CUSTOM_OPS = ("Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D", "Resampler")


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    scale: float | None = None   # quantized tensors: real = scale * (q - zero_point)
    zero_point: int | None = None
    role: str = ""

    def describe(self) -> str:
        quantized = f", q: real = {self.scale:.6g} * (q - {self.zero_point})" if self.scale else ""
        role = f"{self.role}: " if self.role else ""
        return f"{role}{self.name} {self.dtype} {list(self.shape)}{quantized}"


@dataclasses.dataclass(frozen=True)
class OpTime:
    index: int
    op: str
    ms: float


@dataclasses.dataclass(frozen=True)
class Readiness:
    input: TensorInfo
    normalization: str            # how a pixel becomes the input value
    outputs: tuple[TensorInfo, ...]
    metadata_name: str            # "" without TFLite Model Metadata
    metadata_version: str
    labels: tuple[str, ...]       # labelmap.txt zipped into the model
    op_counts: dict[str, int]
    custom_ops: tuple[str, ...]
    gpu_unsupported: tuple[str, ...]  # "Op#N NAME: why", the ops the GPU delegate would leave to the CPU
    gpu_verdict: str              # how that was found (and what was not checked)
    slowest_ops: tuple[OpTime, ...] = ()
    ops_alone_ms: float = 0.0     # the sum over all ops, each run alone
    model_ms: float = 0.0         # the whole model, same kernels and thread count
    profile_runs: int = 0

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Readiness":
        tensor = lambda d: TensorInfo(**{**d, "shape": tuple(d["shape"])})  # noqa: E731
        return cls(**{**data, "input": tensor(data["input"]), "outputs": tuple(tensor(d) for d in data["outputs"]),
                      "labels": tuple(data["labels"]), "custom_ops": tuple(data["custom_ops"]),
                      "gpu_unsupported": tuple(data["gpu_unsupported"]),
                      "slowest_ops": tuple(OpTime(**d) for d in data["slowest_ops"])})

    def lines(self) -> list[str]:
        labels = (f"{len(self.labels)} labels ({', '.join(self.labels[:5])}{', ...' if len(self.labels) > 5 else ''})"
                  if self.labels else "no labels")
        meta = (f"metadata '{self.metadata_name}' version {self.metadata_version or '-'}, {labels}"
                if self.metadata_name else f"no TFLite Model Metadata, {labels}")
        gpu = "; ".join(self.gpu_unsupported) if self.gpu_unsupported else "no op found that it would not run"
        lines = [f"  input {self.input.describe()}; {self.normalization}",
                 "  outputs " + "; ".join(o.describe() for o in self.outputs),
                 f"  {meta}",
                 f"  {sum(self.op_counts.values())} ops ({', '.join(f'{n} {c}' for n, c in self.op_counts.items())})",
                 f"  custom ops: {', '.join(self.custom_ops) or 'none'}",
                 f"  GPU delegate: {gpu} ({self.gpu_verdict})"]
        if self.slowest_ops:
            lines.append(f"  slowest ops on the CPU (each alone, XNNPACK, 1 thread, median of {self.profile_runs}; "
                         f"all ops {self.ops_alone_ms:.2f} ms alone, the model {self.model_ms:.2f} ms): "
                         + ", ".join(f"Op#{t.index} {t.op} {t.ms:.3f} ms" for t in self.slowest_ops))
        return lines


def op_name(model, op) -> str:
    """An op's name as the analyzer prints it: CONV_2D, or the custom op's own name."""
    code = model.operatorCodes[op.opcodeIndex]
    custom = tflite_model.custom_code(model, op)
    if custom:
        return custom
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    return _builtin_names().get(builtin, str(builtin))


@functools.lru_cache(maxsize=1)
def _builtin_names() -> dict[int, str]:
    return {v: k for k, v in vars(tflite_model.schema.BuiltinOperator).items() if not k.startswith("_")}


def _tensor(detail: dict, role: str = "") -> TensorInfo:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return TensorInfo(name=detail["name"], dtype=np.dtype(detail["dtype"]).name,
                      shape=tuple(int(s) for s in detail["shape"]),
                      scale=float(scale) if scale else None, zero_point=int(zero_point) if scale else None, role=role)


def _analyze(model_bytes: bytes) -> str:
    import tensorflow as tf

    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        tf.lite.experimental.Analyzer.analyze(model_content=model_bytes, gpu_compatibility=True)
    return text.getvalue()


def analyzer_flags(text: str) -> list[str]:
    """"Op#N NAME: reason" for each op the analyzer's GPU check flags in its report `text`."""
    flagged, op = [], ""
    for line in text.splitlines():
        found = re.match(r"\s*Op#(\d+) (\S+?)\(", line)
        if found:
            op = f"Op#{found.group(1)} {found.group(2)}"
        elif line.startswith("GPU COMPATIBILITY WARNING:") and not line.startswith("GPU COMPATIBILITY WARNING: Subgraph"):
            flagged.append(f"{op}: {line.split(': ', 1)[1].strip()}")
    return flagged


@functools.lru_cache(maxsize=1)
def analyzer_checks_gpu() -> bool:
    """Whether this TensorFlow's model analyzer really checks GPU delegate compatibility: it must flag
    NON_MAX_SUPPRESSION_V4, which the delegate does not implement. (The TF 2.20 wheel's flags nothing.)"""
    import tensorflow as tf

    nms = tf.function(lambda boxes, scores: {"kept": tf.image.non_max_suppression(boxes, scores, 5)},
                      input_signature=[tf.TensorSpec([10, 4], tf.float32), tf.TensorSpec([10], tf.float32)])
    probe = tf.lite.TFLiteConverter.from_concrete_functions([nms.get_concrete_function()], nms).convert()
    return bool(analyzer_flags(_analyze(probe)))


def gpu_check(model, model_bytes: bytes) -> tuple[tuple[str, ...], str]:
    """The ops the LiteRT GPU delegate would leave to the CPU, and how that was found: its custom
    ops (the delegate implements only a few of its own), plus what the converter's model analyzer
    flags when its GPU check is live in this TensorFlow."""
    flagged = [f"Op#{i} {tflite_model.custom_code(model, op)}: a custom op the GPU delegate does not implement"
               for i, op in enumerate(model.subgraphs[0].operators)
               if tflite_model.custom_code(model, op) and tflite_model.custom_code(model, op) not in GPU_CUSTOM_OPS]
    if not analyzer_checks_gpu():
        return tuple(flagged), ("builtin ops not checked: the model analyzer of this TensorFlow flags no op, "
                                "not even NON_MAX_SUPPRESSION_V4, which the GPU delegate lacks")
    analyzed = [f for f in analyzer_flags(_analyze(model_bytes)) if f.split(":")[0] not in
                {g.split(":")[0] for g in flagged}]
    return tuple(flagged + analyzed), "builtin ops checked by the converter's model analyzer"


def _has_data(model, tensor) -> bool:
    return bool(tensor.buffer) and model.buffers[tensor.buffer].data is not None \
        and len(model.buffers[tensor.buffer].data) > 0


def producers_of(model) -> dict[int, int]:
    """Tensor index -> the index of the op that outputs it."""
    return {int(t): i for i, op in enumerate(model.subgraphs[0].operators) for t in op.outputs}


def _constant_producers(model, op, producers: dict[int, int]) -> list[int]:
    """The ops that make `op`'s inputs from constants alone (float16 weights' DEQUANTIZE): they go
    with it, so that XNNPACK sees those inputs as the weights they are."""
    graph = model.subgraphs[0]
    found = []
    for tensor in op.inputs:
        k = producers.get(int(tensor))
        if k is not None and all(i < 0 or _has_data(model, graph.tensors[i]) for i in graph.operators[k].inputs):
            found.append(k)
    return found


def one_op_model(model, op_index: int, producers: dict[int, int] | None = None) -> tuple[bytes, list[int]]:
    """The model's op `op_index` alone (with the ops that make its inputs from constants): a small
    model with its constant inputs, and the indices (in the full model) of the tensors it takes as
    inputs, in order. No inputs: the op is computed from constants only, once at load time.
    `producers`: producers_of(model), when one model is cut many times."""
    schema = tflite_model.schema
    graph = model.subgraphs[0]
    op = graph.operators[op_index]
    producers = _constant_producers(model, op, producers if producers is not None else producers_of(model))
    kept = [graph.operators[k] for k in producers] + [op]
    used = sorted({i for o in kept for i in [*o.inputs, *o.outputs] if i >= 0})
    remap = {old: new for new, old in enumerate(used)}
    alone = schema.ModelT()
    alone.version = model.version
    codes = list(dict.fromkeys(o.opcodeIndex for o in kept))
    alone.operatorCodes = [model.operatorCodes[c] for c in codes]
    alone.buffers = [schema.BufferT()]
    tensors = []
    for old in used:
        tensor = copy.copy(graph.tensors[old])
        if _has_data(model, tensor):
            alone.buffers.append(model.buffers[tensor.buffer])
            tensor.buffer = len(alone.buffers) - 1
        else:
            tensor.buffer = 0
        tensors.append(tensor)
    made = {int(t) for k in producers for t in graph.operators[k].outputs}
    operators = []
    for o in kept:
        single = copy.copy(o)
        single.opcodeIndex = codes.index(o.opcodeIndex)
        single.inputs = [remap[i] if i >= 0 else -1 for i in o.inputs]
        single.outputs = [remap[i] for i in o.outputs]
        operators.append(single)
    runtime_inputs = [i for i in op.inputs if i >= 0 and i not in made and not _has_data(model, graph.tensors[i])]
    subgraph = schema.SubGraphT()
    subgraph.tensors = tensors
    subgraph.operators = operators
    subgraph.inputs = [remap[i] for i in runtime_inputs]
    subgraph.outputs = [remap[i] for i in op.outputs]
    alone.subgraphs = [subgraph]
    return tflite_model.write(alone), runtime_inputs


def _median_ms(runner, runs: int) -> float:
    runner.invoke()  # warm-up: XNNPACK packs weights on the first run
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runner.invoke()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def _time_alone(litert, alone: bytes, inputs: list[int], full, runs: int) -> float:
    """One op's median time with XNNPACK, or with the built-in kernels where XNNPACK takes no such op alone."""
    for kernels in (runtime.Kernels.XNNPACK, runtime.Kernels.BUILTIN):
        runner = litert.Interpreter(model_content=alone, num_threads=1,
                                    experimental_op_resolver_type=kernels.resolver(litert))
        try:
            runner.allocate_tensors()
            for slot, tensor in zip(runner.get_input_details(), inputs):
                runner.set_tensor(slot["index"], full.get_tensor(tensor))
            return _median_ms(runner, runs)
        except RuntimeError:
            if kernels is runtime.Kernels.BUILTIN:
                raise
    raise AssertionError("unreachable")


def profile_ops(model_bytes: bytes, pixels: np.ndarray, runs: int, model=None,
                info: runtime.DetectorInfo | None = None) -> tuple[list[OpTime], float]:
    """Each op's time alone on the tensors it meets when the model runs on `pixels` (HxWx3 uint8 at
    the model's input size), slowest first; and the whole model's time. `model` and `info`: the
    model read and its detector_info, when the caller has them."""
    from ai_edge_litert import interpreter as litert

    model = model if model is not None else tflite_model.read(model_bytes)
    info = info or runtime.detector_info(model_bytes)

    # The reference run keeps every intermediate tensor; XNNPACK would keep none of its partition's.
    full = litert.Interpreter(model_content=model_bytes, num_threads=1, experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=runtime.Kernels.BUILTIN.resolver(litert))
    full.allocate_tensors()
    detail = full.get_input_details()[0]
    value = images.to_model_input(pixels, detail["dtype"] == np.uint8, info.mean, info.std)
    full.set_tensor(detail["index"], value)
    full.invoke()
    producers = producers_of(model)
    times = []
    for index, op in enumerate(model.subgraphs[0].operators):
        alone, inputs = one_op_model(model, index, producers)
        if not inputs:  # constants only (float16 weights' DEQUANTIZE): computed once at load, not per run
            continue
        times.append(OpTime(index, op_name(model, op), round(_time_alone(litert, alone, inputs, full, runs), 4)))
    whole = litert.Interpreter(model_content=model_bytes, num_threads=1)
    whole.allocate_tensors()
    whole.set_tensor(whole.get_input_details()[0]["index"], value)
    # At least 10 runs of the whole model: one run slowed by a busy machine must not set the figure
    # the ops' sum is read against.
    return sorted(times, key=lambda t: -t.ms), _median_ms(whole, max(runs, WHOLE_MODEL_RUNS))


def _normalization(info: runtime.DetectorInfo, input_info: TensorInfo) -> str:
    if input_info.dtype == "uint8":
        if input_info.scale:
            return (f"uint8 pixels as they are (the model reads {input_info.scale:.6g} * "
                    f"(pixel - {input_info.zero_point}))")
        return "uint8 pixels as they are"
    return f"float input (pixel - {info.mean:g}) / {info.std:g}"


def _metadata(model_bytes: bytes) -> tuple[str, str]:
    buffer = tflite_model.metadata_buffer(model_bytes, metadata.METADATA_FIELD_NAME)
    if not buffer:
        return "", ""
    parsed = metadata.parse(buffer)
    decode = lambda v: v.decode() if isinstance(v, bytes) else (v or "")  # noqa: E731
    return decode(parsed.name) or "(unnamed)", decode(parsed.version)


def inspect(model_bytes: bytes, pixels: np.ndarray | None = None, profile_runs: int = 0) -> Readiness:
    """The phone-readiness facts of a .tflite detector; the op profile when given a picture (HxWx3
    uint8 at the model's input size) and `profile_runs` > 0. Raises
    tflite_model.ModelStructureError for a model that is not a detector."""
    model = tflite_model.read(model_bytes)
    roles = dict(zip(tflite_model.postprocess_outputs(model), ROLES))
    runner = runtime.make_interpreter(model_bytes, runtime.Interpreter.LITERT)
    runner.allocate_tensors()
    input_info = _tensor(runner.get_input_details()[0])
    outputs = tuple(_tensor(d, roles.get(d["index"], "")) for d in runner.get_output_details())
    names = [op_name(model, op) for op in model.subgraphs[0].operators]
    counts = dict(sorted({n: names.count(n) for n in set(names)}.items(), key=lambda item: (-item[1], item[0])))
    custom = tuple(dict.fromkeys(tflite_model.custom_code(model, op) for op in model.subgraphs[0].operators
                                 if tflite_model.custom_code(model, op)))
    files = metadata.associated_files(model_bytes)
    labels = tuple(parse_android_labels(files[ANDROID_LABELS_FILE].decode("utf-8")).values()) \
        if ANDROID_LABELS_FILE in files else ()
    name, version = _metadata(model_bytes)
    flagged, verdict = gpu_check(model, model_bytes)
    info = runtime.detector_info(model_bytes)
    result = Readiness(input=input_info, normalization=_normalization(info, input_info), outputs=outputs,
                       metadata_name=name, metadata_version=version, labels=labels, op_counts=counts,
                       custom_ops=custom, gpu_unsupported=flagged, gpu_verdict=verdict)
    if pixels is None or profile_runs <= 0:
        return result
    times, whole = profile_ops(model_bytes, pixels, profile_runs, model=model, info=info)
    return dataclasses.replace(result, slowest_ops=tuple(times[:TOP_OPS]),
                               ops_alone_ms=round(sum(t.ms for t in times), 3), model_ms=round(whole, 3),
                               profile_runs=profile_runs)


def lines_by_model(readiness: dict[str, Readiness], order: Sequence[str]) -> list[str]:
    """The report's phone-readiness section: each model's facts under its name."""
    lines = ["", "Phone readiness (LiteRT):"]
    for name in order:
        if name in readiness:
            lines += [f"{name}:", *readiness[name].lines()]
    return lines

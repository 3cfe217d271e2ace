"""One export, end to end: the OD API's SavedModels, TFLite per quantization, metadata, parity, report.

Everything lands in a temporary folder beside `output_directory` and is renamed into place
only when every model passed its parity check, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from od_tools.common.errors import UserError
from od_tools.common.files import atomic_dir, sha256
from od_tools.common.progress import Progress, report_status
from od_tools.config import PipelineProto, Prepared, checkpoints, fixed_input_size, meta_architecture
from od_tools.evaluation.charts import PER_CLASS_CHART, write_per_class_chart
from od_tools.evaluation.coco import Accuracy, accuracy
from od_tools.export import (convert, float_layers, images, int8_debug, latency, metadata, parity, readiness, report,
                             runtime, tflite_graph, tflite_model)
from od_tools.export.convert import Quantization
from od_tools.label_map import ANDROID_LABELS_FILE, LabelMap, android_labels_text
from od_tools.modeling import Detections, Detector, inference_mode, load_model


CALIBRATION_SCAN = 20        # training records read (labels only) per calibration image, to choose across classes
MIN_CALIBRATION_SCAN = 2000


class ParityError(UserError):
    """A TFLite model strayed too far from the SavedModel; nothing was written."""


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    quantizations: tuple[Quantization, ...] = (Quantization.FLOAT32,)
    max_detections: int = 10
    num_calibration_images: int = 100
    num_parity_images: int = 100
    parity_score_threshold: float = 0.5
    float_min_mean_iou: float = 0.99
    int8_min_mean_iou: float = 0.95
    model_name: str = "od_toolchain detector"
    version: str = "1"
    op_profile_runs: int = 3  # the readiness report's per-op CPU times: runs per op (0: no profile)
    int8_debug: bool = False  # the quantization debugger's per-layer errors: int8_debug.csv, .png, the report
    int8_float_layers: str = ""  # "", "auto" or tensor names: int8 layers kept in float
    int8_max_ap50_drop: float = 0.01  # auto: stop once int8 AP50 is this close to float32's
    int8_max_float_layers: int = 10  # auto: the layer budget

    def min_mean_iou(self, quantization: Quantization) -> float:
        return self.float_min_mean_iou if quantization.is_float else self.int8_min_mean_iou

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "quantizations": [q.value for q in self.quantizations]}


def _log(message: str) -> None:
    print(f"export: {message}", file=sys.stderr, flush=True)
    report_status(f"export: {message}")


def _check_options(options: ExportOptions) -> None:
    if not options.quantizations:
        raise UserError("--quantization: give at least one of float32, float16, dynamic_range, int8")
    if options.max_detections < 1:
        raise UserError(f"--max_detections={options.max_detections}; use 1 or more")
    if options.num_parity_images < 1:
        raise UserError(f"--num_parity_images={options.num_parity_images}; use 1 or more")
    if (options.int8_debug or options.int8_float_layers) and Quantization.INT8 not in options.quantizations:
        flag = "--int8_debug" if options.int8_debug else "--int8_float_layers"
        raise UserError(f"{flag} is about the int8 model: add int8 to --quantization")
    if options.int8_max_float_layers < 1 or options.int8_max_ap50_drop < 0:
        raise UserError(f"--int8_max_float_layers={options.int8_max_float_layers}, --int8_max_ap50_drop="
                        f"{options.int8_max_ap50_drop}: use a budget of 1 or more layers and a drop of 0 or more")
    if options.op_profile_runs < 0:
        raise UserError(f"--op_profile_runs={options.op_profile_runs}; use 0 (no per-op profile) or more")
    if Quantization.INT8 in options.quantizations and options.num_calibration_images < 1:
        raise UserError(f"--num_calibration_images={options.num_calibration_images}: int8 calibration "
                        "needs a representative set; use 1 or more (100 is typical)")


def _labels(prepared: Prepared, label_map: LabelMap, label_map_source: str) -> tuple[str, ...]:
    model_classes = prepared.num_classes
    if label_map.num_classes != model_classes:
        raise UserError(f"{label_map_source}: the label map has {label_map.num_classes} classes but the model "
                        f"predicts {model_classes}; use the label map the model was trained with")
    return tuple(label_map.android_labels())


def _representative(prepared: Prepared, count: int, height: int, width: int) -> list[images.LabeledImage]:
    """`count` training images for int8 calibration, chosen across the classes (the rarest first) from
    the first CALIBRATION_SCAN * count records, so that every class's activations set the ranges."""
    field = "train_input_reader.tf_record_input_reader.input_path"
    files = images.match_files(prepared.pipeline.train_input_paths, field)
    classes = images.record_classes(files, max(MIN_CALIBRATION_SCAN, CALIBRATION_SCAN * count))
    calibration = images.read_chosen(files, images.stratified_choice(classes, count), height, width)
    if not calibration:
        raise UserError(f"{files[0]}: the representative set for int8 calibration is empty (no records in "
                        f"{field}); point train_input_reader at the training TFRecords")
    return calibration


def build_tflite(tflite_saved_model: str, quantization: Quantization, description: metadata.DetectorDescription,
                 representative: Callable | None) -> tuple[bytes, float]:
    """Converts, orders outputs, pins a uint8 input to raw pixels, attaches metadata; checks order."""
    start = time.monotonic()
    model = convert.convert(tflite_saved_model, quantization, representative)
    seconds = time.monotonic() - start
    return finish_converted(model, quantization, description), seconds


def finish_converted(model: bytes, quantization: Quantization, description: metadata.DetectorDescription) -> bytes:
    """A converter's output as the export writes it: outputs ordered, a uint8 input pinned to raw
    pixels, metadata attached, the order checked."""
    model = tflite_model.reorder_detection_outputs(model)
    if quantization.uint8_input:
        # (q - 127.5) / 127.5 cannot be written with an integer zero point: 127 is within half a
        # grey level of it.
        model = tflite_model.pin_uint8_input(model, 1.0 / tflite_graph.INPUT_STD, 127)
    return finish_tflite(model, dataclasses.replace(description, uint8_input=quantization.uint8_input))


def finish_tflite(model: bytes, description: metadata.DetectorDescription) -> bytes:
    """Attaches the metadata to a converted detector whose outputs are in order, and checks that order
    in the flatbuffer and at run time on both interpreters."""
    model = metadata.attach(model, description)
    tflite_model.check_output_order(model)
    for interpreter in runtime.Interpreter:
        runtime.check_output_order_at_runtime(model, interpreter)
    return model


def export_detector(prepared: Prepared, trained_checkpoint: str, label_map: LabelMap, output_directory: str,
                    options: ExportOptions = ExportOptions(), config_source: str = "pipeline config",
                    label_map_source: str = "label map") -> report.ExportReport:
    """Exports the detector of `prepared` with the weights of `trained_checkpoint`."""
    started = time.monotonic()
    _check_options(options)
    inference_mode()  # also for the models the OD API's exporters build themselves
    labels = _labels(prepared, label_map, label_map_source)
    prefix = checkpoints.resolve(trained_checkpoint, "--trained_checkpoint_dir").prefix
    checkpoints.check_complete(prefix)
    load_model(prepared.config, prefix)  # fits the config, or a one-line error before anything is written
    size = fixed_input_size(prepared.config)
    if size is None:
        raise UserError(f"{config_source}: TFLite needs a fixed input size (image_resizer {{ fixed_shape_resizer }})")
    height, width = size
    field = "eval_input_reader[0].tf_record_input_reader.input_path"
    val_files = images.match_files(prepared.pipeline.eval_input_paths, field)
    held_out = images.read_images(val_files, options.num_parity_images, height, width)
    if not held_out:
        raise UserError(f"{val_files[0]}: no held-out images for the parity check (no records in {field}); point "
                        "eval_input_reader at the validation TFRecords")
    calibration: list[images.LabeledImage] = []
    if Quantization.INT8 in options.quantizations:
        calibration = _representative(prepared, options.num_calibration_images, height, width)

    with atomic_dir(output_directory) as out:
        _log(f"writing SavedModels from {prefix}")
        t0 = time.monotonic()
        inference_dir = tflite_graph.export_inference_graph(prepared.config, prefix, str(out))
        tflite_dir = str(out / tflite_graph.TFLITE_DIR)
        tflite_graph.export_tflite_graph(prepared.config, prefix, tflite_dir, options.max_detections)
        saved_model_seconds = time.monotonic() - t0
        reference = reference_detections(Detector.from_saved_model(inference_dir), held_out)
        saved_model_accuracy = held_out_accuracy(held_out, reference, labels)
        reference = tflite_reference(prepared.config, reference)

        description = metadata.DetectorDescription(
            name=options.model_name, description=f"Object detector exported from {config_source}.",
            version=options.version, input_height=height, input_width=width, uint8_input=False,
            mean=tflite_graph.INPUT_MEAN, std=tflite_graph.INPUT_STD, labels=labels)
        results, ready, worst_layers, search = _write_models(tflite_dir, out, description, calibration, held_out,
                                                             reference, labels, options)
        (out / ANDROID_LABELS_FILE).write_text(android_labels_text(labels), encoding="utf-8")
        result = report.ExportReport(
            config_source=config_source, checkpoint=prefix, input_size=(height, width),
            input_mean=tflite_graph.INPUT_MEAN, input_std=tflite_graph.INPUT_STD,
            max_detections=options.max_detections, labels=labels,
            num_parity_images=len(held_out), num_calibration_images=len(calibration),
            parity_score_threshold=options.parity_score_threshold, saved_model_accuracy=saved_model_accuracy,
            saved_model_seconds=round(saved_model_seconds, 1), total_seconds=round(time.monotonic() - started, 1),
            models=tuple(results), options=options.to_json(), readiness=ready,
            int8_worst_layers=tuple(worst_layers), int8_float_layers=search,
            calibration_per_class=_images_per_class(calibration, labels),
            crowding=parity.crowding(reference, options.max_detections, options.parity_score_threshold))
        result.write(out)
        (out / report.REPORT_TEXT).write_text(result.table(), encoding="utf-8")
        write_per_class_chart(result.accuracies(), str(out / PER_CLASS_CHART),
                              f"Per-class AP50 on {len(held_out)} held-out images")
        if not result.passed:
            print(result.table(), file=sys.stderr)
            failed = [m for m in result.models if not m.passed]
            worst = ", ".join(f"{m.quantization} mean IoU {min(p.mean_iou for p in m.parity.values()):.4f} "
                              f"< {m.min_mean_iou}" for m in failed)
            raise ParityError(f"parity check failed: {worst} on {len(held_out)} held-out images; nothing was "
                              "written (lower the threshold flags only if the drift is acceptable)")
    return result


def _write_models(tflite_dir: str, out: Path, description: metadata.DetectorDescription,
                  calibration: Sequence[images.LabeledImage], held_out: Sequence[images.LabeledImage],
                  reference: Sequence[Detections], labels: Sequence[str], options: ExportOptions):
    """Each --quantization converted, written and measured (parity, accuracy, phone readiness); int8
    diagnosed when asked. Returns the results, the readiness by quantization, int8's worst layers and
    its float-layer search."""
    results: list[report.TFLiteResult] = []
    ready: dict[str, readiness.Readiness] = {}
    worst_layers, search = [], None
    for quantization in options.quantizations:
        _log(f"converting {quantization.value}"
             + (f" (calibrating on {len(calibration)} images)" if quantization.uint8_input else ""))
        representative = None
        if quantization.uint8_input:
            representative = lambda: images.representative_set(  # noqa: E731
                calibration, tflite_graph.INPUT_MEAN, tflite_graph.INPUT_STD)
        model, seconds = build_tflite(tflite_dir, quantization, description, representative)
        if quantization is Quantization.INT8 and (options.int8_debug or options.int8_float_layers):
            model, worst_layers, search = _diagnose_int8(model, tflite_dir, representative, description, out,
                                                        held_out, labels, results, options)
        name = report.tflite_file_name(quantization.value)
        (out / name).write_bytes(model)
        results.append(_evaluate(model, quantization, name, seconds, held_out, reference, labels, options))
        _log(f"phone readiness of {name}")
        ready[quantization.value] = readiness.inspect(model, held_out[0].pixels, options.op_profile_runs)
    return results, ready, worst_layers, search


def _float32_ap50(tflite_dir: str, description: metadata.DetectorDescription, held_out: Sequence[images.LabeledImage],
                  labels: Sequence[str], results: Sequence[report.TFLiteResult]) -> float:
    """The float32 TFLite model's AP50 (ai_edge_litert): the export's, else one converted for it."""
    float32 = next((r for r in results if r.quantization == Quantization.FLOAT32.value), None)
    if float32:
        return float32.accuracy[runtime.Interpreter.LITERT.value].ap50
    model = finish_converted(convert.convert(tflite_dir, Quantization.FLOAT32), Quantization.FLOAT32, description)
    return held_out_accuracy(held_out, _detect_all(model, held_out), labels).ap50


def _images_per_class(calibration: Sequence[images.LabeledImage], labels: Sequence[str]) -> dict[str, int]:
    if not calibration:
        return {}
    counts = {label: 0 for label in labels}
    for image in calibration:
        for class_id in {int(c) for c in np.asarray(image.groundtruth.classes).reshape(-1)}:
            if 1 <= class_id <= len(labels):
                counts[labels[class_id - 1]] += 1
    return counts


def _diagnose_int8(model: bytes, tflite_dir: str, representative: Callable, description: metadata.DetectorDescription,
                   out: Path, held_out: Sequence[images.LabeledImage], labels: Sequence[str],
                   results: Sequence[report.TFLiteResult], options: ExportOptions):
    """--int8_debug and --int8_float_layers: the debugger's per-layer errors (written beside the
    models), then the int8 model with the chosen layers in float. Returns the model to export, the
    worst layers and the search (None without --int8_float_layers)."""
    _log(f"int8: quantization debugger on {len(held_out)} held-out images")
    debug_images = [images.to_model_input(im.pixels, False, tflite_graph.INPUT_MEAN, tflite_graph.INPUT_STD)
                    for im in held_out]
    layers = int8_debug.layer_errors(tflite_dir, representative, debug_images)
    int8_debug.write_csv(layers, out / int8_debug.DEBUG_CSV)
    int8_debug.write_plot(layers, out / int8_debug.DEBUG_PLOT, f"int8 error by layer on {len(held_out)} held-out images")
    if not options.int8_float_layers:
        return model, int8_debug.worst(layers), None
    calibrated = float_layers.Calibrated(tflite_dir, representative)
    first = calibrated.input_layers()
    chosen = float_layers.parse_float_layers(options.int8_float_layers, [l.tensor_name for l in layers], first)
    float_ap50 = _float32_ap50(tflite_dir, description, held_out, labels, results)
    models: dict[tuple[str, ...], bytes] = {(): model}

    def evaluate(names: Sequence[str]) -> float_layers.Step:
        key = tuple(names)
        if key not in models:
            models[key] = finish_converted(calibrated.quantize(key), Quantization.INT8, description)
        _log(f"int8 with {len(key)} float layers")
        found = _detect_all(models[key], held_out)
        return float_layers.Step(key, held_out_accuracy(held_out, found, labels).ap50, len(models[key]),
                                 round(_latency_ms(models[key], held_out[0].pixels), 2))

    if chosen:
        steps, pick = [evaluate(()), evaluate(chosen)], 1
    else:
        ranked = [l.tensor_name for l in int8_debug.worst(layers, len(layers)) if l.tensor_name not in first]
        steps, pick = float_layers.search(ranked, evaluate, float_ap50, options.int8_max_ap50_drop,
                                          options.int8_max_float_layers)
    search = float_layers.FloatLayerSearch(mode="names" if chosen else "auto", float_ap50=float_ap50,
                                           max_ap50_drop=options.int8_max_ap50_drop,
                                           max_layers=options.int8_max_float_layers, steps=tuple(steps), chosen=pick)
    return models[steps[pick].float_layers], int8_debug.worst(layers), search


def _detect_all(model: bytes, held_out: Sequence[images.LabeledImage]) -> list[Detections]:
    detector = runtime.TFLiteDetector(model, runtime.Interpreter.LITERT, input_mean=tflite_graph.INPUT_MEAN,
                                      input_std=tflite_graph.INPUT_STD)
    return [detector.detect(im.pixels) for im in held_out]


def _latency_ms(model: bytes, pixels: np.ndarray, runs: int = 20) -> float:
    """Median 1-thread latency in a process of its own (no TensorFlow thread pools beside it)."""
    with tempfile.TemporaryDirectory(prefix="od_latency_") as scratch:
        path, image = Path(scratch) / "model.tflite", Path(scratch) / "image.npy"
        path.write_bytes(model)
        np.save(image, pixels)
        return statistics.median(latency.time_in_subprocess(path, image, 1, runs))


def held_out_accuracy(held_out: Sequence[images.LabeledImage], detections: Sequence[Detections],
                      labels: Sequence[str]) -> Accuracy:
    """COCO AP and AP50, overall and per class (pycocotools, via od_tools.evaluation), of detections
    on the held-out images."""
    categories = {i + 1: label for i, label in enumerate(labels)}
    return accuracy([im.groundtruth for im in held_out], detections, categories)


def tflite_reference(config: PipelineProto, reference: Sequence[Detections]) -> list[Detections]:
    """The SavedModel's detections as the TFLite models are compared with them: for an SSD, one
    class per box, as its TFLite detection op keeps them (parity.one_class_per_box)."""
    if meta_architecture(config) != "ssd":
        return list(reference)
    threshold = config.model.ssd.post_processing.batch_non_max_suppression.iou_threshold
    return [parity.one_class_per_box(r, threshold) for r in reference]


def reference_detections(model: Detector, held_out: Sequence[images.LabeledImage],
                          batch_size: int = 8) -> list[Detections]:
    """SavedModel detections on the held-out images, in batches (its NMS dominates the time)."""
    found: list[Detections] = []
    with Progress("export: SavedModel on held-out images", total=len(held_out), unit="images") as progress:
        for start in range(0, len(held_out), batch_size):
            chunk = held_out[start:start + batch_size]
            found += model(np.stack([im.pixels for im in chunk]))
            progress.update(len(chunk))
    return found


def _evaluate(model: bytes, quantization: Quantization, name: str, seconds: float,
              held_out: Sequence[images.LabeledImage], reference: Sequence[Detections],
              labels: Sequence[str], options: ExportOptions) -> report.TFLiteResult:
    parities, accuracies = {}, {}
    for interpreter in runtime.Interpreter:
        detector = runtime.TFLiteDetector(model, interpreter, input_mean=tflite_graph.INPUT_MEAN,
                                          input_std=tflite_graph.INPUT_STD)
        found = [detector.detect(im.pixels) for im in held_out]
        parities[interpreter.value] = parity.compare(reference, found, options.parity_score_threshold,
                                                     max_detections=options.max_detections)
        accuracies[interpreter.value] = held_out_accuracy(held_out, found, labels)
    threshold = options.min_mean_iou(quantization)
    return report.TFLiteResult(
        quantization=quantization.value, file=name, size_bytes=len(model), sha256=sha256(model),
        convert_seconds=round(seconds, 1), input_type="uint8" if quantization.uint8_input else "float32",
        parity=parities, accuracy=accuracies, min_mean_iou=threshold,
        passed=all(p.mean_iou >= threshold for p in parities.values()))

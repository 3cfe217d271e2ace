"""One export, end to end: the OD API's SavedModels, TFLite per quantization, metadata, parity, report.

Everything lands in a temporary folder beside `output_directory` and is renamed into place
only when every model passed its parity check, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import time
from typing import Callable, Sequence

import numpy as np

from od_tools.common.errors import UserError
from od_tools.common.files import atomic_dir
from od_tools.common.progress import Progress, report_status
from od_tools.config import PipelineProto, Prepared, checkpoints, fixed_input_size, meta_architecture
from od_tools.evaluation.coco import coco_metrics
from od_tools.export import convert, images, metadata, parity, report, runtime, tflite_graph, tflite_model
from od_tools.export.convert import Quantization
from od_tools.label_map import ANDROID_LABELS_FILE, LabelMap, android_labels_text
from od_tools.modeling import Detections, Detector, check_complete, inference_mode, load_model


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

    def min_mean_iou(self, quantization: Quantization) -> float:
        return self.float_min_mean_iou if quantization.is_float else self.int8_min_mean_iou

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "quantizations": [q.value for q in self.quantizations]}


def tflite_file_name(quantization: Quantization) -> str:
    return f"detect_{quantization.value}.tflite"


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
    field = "train_input_reader.tf_record_input_reader.input_path"
    files = images.match_files(prepared.pipeline.train_input_paths, field)
    calibration = images.read_images(files, count, height, width)
    if not calibration:
        raise UserError(f"{files[0]}: the representative set for int8 calibration is empty (no records in "
                        f"{field}); point train_input_reader at the training TFRecords")
    return calibration


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_tflite(tflite_saved_model: str, quantization: Quantization, description: metadata.DetectorDescription,
                 representative: Callable | None) -> tuple[bytes, float]:
    """Converts, orders outputs, pins a uint8 input to raw pixels, attaches metadata; checks order."""
    start = time.monotonic()
    model = convert.convert(tflite_saved_model, quantization, representative)
    seconds = time.monotonic() - start
    model = tflite_model.reorder_detection_outputs(model)
    if quantization.uint8_input:
        # (q - 127.5) / 127.5 cannot be written with an integer zero point: 127 is within half a
        # grey level of it.
        model = tflite_model.pin_uint8_input(model, 1.0 / tflite_graph.INPUT_STD, 127)
    return finish_tflite(model, dataclasses.replace(description, uint8_input=quantization.uint8_input)), seconds


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
    check_complete(prefix)
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
        saved_model_ap50 = ap50(held_out, reference, labels)
        reference = tflite_reference(prepared.config, reference)

        description = metadata.DetectorDescription(
            name=options.model_name, description=f"Object detector exported from {config_source}.",
            version=options.version, input_height=height, input_width=width, uint8_input=False,
            mean=tflite_graph.INPUT_MEAN, std=tflite_graph.INPUT_STD, labels=labels)
        results = []
        for quantization in options.quantizations:
            _log(f"converting {quantization.value}"
                 + (f" (calibrating on {len(calibration)} images)" if quantization.uint8_input else ""))
            representative = None
            if quantization.uint8_input:
                representative = lambda: images.representative_set(  # noqa: E731
                    calibration, tflite_graph.INPUT_MEAN, tflite_graph.INPUT_STD)
            model, seconds = build_tflite(tflite_dir, quantization, description, representative)
            name = tflite_file_name(quantization)
            (out / name).write_bytes(model)
            results.append(_evaluate(model, quantization, name, seconds, held_out, reference, labels, options))
        (out / ANDROID_LABELS_FILE).write_text(android_labels_text(labels), encoding="utf-8")
        result = report.ExportReport(
            config_source=config_source, checkpoint=prefix, input_size=(height, width),
            input_mean=tflite_graph.INPUT_MEAN, input_std=tflite_graph.INPUT_STD,
            max_detections=options.max_detections, labels=labels,
            num_parity_images=len(held_out), num_calibration_images=len(calibration),
            parity_score_threshold=options.parity_score_threshold, saved_model_ap50=saved_model_ap50,
            saved_model_seconds=round(saved_model_seconds, 1), total_seconds=round(time.monotonic() - started, 1),
            models=tuple(results), options=options.to_json(),
            crowding=parity.crowding(reference, options.max_detections, options.parity_score_threshold))
        (out / report.REPORT_JSON).write_text(result.dumps(), encoding="utf-8")
        (out / report.REPORT_TEXT).write_text(result.table(), encoding="utf-8")
        if not result.passed:
            print(result.table(), file=sys.stderr)
            failed = [m for m in result.models if not m.passed]
            worst = ", ".join(f"{m.quantization} mean IoU {min(p.mean_iou for p in m.parity.values()):.4f} "
                              f"< {m.min_mean_iou}" for m in failed)
            raise ParityError(f"parity check failed: {worst} on {len(held_out)} held-out images; nothing was "
                              "written (lower the threshold flags only if the drift is acceptable)")
    return result


def ap50(held_out: Sequence[images.LabeledImage], detections: Sequence[Detections], labels: Sequence[str]) -> float:
    """COCO AP50 (pycocotools, via od_tools.evaluation) of detections on the held-out images."""
    categories = {i + 1: label for i, label in enumerate(labels)}
    return round(coco_metrics([im.groundtruth for im in held_out], detections, categories)["AP50"], 4)


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
    parities, ap50s = {}, {}
    for interpreter in runtime.Interpreter:
        detector = runtime.TFLiteDetector(model, interpreter, input_mean=tflite_graph.INPUT_MEAN,
                                          input_std=tflite_graph.INPUT_STD)
        found = [detector.detect(im.pixels) for im in held_out]
        parities[interpreter.value] = parity.compare(reference, found, options.parity_score_threshold,
                                                     max_detections=options.max_detections)
        ap50s[interpreter.value] = ap50(held_out, found, labels)
    threshold = options.min_mean_iou(quantization)
    return report.TFLiteResult(
        quantization=quantization.value, file=name, size_bytes=len(model), sha256=_sha256(model),
        convert_seconds=round(seconds, 1), input_type="uint8" if quantization.uint8_input else "float32",
        parity=parities, ap50=ap50s, min_mean_iou=threshold,
        passed=all(p.mean_iou >= threshold for p in parities.values()))

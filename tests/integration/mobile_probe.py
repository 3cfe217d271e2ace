"""Runs exported .tflite detectors on the mobile runtime, in MediaPipe's own venv.

Not a test itself: export tests start it with `@od_mobile_venv//:python` (MediaPipe pins
absl/numpy apart from TensorFlow) and assert on the JSON it prints. For each model it reports
  - the TFLite Model Metadata, decoded by the schema's generated reader that ships with
    MediaPipe (independent of the encoder under test), and the zipped associated files;
  - MediaPipe ObjectDetector detections on each image (normalized ymin, xmin, ymax, xmax);
  - the standalone ai_edge_litert interpreter's outputs by position.

    python mobile_probe.py request.json   # {"models": [...], "images": [...], "score_threshold": 0.5}
"""

from __future__ import annotations

import io
import json
import sys
import zipfile

import numpy as np


def _plain(value):
    """A flatbuffers object-API value as JSON-able data."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if hasattr(value, "__dict__"):
        return {k: _plain(v) for k, v in vars(value).items()}
    return value


def read_metadata(model: bytes) -> dict:
    from ai_edge_litert import schema_py_generated as schema
    from mediapipe.tasks.metadata import metadata_schema_py_generated as metadata_fb

    tflite = schema.Model.GetRootAsModel(model, 0)
    for i in range(tflite.MetadataLength()):
        entry = tflite.Metadata(i)
        if entry.Name() == b"TFLITE_METADATA":
            buffer = tflite.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
            if not metadata_fb.ModelMetadata.ModelMetadataBufferHasIdentifier(buffer, 0):
                return {"error": "metadata buffer lacks the M001 identifier"}
            root = metadata_fb.ModelMetadataT.InitFromObj(metadata_fb.ModelMetadata.GetRootAsModelMetadata(buffer, 0))
            return _plain(root)
    return {"error": "no TFLITE_METADATA entry"}


def associated_files(model: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(model)) as archive:
        return {info.filename: {"text": archive.read(info).decode("utf-8"), "compress_type": info.compress_type}
                for info in archive.infolist()}


def mediapipe_detections(path: str, images: list[str], score_threshold: float) -> list[list[dict]]:
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.ObjectDetectorOptions(base_options=BaseOptions(model_asset_path=path),
                                           score_threshold=score_threshold, max_results=-1)
    results = []
    with vision.ObjectDetector.create_from_options(options) as detector:
        for image_path in images:
            image = mp.Image.create_from_file(image_path)
            height, width = image.height, image.width
            found = []
            for d in detector.detect(image).detections:
                b = d.bounding_box
                found.append({
                    "box": [b.origin_y / height, b.origin_x / width,
                            (b.origin_y + b.height) / height, (b.origin_x + b.width) / width],
                    "label": d.categories[0].category_name,
                    "index": d.categories[0].index,
                    "score": d.categories[0].score,
                })
            results.append(found)
    return results


def litert_outputs(model: bytes) -> dict:
    from ai_edge_litert import interpreter as litert

    runner = litert.Interpreter(model_content=model)
    runner.allocate_tensors()
    signature = runner.get_signature_runner()
    return {
        "input": {"dtype": np.dtype(runner.get_input_details()[0]["dtype"]).name,
                  "shape": runner.get_input_details()[0]["shape"].tolist(),
                  "quantization": list(runner.get_input_details()[0]["quantization"])},
        "outputs_by_position": [{"index": int(d["index"]), "shape": d["shape"].tolist()}
                                for d in runner.get_output_details()],
        "outputs_by_signature": {name: int(d["index"]) for name, d in signature.get_output_details().items()},
    }


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as f:
        request = json.load(f)
    report = {}
    for path in request["models"]:
        with open(path, "rb") as f:
            model = f.read()
        report[path] = {
            "metadata": read_metadata(model),
            "associated_files": associated_files(model),
            "litert": litert_outputs(model),
            "mediapipe": mediapipe_detections(path, request.get("images", []), request.get("score_threshold", 0.5)),
        }
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

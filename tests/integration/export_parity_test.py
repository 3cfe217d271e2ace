"""The export's parity gate on real models, through the tool users run.

- A crowded scene: the demo detector on demo shapes packed 14-20 to an image, more than the
  TFLite models hold (--max_detections=5; the demo detector is sure of fewer than 10 of these
  small shapes in most images). In such an image the gate asks that each of the TFLite model's 5
  be one the SavedModel makes, not that it hold all of them, so the export
  passes, and the report says how many images had more and which --max_detections keeps them all.
- A really wrong TFLite model: int8 calibrated on black images (a representative set unlike the
  images the model sees), on the same crowded scene. Its detections are not the SavedModel's,
  and the gate still refuses it: exit 1, one line, nothing written.

Uses the cached demo detector (//od_tools/demo:detector) and //tests/fixtures:crowded_shapes.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from od_tools.datasets.annotations.geometry import Box
from od_tools.datasets.annotations.image_record import ExampleData, ObjectData
from od_tools.datasets.annotations.tf_example import serialize_example
from od_tools.export import images, parity, runtime
from od_tools.export.tflite_graph import INPUT_MEAN, INPUT_STD
from od_tools.modeling import Detector

ROOT = Path(os.environ["TEST_SRCDIR"]) / os.environ["TEST_WORKSPACE"]
DETECTOR = ROOT / "od_tools/demo/detector"
CROWDED = ROOT / "tests/fixtures/crowded_shapes"
TOOL = ROOT / "od_tools/export_tflite"
NUM_IMAGES = 20
MAX = 5  # --max_detections
CROWDED_VAL = f"eval_input_reader.tf_record_input_reader.input_path={CROWDED}/val.tfrecord-?????-of-?????"


def run_export(output: Path, *flags: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([str(TOOL), f"--trained_checkpoint_dir={DETECTOR}", f"--output_directory={output}",
                           f"--num_parity_images={NUM_IMAGES}", f"--override={CROWDED_VAL}", "--op_profile_runs=0",
                           *flags],
                          capture_output=True, text=True, env=env, timeout=900, check=False)


@pytest.fixture(scope="module")
def crowded_export(tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("crowded") / "export"
    result = run_export(output, "--quantization=float32", f"--max_detections={MAX}")
    assert result.returncode == 0, result.stderr[-3000:]
    (output / "stdout.txt").write_text(result.stdout)
    return output


@pytest.fixture(scope="module")
def report(crowded_export) -> dict:
    return json.loads((crowded_export / "report.json").read_text())


@pytest.fixture(scope="module")
def detections(crowded_export, report) -> tuple[list, list]:
    """The exported SavedModel's detections (one class per box, as the TFLite detection op keeps
    them; the demo's NMS IoU threshold is 0.6) and the float TFLite model's, on the held-out
    images as the export's gate saw them (resized to the model input)."""
    height, width = report["input_size"]
    pictures = images.read_images(sorted(str(p) for p in CROWDED.glob("val.tfrecord-*")), NUM_IMAGES, height, width)
    reference = Detector.from_saved_model(str(crowded_export / "saved_model"))
    tflite = runtime.TFLiteDetector((crowded_export / "detect_float32.tflite").read_bytes(), runtime.Interpreter.LITERT,
                                    input_mean=INPUT_MEAN, input_std=INPUT_STD)
    return ([parity.one_class_per_box(reference.detect(im.pixels), 0.6) for im in pictures],
            [tflite.detect(im.pixels) for im in pictures])


def test_a_crowded_scene_exports_and_the_report_says_so(crowded_export, report, detections):
    crowding = report["crowding"]
    counts = [int(np.count_nonzero(d.scores >= 0.5)) for d in detections[0]]
    assert crowding == {"num_images": sum(c > MAX for c in counts), "largest": max(counts), "max_detections": MAX}
    assert crowding["num_images"] >= NUM_IMAGES // 4, crowding  # 14-20 shapes in every image, 7 found on average
    shown = (crowded_export / "stdout.txt").read_text()
    assert (f"{crowding['num_images']} of {NUM_IMAGES} held-out images have more SavedModel detections with score "
            f">= 0.5 than --max_detections={MAX} (up to {crowding['largest']} in one image)") in shown
    assert f"export with --max_detections={crowding['largest']}" in shown
    (model,) = report["models"]
    for figures in model["parity"].values():
        assert figures["num_reference"] == sum(min(MAX, c) for c in counts)
        assert figures["mean_iou"] >= model["min_mean_iou"] == 0.99


def test_compared_unlike_with_unlike_the_same_model_would_have_failed(detections):
    """What the gate did before: every confident SavedModel detection against the TFLite model's 5."""
    reference, found = detections
    assert parity.compare(reference, found).mean_iou < 0.95
    assert parity.compare(reference, found, max_detections=MAX).mean_iou >= 0.99


def black_records(path: Path, count: int = 8) -> Path:
    """Black 256x256 JPEGs with one box each: a representative set unlike any real image."""
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((256, 256, 3), np.uint8)).save(buffer, format="JPEG")
    encoded = buffer.getvalue()
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i in range(count):
            writer.write(serialize_example(ExampleData(
                encoded=encoded, size_bytes=len(encoded), image_format="jpeg", width=256, height=256,
                filename=f"black_{i}.jpg", source_id=str(i + 1), sha256=f"{i:064d}",
                objects=(ObjectData(Box(0.25, 0.25, 0.75, 0.75), 1, "circle", False, 128.0 * 128.0, False),))))
    return path


def test_a_really_wrong_tflite_still_fails_the_gate(tmp_path):
    calibration = black_records(tmp_path / "black.tfrecord")
    output = tmp_path / "out"
    result = run_export(output, "--quantization=int8", "--num_calibration_images=8",
                        f"--override=train_input_reader.tf_record_input_reader.input_path={calibration}")
    assert result.returncode == 1, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("export_tflite: error: ")]
    assert len(errors) == 1 and "parity check failed: int8 mean IoU" in errors[0], result.stderr[-3000:]
    mean_iou = float(errors[0].split("mean IoU ")[1].split(" ")[0])
    assert mean_iou < 0.8, errors[0]  # really wrong, not merely below a strict bar
    assert "detect_int8.tflite" in result.stderr  # the report is shown
    assert not output.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]

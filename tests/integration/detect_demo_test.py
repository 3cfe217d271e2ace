"""`detect` and `eval --model` on the cached demo export (//od_tools/demo:tflite), every model form.

- detections.json, scored by pycocotools against images.json, gives the AP50 the export report
  gives for the SavedModel and for each TFLite (within 0.01);
- a video made from demo pictures round-trips: frame count, frame rate, and per frame the
  detections of the same frames run as pictures;
- --compare draws two models side by side with their agreement; a bare detect.tflite names its
  classes from its own metadata; eval takes a .tflite;
- bad inputs: one line naming the file, exit 1, no output folder.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from od_tools import inference

RUNFILES = Path(os.environ["TEST_SRCDIR"])
ROOT = RUNFILES / os.environ["TEST_WORKSPACE"]
EXPORT = ROOT / "od_tools/demo/tflite"
DATASET = ROOT / "od_tools/demo/dataset"
VAL_IMAGES = DATASET / "coco/images/val"
DETECT = ROOT / "od_tools/detect"
EVAL = ROOT / "od_tools/eval"
REPORT = json.loads((EXPORT / "report.json").read_text())
DEMO_LABELS = {"circle", "square", "triangle"}
AP50_TOLERANCE = 0.01  # the bar: detect's JSON scores as the export report does


def val_records() -> str:
    (record,) = sorted(DATASET.glob("val.tfrecord-*"))
    return str(record)


def pycocotools_ap50(folder: Path) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(folder / "images.json"))
        found = truth.loadRes(str(folder / "detections.json"))
        evaluation = COCOeval(truth, found, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[1])


def report_ap50(model: str) -> float:
    if model == "saved_model":
        return REPORT["saved_model_ap50"]
    (entry,) = [m for m in REPORT["models"] if m["file"] == model]
    return entry["ap50"]["ai_edge_litert"]


@pytest.mark.parametrize("model", ["saved_model", "detect_float32.tflite", "detect_float16.tflite",
                                   "detect_dynamic_range.tflite", "detect_int8.tflite"])
def test_detections_json_scores_the_export_reports_ap50(tmp_path, model):
    loaded = inference.load(str(EXPORT / model))
    assert set(loaded.labels.values()) == DEMO_LABELS
    summary = inference.run(loaded, val_records(), inference.DetectSettings(
        output_dir=str(tmp_path / "out"), min_score=0.0, output=inference.OutputOptions(save_images=False)))
    assert summary.pictures == REPORT["num_parity_images"] and not summary.skipped
    ap50 = pycocotools_ap50(tmp_path / "out")
    print(f"{model}: detect AP50 {ap50:.4f}, export report {report_ap50(model):.4f}")
    assert abs(ap50 - report_ap50(model)) <= AP50_TOLERANCE


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> None:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, frames[0].shape[1::-1])
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()


def decoded_frames(path: Path) -> tuple[list[np.ndarray], float]:
    import cv2

    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame[..., ::-1].copy())
    capture.release()
    return frames, fps


def test_a_video_round_trips_frame_for_frame(tmp_path):
    from PIL import Image

    pictures = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(VAL_IMAGES.glob("*.jpg"))[:24]]
    video = tmp_path / "clip.mp4"
    write_video(video, pictures, fps=12.0)
    model = inference.load(str(EXPORT / "detect_int8.tflite"))
    inference.run(model, str(video), inference.DetectSettings(output_dir=str(tmp_path / "video_out")))

    annotated, fps = decoded_frames(tmp_path / "video_out/clip.mp4")
    assert (len(annotated), fps) == (24, 12.0)
    assert annotated[0].shape == pictures[0].shape
    lines = [json.loads(line) for line in (tmp_path / "video_out/clip.mp4.jsonl").read_text().splitlines()]
    assert [line["frame"] for line in lines] == list(range(24))

    frames, _ = decoded_frames(video)  # the very pixels detect saw, run as pictures
    folder = tmp_path / "frames"
    folder.mkdir()
    for k, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{k:03d}.png")
    inference.run(model, str(folder), inference.DetectSettings(output_dir=str(tmp_path / "frames_out")))
    as_pictures = json.loads((tmp_path / "frames_out/detections.json").read_text())
    assert sum(len(line["detections"]) for line in lines) == len(as_pictures) > 0
    for k, line in enumerate(lines):
        mine = [(d["category_id"], d["bbox"], d["score"]) for d in line["detections"]]
        theirs = [(d["category_id"], d["bbox"], d["score"]) for d in as_pictures if d["image_id"] == k + 1]
        assert mine == theirs, f"frame {k}"


def test_compare_draws_both_models_with_their_agreement(tmp_path):
    from PIL import Image

    source = tmp_path / "photos"
    source.mkdir()
    for path in sorted(VAL_IMAGES.glob("*.jpg"))[:6]:
        (source / path.name).write_bytes(path.read_bytes())
    out = tmp_path / "compare"
    result = subprocess.run([str(DETECT), f"--model={EXPORT / 'saved_model'}",
                             f"--compare={EXPORT / 'detect_int8.tflite'}", f"--source={source}",
                             f"--output_dir={out}"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "agreement of" in result.stdout and "pictures/s" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pictures"] == 6 and summary["agreement"]["matched_fraction"] >= 0.8
    lines = (out / "agreement.jsonl").read_text().splitlines()
    assert len(lines) == 6
    picture = Image.open(out / "00000.png" if (out / "00000.png").exists() else sorted(out.glob("*.jpg"))[0])
    assert picture.size[0] > 2 * 256  # two panels side by side
    assert (source / "00000.png").exists() or len(list(source.iterdir())) == 6  # inputs untouched


def test_a_bare_android_tflite_names_its_classes_from_its_metadata(tmp_path):
    lone = tmp_path / "detect.tflite"
    lone.write_bytes((EXPORT / "android/detect.tflite").read_bytes())
    model = inference.load(str(lone))
    assert set(model.labels.values()) == DEMO_LABELS
    summary = inference.run(model, str(sorted(VAL_IMAGES.glob("*.jpg"))[0]),
                            inference.DetectSettings(output_dir=str(tmp_path / "out"),
                                                     output=inference.OutputOptions(save_txt=True, save_crops=True)))
    assert summary.pictures == 1 and set(summary.per_class) <= DEMO_LABELS and summary.per_class
    (text,) = (tmp_path / "out/labels").glob("*.txt")
    assert len(text.read_text().splitlines()) == sum(summary.per_class.values())
    assert sum(1 for _ in (tmp_path / "out/crops").rglob("*.jpg")) == sum(summary.per_class.values())


def test_eval_takes_a_tflite_model(tmp_path):
    result = subprocess.run([str(EVAL), f"--model={EXPORT / 'detect_int8.tflite'}", f"--model_dir={tmp_path}",
                             f"--override=eval_input_reader.tf_record_input_reader.input_path={val_records()}",
                             f"--override=eval_input_reader.label_map_path={DATASET / 'label_map.pbtxt'}",
                             f"--override=train_input_reader.label_map_path={DATASET / 'label_map.pbtxt'}",
                             f"--override=train_input_reader.tf_record_input_reader.input_path={val_records()}"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "eval/metrics.json").read_text())
    assert abs(metrics["AP50"] - report_ap50("detect_int8.tflite")) <= AP50_TOLERANCE
    # Per class too, logged and drawn: each demo class is found (AP50 well above chance).
    assert set(metrics["per_category_AP50"]) == set(metrics["per_category_AP"]) == {"circle", "square", "triangle"}
    assert min(metrics["per_category_AP50"].values()) >= 0.8, metrics["per_category_AP50"]
    assert (tmp_path / "eval/per_class_ap.png").stat().st_size > 5000
    assert "triangle: AP 0." in result.stderr


def classifier_tflite(path: Path) -> None:
    import tensorflow as tf

    model = tf.keras.Sequential([tf.keras.Input((8, 8, 3)), tf.keras.layers.Flatten(), tf.keras.layers.Dense(2)])
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def other_saved_model(path: Path) -> None:
    import tensorflow as tf

    module = tf.Module()
    module.f = tf.function(lambda x: {"logits": x * 2.0}, input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.f})


def test_bad_models_and_sources_are_one_line_errors(tmp_path):
    from od_tools.common.errors import UserError

    classifier_tflite(tmp_path / "classifier.tflite")
    with pytest.raises(UserError, match=r"classifier.tflite: not a TFLite detector"):
        inference.load(str(tmp_path / "classifier.tflite"))
    other_saved_model(tmp_path / "other")
    with pytest.raises(UserError, match=r"other: its serving_default signature is not a detector's"):
        inference.load(str(tmp_path / "other"))
    (tmp_path / "five.pbtxt").write_text("".join(f'item {{ id: {i} name: "c{i}" }}\n' for i in range(1, 6)))
    with pytest.raises(UserError, match=r"five.pbtxt: names class ids 4, 5, beyond the model's 3 classes"):
        inference.load(str(EXPORT / "detect_int8.tflite"), inference.ModelSpec(label_map_path=str(tmp_path / "five.pbtxt")))
    (tmp_path / "one_class.pbtxt").write_text('item { id: 1 name: "circle" }\n')
    model = inference.load(str(EXPORT / "detect_int8.tflite"),
                           inference.ModelSpec(label_map_path=str(tmp_path / "one_class.pbtxt")))
    with pytest.raises(UserError, match=r"outputs class ids \[[23].*\] that its label map does not name"):
        inference.run(model, str(VAL_IMAGES), inference.DetectSettings(output_dir=str(tmp_path / "out")))
    assert not (tmp_path / "out").exists()


def test_the_cli_refuses_an_output_inside_the_source_and_writes_nothing(tmp_path):
    source = tmp_path / "photos"
    source.mkdir()
    (source / "a.jpg").write_bytes(sorted(VAL_IMAGES.glob("*.jpg"))[0].read_bytes())
    (source / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    result = subprocess.run([str(DETECT), f"--model={EXPORT / 'detect_int8.tflite'}", f"--source={source}",
                             f"--output_dir={source / 'out'}"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("detect: error:")]
    assert "is inside --source" in line and not (source / "out").exists()
    result = subprocess.run([str(DETECT), f"--model={EXPORT / 'detect_int8.tflite'}", f"--source={source}",
                             f"--output_dir={tmp_path / 'out'}", "--strict"], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 1 and "broken.jpg: cannot read the image" in result.stderr
    assert not (tmp_path / "out").exists()
    result = subprocess.run([str(DETECT), f"--model={EXPORT / 'detect_int8.tflite'}", f"--source={source}",
                             f"--output_dir={tmp_path / 'out'}"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1 pictures read, 1 skipped" in result.stdout and (tmp_path / "out/a.jpg").exists()

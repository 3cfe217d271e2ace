"""The Python API as the README's example uses it: annotations -> TFRecords, a trained detector (the
demo's model_dir) -> TFLite with the Android assets a Python caller gets too, then `detect` on the
records; and its errors are the tools' one-line UserErrors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from od_tools import api
from od_tools.datasets.demo import DemoSpec, write_coco_split

ROOT = Path(os.environ["TEST_SRCDIR"]) / os.environ["TEST_WORKSPACE"]
DETECTOR = ROOT / "od_tools/demo/detector"


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("api")
    spec = DemoSpec(image_size=224, seed=7)
    train = write_coco_split(spec, "train", 6, str(folder / "coco"))
    val = write_coco_split(spec, "val", 4, str(folder / "coco"))
    report = api.create_tf_records(api.CreateRequest(
        input_format="coco", annotations=train, val_annotations=val, image_dir=str(folder / "coco" / "images"),
        output_path=str(folder / "data" / "train.tfrecord")))
    assert report.written and report.totals()["images_written"] == 10
    return folder / "data"


@pytest.fixture(scope="module")
def exported(records, tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("export") / "exported"
    report = api.export_tflite(api.ExportRequest(
        trained_checkpoint_dir=str(DETECTOR), output_directory=str(out),
        overrides=(f"eval_input_reader.tf_record_input_reader.input_path={records}/val.tfrecord-*",),
        options=api.ExportOptions(quantizations=(api.Quantization.FLOAT32,), num_parity_images=4, op_profile_runs=0)))
    return out, report


def test_export_tflite_writes_the_models_and_the_android_assets(exported):
    out, report = exported
    assert report.passed and [m.file for m in report.models] == ["detect_float32.tflite"]
    assert {p.name for p in (out / "android").iterdir()} == {"detect.tflite", "labelmap.txt", "model_card.json"}
    card = json.loads((out / "android" / "model_card.json").read_text())
    assert card["quantization"] == "float32"
    assert (out / "android" / "detect.tflite").read_bytes() == (out / "detect_float32.tflite").read_bytes()


def test_detect_runs_the_exported_model_on_the_records(exported, records, tmp_path):
    out, _ = exported
    model = api.load_model(str(out / "android" / "detect.tflite"))
    summary = api.detect(model, f"{records}/val.tfrecord-*", api.DetectSettings(output_dir=str(tmp_path / "found")))
    assert summary.pictures == 4 and not summary.skipped
    assert sum(summary.per_class.values()) > 0  # the trained demo finds its shapes
    assert len(json.loads((tmp_path / "found" / "images.json").read_text())["images"]) == 4


def test_a_missing_checkpoint_is_a_one_line_user_error(tmp_path):
    missing = tmp_path / "no_such_model_dir"
    with pytest.raises(api.UserError, match=str(missing)) as raised:
        api.export_tflite(api.ExportRequest(trained_checkpoint_dir=str(missing), output_directory=str(tmp_path / "o")))
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "o").exists()

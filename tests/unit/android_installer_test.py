"""The installer on small fixture apps shaped like the two generations of the TFLite
object-detection example (legacy Interpreter app and Task Library app), written here."""

import json

import pytest

from od_tools.android import installer
from od_tools.common.errors import UserError

import android_app_fixture as fixture

@pytest.fixture
def legacy_app(tmp_path):
    return fixture.legacy_app(tmp_path)


@pytest.fixture
def task_app(tmp_path):
    return fixture.task_app(tmp_path)


ASSETS = {"detect.tflite": b"TFL3model", "labelmap.txt": b"circle\nsquare\ntriangle\n", "model_card.json": b"{}"}
SETTINGS = installer.AppSettings(quantized=False, input_height=256, input_width=256, max_detections=20)


def test_dry_run_lists_every_change_and_writes_nothing(legacy_app):
    before = fixture.snapshot(legacy_app)
    plan = installer.plan_install(legacy_app, ASSETS, SETTINGS)
    described = [str(c) for c in plan.changes]
    assert fixture.snapshot(legacy_app) == before
    assert "app/src/main/assets/detect.tflite: add asset (9 bytes)" in described
    assert any(d.startswith("app/build.gradle:11: disable the model download step") for d in described)
    activity = "app/src/main/java/org/example/detection/DetectorActivity.java"
    assert f"{activity}:4: input size -> 256: `private static final int TF_OD_API_INPUT_SIZE = 300;` -> " \
           "`private static final int TF_OD_API_INPUT_SIZE = 256;`" in described
    assert any(d.startswith(f"{activity}:5: quantized -> false") for d in described)
    assert any(d.startswith(f"{activity}:6: model file -> detect.tflite") for d in described)
    assert any(d.startswith(f"{activity}:7: labels file -> labelmap.txt") for d in described)
    assert any("TFLiteObjectDetectionAPIModel.java:5: detections per image -> 20" in d for d in described)
    assert len(described) == 3 + 1 + 4 + 1


def test_install_applies_the_plan_and_is_idempotent(legacy_app):
    installer.apply_plan(installer.plan_install(legacy_app, ASSETS, SETTINGS))
    assets = legacy_app / "app/src/main/assets"
    assert (assets / "detect.tflite").read_bytes() == ASSETS["detect.tflite"]
    assert (assets / "coco_labels.txt").exists()  # the app's other assets stay
    gradle = (legacy_app / "app/build.gradle").read_text()
    assert "\n// apply from:'download_model.gradle'  // disabled by od_toolchain" in gradle
    activity = (legacy_app / fixture.LEGACY_ACTIVITY_PATH).read_text()
    assert 'TF_OD_API_MODEL_FILE = "detect.tflite";' in activity
    assert "TF_OD_API_IS_QUANTIZED = false;" in activity and "TF_OD_API_INPUT_SIZE = 256;" in activity
    assert 'TF_OD_API_LABELS_FILE = "file:///android_asset/labelmap.txt";' in activity
    assert installer.plan_install(legacy_app, ASSETS, SETTINGS).changes == ()


def test_task_library_app_gets_its_model_name_and_kotlin_gradle_edit(task_app):
    quantized = installer.AppSettings(quantized=True, input_height=320, input_width=256, max_detections=10)
    installer.apply_plan(installer.plan_install(task_app, ASSETS, quantized))
    helper = (task_app / fixture.TASK_HELPER_PATH).read_text()
    assert 'MODEL_MOBILENETV1 -> "detect.tflite"' in helper
    assert 'MODEL_EFFICIENTDETV0 -> "efficientdet-lite0.tflite"' in helper
    assert 'else -> "detect.tflite"' in helper
    gradle = (task_app / "app/build.gradle.kts").read_text()
    assert '// apply(from = "download_models.gradle")  // disabled by od_toolchain' in gradle


def test_legacy_app_rejects_a_non_square_model_before_writing(legacy_app):
    before = fixture.snapshot(legacy_app)
    wide = installer.AppSettings(quantized=True, input_height=256, input_width=320, max_detections=10)
    with pytest.raises(UserError, match="feeds square images"):
        installer.plan_install(legacy_app, ASSETS, wide)
    assert fixture.snapshot(legacy_app) == before


def test_folders_that_are_not_the_example_are_rejected(tmp_path):
    with pytest.raises(UserError, match="is not a folder"):
        installer.plan_install(tmp_path / "missing", ASSETS, SETTINGS)
    with pytest.raises(UserError, match="no Android app module"):
        installer.plan_install(tmp_path, ASSETS, SETTINGS)
    fixture.write_tree(tmp_path, {"app/build.gradle": "apply plugin: 'com.android.application'\n",
                     "app/src/main/java/Main.java": "class Main {}\n"})
    with pytest.raises(UserError, match="not the TensorFlow Lite object-detection example"):
        installer.plan_install(tmp_path, ASSETS, SETTINGS)
    assert not (tmp_path / "app/src/main/assets").exists()


def test_settings_from_model_card():
    card = {"quantized": True, "input": {"height": 256, "width": 256}, "max_detections": 10,
            "model_file": "detect.tflite", "labels_file": "labelmap.txt"}
    assert installer.AppSettings.from_model_card(json.loads(json.dumps(card))) == installer.AppSettings(
        quantized=True, input_height=256, input_width=256, max_detections=10)

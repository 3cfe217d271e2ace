"""Small fixture checkouts of the TensorFlow Lite object-detection example app, in the shapes
of its two generations (legacy Interpreter app, Task Library app), written by the tests."""

from __future__ import annotations

from pathlib import Path

LEGACY_GRADLE = """apply plugin: 'com.android.application'

android {
    aaptOptions {
        noCompress "tflite"
    }
}

project.ext.ASSET_DIR = projectDir.toString() + '/src/main/assets'
// If you use your own model, place it in assets and comment out this line.
apply from:'download_model.gradle'

dependencies {
    implementation 'org.tensorflow:tensorflow-lite:2.4.0'
}
"""

LEGACY_ACTIVITY = """package org.example.detection;

public class DetectorActivity extends CameraActivity {
  private static final int TF_OD_API_INPUT_SIZE = 300;
  private static final boolean TF_OD_API_IS_QUANTIZED = true;
  private static final String TF_OD_API_MODEL_FILE = "ssd_mobilenet.tflite";
  private static final String TF_OD_API_LABELS_FILE = "file:///android_asset/coco_labels.txt";
  private static final float MINIMUM_CONFIDENCE_TF_OD_API = 0.5f;
}
"""

LEGACY_MODEL = """package org.example.detection.tflite;

public class TFLiteObjectDetectionAPIModel implements Detector {
  // Only return this many results.
  private static final int NUM_DETECTIONS = 10;
  private static final float IMAGE_MEAN = 127.5f;
}
"""

TASK_GRADLE_KTS = """plugins { id("com.android.application") }
apply(from = "download_models.gradle")
"""

TASK_HELPER = """package org.example.objectdetection

class ObjectDetectorHelper(var currentModel: Int = 0) {
    fun setupObjectDetector() {
        val modelName =
            when (currentModel) {
                MODEL_MOBILENETV1 -> "mobilenetv1.tflite"
                MODEL_EFFICIENTDETV0 -> "efficientdet-lite0.tflite"
                else -> "mobilenetv1.tflite"
            }
    }
}
"""

LEGACY_ACTIVITY_PATH = "app/src/main/java/org/example/detection/DetectorActivity.java"
TASK_HELPER_PATH = "app/src/main/java/org/example/objectdetection/ObjectDetectorHelper.kt"


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def legacy_app(root: Path) -> Path:
    """The Interpreter-based app: DetectorActivity constants, NUM_DETECTIONS, a download step."""
    return write_tree(root, {
        "app/build.gradle": LEGACY_GRADLE,
        "app/download_model.gradle": "task downloadModelFile(type: Download) {}\n",
        "app/src/main/assets/coco_labels.txt": "???\nperson\n",
        LEGACY_ACTIVITY_PATH: LEGACY_ACTIVITY,
        "lib_interpreter/src/main/java/org/example/detection/tflite/TFLiteObjectDetectionAPIModel.java": LEGACY_MODEL,
    })


def task_app(root: Path) -> Path:
    """The Task Library app: model chosen by name in ObjectDetectorHelper.kt, Kotlin Gradle."""
    return write_tree(root, {
        "app/build.gradle.kts": TASK_GRADLE_KTS,
        "app/src/main/AndroidManifest.xml": "<manifest/>\n",
        TASK_HELPER_PATH: TASK_HELPER,
    })


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

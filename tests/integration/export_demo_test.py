"""The cached demo export (//od_tools/demo:tflite) proven on the real runtimes.

- float32 and int8 through MediaPipe's ObjectDetector (its own venv, a subprocess) and through
  the standalone ai-edge-litert interpreter find the demo val objects (recall at IoU 0.5), int8
  about as well as float32 on the same images;
- every model's outputs are boxes, classes, scores, num_detections by position and by name;
- the metadata reads back with MediaPipe's generated schema reader; labels are zipped on;
- the Android assets, the no-flag `bazel run //od_tools:export_tflite` and the installer.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from od_tools.android import assets as android_assets
from od_tools.export import images, parity, runtime, tflite_model
from od_tools.modeling import Detections

import android_app_fixture as fixture

RUNFILES = Path(os.environ["TEST_SRCDIR"])
ROOT = RUNFILES / os.environ["TEST_WORKSPACE"]
EXPORT = ROOT / "od_tools/demo/tflite"
DATASET = ROOT / "od_tools/demo/dataset"
ASSETS = ROOT / "android_demo/assets"
QUANTIZATIONS = ("float32", "float16", "dynamic_range", "int8")
# The Android apps' default score threshold.
MIN_SCORE = 0.5
# The bars below come from the spread measured over every kernel this machine has: tf.lite and
# ai_edge_litert, each with XNNPACK, with the optimized built-in kernels alone and with the
# reference kernels, on 1 and 2 threads (`bazel run //od_tools/export/measure:quantizations -- --kernels`, on
# the demo's 100 val images; an Intel Xeon with AVX-512 and VNNI, 2026-12-03):
#   float32, float16   AP50 0.9649 on all 12, recall 0.8911 on all 12
#   dynamic_range      AP50 0.9649 - 0.9650, recall 0.8871 - 0.8952
#   int8               AP50 0.9637 - 0.9675, recall 0.8952 on all 12
# Int8 kernels take other code paths on other CPUs (XNNPACK picks its int8 code by instruction
# set: a fixed bar 0.001 under one machine's int8 recall failed on a CPU without AVX-512/VNNI),
# and the demo's training itself rounds differently there, so the quantized models are held to
# float32's figures on the same images, and float32 to a bar well below what it measured.
MIN_FLOAT_RECALL = 0.85           # recall of the val objects at MIN_SCORE and IoU 0.5; measured 0.8911
MAX_INT8_RECALL_DROP = 0.03       # int8 below float32; measured -0.0041 (int8 found more)
MAX_TFLITE_AP50_DROP = 0.05       # float32 TFLite below the SavedModel; measured 0.0155 (see below)
MAX_QUANTIZED_AP50_DROP = 0.02    # any quantization below float32 TFLite; measured at most 0.0012


def mobile_python() -> Path:
    for candidate in (RUNFILES / "od_mobile_venv/python.sh", ROOT / "external/od_mobile_venv/python.sh"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("@od_mobile_venv//:python is not in the runfiles")


def model_bytes(quantization: str) -> bytes:
    return (EXPORT / f"detect_{quantization}.tflite").read_bytes()


@pytest.fixture(scope="module")
def report() -> dict:
    return json.loads((EXPORT / "report.json").read_text())


@pytest.fixture(scope="module")
def val_images(report) -> list[images.LabeledImage]:
    files = sorted(str(p) for p in DATASET.glob("val.tfrecord-*"))
    return images.read_images(files, 1000, *report["input_size"])


@pytest.fixture(scope="module")
def coco_val() -> dict:
    return json.loads((DATASET / "coco/val.json").read_text())


def test_report_passed_with_ap50_side_by_side(report):
    assert [m["quantization"] for m in report["models"]] == list(QUANTIZATIONS)
    assert report["saved_model_ap50"] >= 0.95
    # The TFLite models output each image's top 10 detections, one class per box; the SavedModel
    # up to 100, with every class above its NMS threshold. The format alone costs AP50 (0.980 ->
    # 0.965 on the demo), so the quantizations are held to float32's TFLite figure, not the
    # SavedModel's.
    float32 = min(report["models"][0]["ap50"].values())
    assert float32 >= report["saved_model_ap50"] - MAX_TFLITE_AP50_DROP
    for model in report["models"]:
        assert set(model["ap50"]) == {"tf.lite", "ai_edge_litert"}
        assert min(model["ap50"].values()) >= float32 - MAX_QUANTIZED_AP50_DROP, model
        # Measured on both interpreters, above the bar the export applied, and that bar is a real one.
        assert min(p["mean_iou"] for p in model["parity"].values()) >= model["min_mean_iou"] > 0.9
    # The OD API exporters' folders: exporter_main_v2's (the model-zoo layout) and the TFLite graph.
    assert (EXPORT / "saved_model/saved_model.pb").is_file()
    assert (EXPORT / "checkpoint/ckpt-0.index").is_file() and (EXPORT / "pipeline.config").is_file()
    assert (EXPORT / "tflite_saved_model/saved_model.pb").is_file()


def test_report_gives_per_class_ap_for_every_model_and_int8s_drop(report):
    classes = {"circle", "square", "triangle"}
    assert set(report["saved_model_accuracy"]["per_class_ap50"]) == classes
    for model in report["models"]:
        for accuracy in model["accuracy"].values():
            assert set(accuracy["per_class_ap"]) == set(accuracy["per_class_ap50"]) == classes
            # The overall figures are the mean over the classes, as COCO defines them.
            assert accuracy["ap50"] == pytest.approx(sum(accuracy["per_class_ap50"].values()) / 3, abs=2e-4)
    float32, int8 = (min(report["models"][i]["accuracy"].values(), key=lambda a: a["ap50"]) for i in (0, -1))
    drops = report["per_class_ap50_drop_int8"]
    assert drops == pytest.approx({c: float32["per_class_ap50"][c] - int8["per_class_ap50"][c] for c in classes},
                                  abs=1e-4)
    assert list(drops.values()) == sorted(drops.values(), reverse=True)
    text = (EXPORT / "report.txt").read_text()
    assert "Per-class AP50 on the 100 held-out images" in text and all(f"\n{c} " in text for c in classes)
    assert (EXPORT / "per_class_ap.png").stat().st_size > 5000


@pytest.mark.parametrize("quantization", QUANTIZATIONS)
def test_outputs_are_boxes_classes_scores_num_by_position_and_name(quantization):
    data = model_bytes(quantization)
    tflite_model.check_output_order(data)
    layout = tflite_model.output_layout(data)
    assert layout.by_position == layout.postprocess_ports
    assert [layout.by_signature[n] for n in tflite_model.OUTPUT_ORDER] == list(layout.by_position)
    for interpreter in runtime.Interpreter:
        runtime.check_output_order_at_runtime(data, interpreter)
        runner = runtime.make_interpreter(data, interpreter)
        runner.allocate_tensors()
        shapes = [tuple(d["shape"]) for d in runner.get_output_details()]
        assert shapes == [(1, 10, 4), (1, 10), (1, 10), (1,)]


def test_misordered_outputs_are_caught():
    model = tflite_model.read(model_bytes("float32"))
    graph = model.subgraphs[0]
    graph.outputs = list(reversed(list(graph.outputs)))
    with pytest.raises(tflite_model.ModelStructureError, match="by position"):
        tflite_model.check_output_order(tflite_model.write(model))


def assert_recalls(recalls: dict[str, float]) -> None:
    """float32 finds the objects; int8 finds about as many as float32 on the same images."""
    assert recalls["float32"] >= MIN_FLOAT_RECALL, recalls
    assert recalls["int8"] >= recalls["float32"] - MAX_INT8_RECALL_DROP, recalls


def test_standalone_litert_finds_the_val_objects(val_images):
    truth_boxes = [im.groundtruth.boxes for im in val_images]
    truth_classes = [im.groundtruth.classes for im in val_images]
    recalls = {}
    for quantization in ("float32", "int8"):
        detector = runtime.TFLiteDetector(model_bytes(quantization), runtime.Interpreter.LITERT)
        assert detector.uint8_input == (quantization == "int8")
        found = [detector.detect(im.pixels) for im in val_images]
        recalls[quantization] = parity.recall(truth_boxes, truth_classes, found, MIN_SCORE)
    assert_recalls(recalls)


def _coco_truth(coco: dict) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    by_image: dict[int, list] = {}
    for a in coco["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    paths, boxes, classes = [], [], []
    for image in coco["images"]:
        anns = by_image.get(image["id"], [])
        h, w = image["height"], image["width"]
        paths.append(str(DATASET / "coco/images" / image["file_name"]))
        boxes.append(np.array([[y / h, x / w, (y + bh) / h, (x + bw) / w] for x, y, bw, bh in
                               (a["bbox"] for a in anns)], np.float32).reshape(-1, 4))
        classes.append(np.array([a["category_id"] for a in anns], np.int64))
    return paths, boxes, classes


@pytest.fixture(scope="module")
def mobile(coco_val, tmp_path_factory) -> dict:
    paths, _, _ = _coco_truth(coco_val)
    request = tmp_path_factory.mktemp("probe") / "request.json"
    request.write_text(json.dumps({"models": [str(EXPORT / f"detect_{q}.tflite") for q in ("float32", "int8")],
                                   "images": paths, "score_threshold": MIN_SCORE}))
    probe = Path(__file__).with_name("mobile_probe.py")
    result = subprocess.run([str(mobile_python()), str(probe), str(request)], capture_output=True, text=True,
                            timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return {Path(k).name: v for k, v in json.loads(result.stdout).items()}


def test_mediapipe_object_detector_finds_the_val_objects(mobile, coco_val):
    _, boxes, classes = _coco_truth(coco_val)
    names = {c["id"]: c["name"] for c in coco_val["categories"]}
    label_ids = {name: i for i, name in names.items()}
    recalls = {}
    for quantization in ("float32", "int8"):
        found = [Detections(np.array([d["box"] for d in dets], np.float32).reshape(-1, 4),
                            np.array([label_ids[d["label"]] for d in dets], np.int64),
                            np.array([d["score"] for d in dets], np.float32))
                 for dets in mobile[f"detect_{quantization}.tflite"]["mediapipe"]]
        recalls[quantization] = parity.recall(boxes, classes, found, MIN_SCORE)
    assert_recalls(recalls)


@pytest.mark.parametrize("quantization", ["float32", "int8"])
def test_metadata_reads_back_with_mediapipes_schema_reader(quantization, mobile, report):
    probe = mobile[f"detect_{quantization}.tflite"]
    md = probe["metadata"]
    assert md["minParserVersion"] == "1.2.0"
    (sub,) = md["subgraphMetadata"]
    (image,) = sub["inputTensorMetadata"]
    assert image["content"]["contentPropertiesType"] == 2  # ImageProperties
    assert image["content"]["contentProperties"]["colorSpace"] == 1  # RGB
    height, width = report["input_size"]
    assert image["content"]["contentProperties"]["defaultSize"] == {"width": width, "height": height}
    if quantization == "int8":
        assert image["processUnits"] is None and image["stats"] == {"max": [255.0], "min": [0.0]}
        assert probe["litert"]["input"]["dtype"] == "uint8"
    else:
        assert image["processUnits"][0]["options"] == {"mean": [127.5], "std": [127.5]}
        assert image["stats"] == {"max": [1.0], "min": [-1.0]}
    outputs = sub["outputTensorMetadata"]
    assert [o["name"] for o in outputs] == ["location", "category", "score", "number of detections"]
    assert outputs[0]["content"]["contentProperties"] == {"index": [1, 0, 3, 2], "type": 1, "coordinateType": 0}
    assert outputs[0]["content"]["range"] == {"min": 2, "max": 2}
    (labels,) = outputs[1]["associatedFiles"]
    assert labels["name"] == "labelmap.txt" and labels["type"] == 3  # TENSOR_VALUE_LABELS
    assert sub["outputTensorGroups"] == [{"name": "detection_result", "tensorNames": ["location", "category", "score"]}]
    zipped = probe["associated_files"]["labelmap.txt"]
    assert zipped["compress_type"] == 0 and zipped["text"] == (EXPORT / "labelmap.txt").read_text()
    litert = probe["litert"]
    by_position = [o["index"] for o in litert["outputs_by_position"]]
    assert by_position == [litert["outputs_by_signature"][n] for n in tflite_model.OUTPUT_ORDER]


def test_android_assets_package(report):
    files = android_assets.verify_assets(ASSETS)
    card = json.loads(files["model_card.json"])
    int8 = next(m for m in report["models"] if m["quantization"] == "int8")
    assert files["detect.tflite"] == model_bytes("int8")
    assert card["quantized"] is True and card["quantization"] == "int8"
    height, width = report["input_size"]
    assert card["input"] == {"height": height, "width": width, "channels": 3, "color_space": "RGB",
                             "type": "uint8", "normalization": None}
    assert card["labels"] == files["labelmap.txt"].decode().splitlines() == ["circle", "square", "triangle"]
    assert card["metrics"]["ap50"] == int8["ap50"] and card["sha256"]["detect.tflite"] == int8["sha256"]


def _binary(name: str) -> Path:
    return ROOT / name


def test_no_flag_run_writes_detect_tflite_and_labelmap_into_the_source_tree(tmp_path):
    env = {**os.environ, "BUILD_WORKSPACE_DIRECTORY": str(tmp_path)}
    result = subprocess.run([str(_binary("od_tools/export_tflite"))], capture_output=True, text=True, env=env,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    target = tmp_path / "android_demo/app/src/main/assets"
    assert (target / "detect.tflite").read_bytes() == (ASSETS / "detect.tflite").read_bytes()
    assert (target / "labelmap.txt").read_text() == "circle\nsquare\ntriangle\n"
    assert "detect_int8.tflite" in result.stdout and "saved_model (TF)" in result.stdout
    assert sorted(p.name for p in target.iterdir()) == ["detect.tflite", "labelmap.txt", "model_card.json"]


def test_installer_dry_run_then_real_install_on_a_fixture_app(tmp_path, report):
    app = fixture.legacy_app(tmp_path / "android")
    before = fixture.snapshot(app)
    install = str(_binary("android_demo/install"))
    dry = subprocess.run([install, f"--app_dir={app}", "--dry_run"], capture_output=True, text=True, timeout=120,
                         check=False)
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert fixture.snapshot(app) == before
    assert "would change 7 item(s)" in dry.stdout and "dry run: nothing was written" in dry.stdout
    real = subprocess.run([install, f"--app_dir={app}"], capture_output=True, text=True, timeout=120, check=False)
    assert real.returncode == 0, real.stderr[-2000:]
    assert real.stdout.splitlines()[1:8] == dry.stdout.splitlines()[1:8]
    assert (app / "app/src/main/assets/detect.tflite").read_bytes() == (ASSETS / "detect.tflite").read_bytes()
    activity = (app / fixture.LEGACY_ACTIVITY_PATH).read_text()
    assert "TF_OD_API_IS_QUANTIZED = true;" in activity
    assert f"TF_OD_API_INPUT_SIZE = {report['input_size'][0]};" in activity
    again = subprocess.run([install, f"--app_dir={app}"], capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0 and "already up to date" in again.stdout
    missing = subprocess.run([install, f"--app_dir={tmp_path / 'nowhere'}"], capture_output=True, text=True,
                             timeout=120, check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1].startswith("install: error: ")
    assert len(missing.stderr.strip().splitlines()) == 1

"""Every TF2 model-zoo family on the real engine: its zoo-shaped config (tests/testdata, made
small where the family allows) builds with the OD API, trains 2 steps with its TF2 loop, and
exports to a float TFLite that passes the parity check. The parity bar compares confident
detections, which 2 steps do not make, so the test also checks that each image's best
TFLite detection is the SavedModel's: the converted graph computes what TensorFlow does.

One Bazel target per family (`-k ID`): the heavy ones are tagged slow. Two families have none
here, since a 2-step copy would add test time and no coverage: SSD MobileNetV2 FPN-Lite is the
demo detector (od_tools/demo/pipeline.config, the zoo's FPN-Lite config made small), trained and
exported in all four quantizations by //od_tools/demo:tflite, which the demo tests check; the
classic SSD MobileNetV2 is zoo_checkpoint_test's zoo folder, built at the zoo's size, fine-tuned
and exported with the parity gate.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from od_tools.config import Checks, Purpose, prepare
from od_tools.export import ExportOptions, Quantization, export_detector
from od_tools.export import images, parity, runtime
from od_tools.export.tflite_graph import INPUT_MEAN, INPUT_STD
from od_tools.modeling import Detector
from od_tools.training.launch import launch
from od_tools.training.settings import TrainSettings

from shapes_records import write_shapes  # beside this file

TESTDATA = os.path.join(os.path.dirname(__file__), "..", "testdata")


@dataclasses.dataclass(frozen=True)
class Family:
    config: str
    overrides: tuple[str, ...]  # what makes it small: input size, width, head depth
    kind: str = "ssd"


def ssd_size(size: int) -> str:
    return f"model.ssd.image_resizer={{fixed_shape_resizer {{height: {size} width: {size}}}}}"


SMALL_HEAD = ("model.ssd.box_predictor.weight_shared_convolutional_box_predictor.depth=32",
              "model.ssd.box_predictor.weight_shared_convolutional_box_predictor.num_layers_before_predictor=1")

FAMILIES = {
    "v1fpn": Family("ssd_mobilenet_v1_fpn_640x640", (
        ssd_size(128), "model.ssd.feature_extractor.depth_multiplier=0.25",
        "model.ssd.feature_extractor.fpn.additional_layer_depth=32", *SMALL_HEAD)),
    # ResNet FPN takes 129x129 and up.
    "r50fpn": Family("ssd_resnet50_v1_fpn_640x640", (
        ssd_size(160), "model.ssd.feature_extractor.fpn.additional_layer_depth=64", *SMALL_HEAD)),
    # TFLite needs a fixed input: the zoo's padded keep-aspect resizer becomes a fixed one, and
    # its scale-crop augmentation follows the size; BiFPN sizes divide by 2^7.
    "effdet_d0": Family("ssd_efficientdet_d0_512x512", (
        ssd_size(256),
        "train_config.data_augmentation_options[1].random_scale_crop_and_pad_to_square.output_size=256")),
    "centernet": Family("centernet_mobilenetv2_fpn_512x512", (
        "model.center_net.image_resizer={fixed_shape_resizer {height: 128 width: 128}}",), kind="center_net"),
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    return write_shapes(str(tmp_path_factory.mktemp("shapes")), num_train=8, num_val=6, size=128)


def data_overrides(folder: str, kind: str) -> list[str]:
    return [f"train_input_reader.label_map_path={folder}/label_map.pbtxt",
            f"train_input_reader.tf_record_input_reader.input_path={folder}/train.tfrecord-*",
            f"eval_input_reader.label_map_path={folder}/label_map.pbtxt",
            f"eval_input_reader.tf_record_input_reader.input_path={folder}/val.tfrecord-*",
            "train_config.fine_tune_checkpoint=", f"model.{kind}.num_classes=0", "train_config.batch_size=2"]


def top_detection_agrees(reference, candidate) -> bool:
    """The candidate's best score is the reference's; its detection is the reference's best.

    After 2 steps many anchors share the best score exactly (the class bias dominates), and the
    two NMS pick any of them: the box is compared only where the best is unique, the class must
    be one of the tied best ones. The SavedModel clips boxes to the image and the TFLite
    detection op does not (apps clip), so boxes are compared clipped.
    """
    if not len(candidate.scores) or not len(reference.scores):
        return len(candidate.scores) == len(reference.scores)
    best = int(np.argmax(candidate.scores))
    if abs(float(candidate.scores[best]) - float(reference.scores.max())) > 1e-4:
        return False
    tied = np.flatnonzero(reference.scores >= reference.scores.max() - 1e-6)
    if candidate.classes[best] not in reference.classes[tied]:
        return False
    if len(tied) > 1:
        return True
    box = np.clip(candidate.boxes[best:best + 1], 0.0, 1.0)
    return bool(parity.iou(np.clip(reference.boxes[tied[0]], 0.0, 1.0), box)[0] > 0.9)


@pytest.mark.parametrize("family_id", sorted(FAMILIES))
def test_family_trains_two_steps_and_exports_a_float_tflite(family_id, data_dir, tmp_path):
    family = FAMILIES[family_id]
    config = os.path.join(TESTDATA, f"{family.config}.config")
    overrides = [*data_overrides(data_dir, family.kind), *family.overrides]
    model_dir = str(tmp_path / "model_dir")
    result = launch(TrainSettings(pipeline_config_path=config, model_dir=model_dir, overrides=overrides,
                                  num_train_steps=2, seed=0, eval_on_end=False))
    assert result.training.final_step == 2

    prepared = prepare(os.path.join(model_dir, "pipeline.config"), checks=Checks(Purpose.EXPORT))
    out = tmp_path / "export"
    report = export_detector(prepared, model_dir, prepared.label_map, str(out),
                             ExportOptions(quantizations=(Quantization.FLOAT32,), num_parity_images=6,
                                           op_profile_runs=0))
    assert report.passed and [m.file for m in report.models] == ["detect_float32.tflite"]

    height, width = report.input_size
    held_out = images.read_images(prepared.pipeline.eval_input_paths, 6, height, width)
    reference = Detector.from_saved_model(str(out / "saved_model"))
    tflite = runtime.TFLiteDetector((out / "detect_float32.tflite").read_bytes(), runtime.Interpreter.LITERT,
                                    input_mean=INPUT_MEAN, input_std=INPUT_STD)
    pairs = [(reference.detect(image.pixels), tflite.detect(image.pixels)) for image in held_out]
    for saved, converted in pairs:
        assert top_detection_agrees(saved, converted), (saved.boxes[:3], saved.classes[:3], saved.scores[:3],
                                                        converted.boxes[:3], converted.classes[:3],
                                                        converted.scores[:3])

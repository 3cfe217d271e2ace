"""Pure pieces of the export: quantization flags, parity matching, recall, metadata encoding,
zipped associated files and the report table. No TensorFlow conversion here."""

import dataclasses
import io
import zipfile

import numpy as np
import pytest

from od_tools.common.errors import UserError
from od_tools.export import metadata
from od_tools.export import metadata_schema_py_generated as schema
from od_tools.export.convert import Quantization, parse_quantizations
from od_tools.export.parity import Crowding, Parity, compare, crowding, iou, one_class_per_box, recall
from od_tools.export.report import ExportReport, TFLiteResult
from od_tools.modeling import Detections


def dets(boxes, classes, scores):
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.array(classes, np.int64),
                      np.array(scores, np.float32))


def test_parse_quantizations_repeated_comma_and_all():
    assert parse_quantizations([]) == [Quantization.FLOAT32]
    assert parse_quantizations(["int8", "float32,int8"]) == [Quantization.INT8, Quantization.FLOAT32]
    assert parse_quantizations(["all"]) == list(Quantization)
    with pytest.raises(UserError, match=r"--quantization=int4 is not one of: float32, float16, dynamic_range, int8, all"):
        parse_quantizations(["int4"])


def test_iou_of_identical_disjoint_and_half_overlapping_boxes():
    box = np.array([0.0, 0.0, 0.5, 0.5], np.float32)
    others = np.array([[0.0, 0.0, 0.5, 0.5], [0.6, 0.6, 1.0, 1.0], [0.0, 0.25, 0.5, 0.75]], np.float32)
    np.testing.assert_allclose(iou(box, others), [1.0, 0.0, 1.0 / 3.0], rtol=1e-6)


def test_compare_counts_a_lost_detection_as_zero_iou():
    reference = [dets([[0, 0, .5, .5], [.5, .5, 1, 1]], [1, 2], [.9, .8])]
    identical = compare(reference, reference)
    assert identical == Parity(num_reference=2, num_matched=2, mean_iou=1.0, mean_abs_score_delta=0.0)
    lost = compare(reference, [dets([[0, 0, .5, .5]], [1], [.7])])
    assert lost.num_matched == 1 and lost.mean_iou == pytest.approx(0.5)
    assert lost.mean_abs_score_delta == pytest.approx(0.2)


def test_compare_needs_the_same_class_and_ignores_weak_references():
    reference = [dets([[0, 0, .5, .5], [.5, .5, 1, 1]], [1, 2], [.9, .2])]
    wrong_class = compare(reference, [dets([[0, 0, .5, .5]], [3], [.9])], score_threshold=0.5)
    assert wrong_class.num_reference == 1 and wrong_class.num_matched == 0 and wrong_class.mean_iou == 0.0


def test_compare_matches_each_candidate_once():
    reference = [dets([[0, 0, .5, .5], [0, 0, .5, .5]], [1, 1], [.9, .8])]
    result = compare(reference, [dets([[0, 0, .5, .5]], [1], [.9])])
    assert result.num_matched == 1 and result.mean_iou == pytest.approx(0.5)


def grid(count, scores=None):
    """`count` disjoint boxes on a 4x4 grid, class 1, scores falling from 0.95 by 0.02."""
    boxes = [[(i // 4) / 4, (i % 4) / 4, (i // 4 + 1) / 4, (i % 4 + 1) / 4] for i in range(count)]
    return dets(boxes, [1] * count, scores if scores is not None else [0.95 - 0.02 * i for i in range(count)])


def pick(detections, indexes):
    return Detections(detections.boxes[indexes], detections.classes[indexes], detections.scores[indexes])


def test_a_crowded_image_is_compared_on_its_top_max_detections():
    """12 confident SavedModel detections; a TFLite model with --max_detections=10 holds the top 10."""
    reference = [grid(12)]
    top10 = [pick(reference[0], list(range(10)))]
    assert compare(reference, top10).mean_iou == pytest.approx(10 / 12)  # unlike with unlike
    fair = compare(reference, top10, max_detections=10)
    assert (fair.num_reference, fair.num_matched, fair.mean_iou) == (10, 10, 1.0)
    assert crowding(reference, 10) == Crowding(num_images=1, largest=12, max_detections=10)
    assert crowding(reference, 12) == Crowding(num_images=0, largest=12, max_detections=12)


def test_at_the_cut_off_a_detection_just_below_stands_in_for_one_just_above():
    """Scores of close detections order differently in the two models: the TFLite model's 10th
    may be the SavedModel's 11th."""
    reference = [grid(12)]
    swapped = [pick(reference[0], [*range(9), 10])]
    assert compare(reference, swapped, max_detections=10) == Parity(10, 10, 1.0, 0.0)


def test_a_wrong_tflite_still_fails_on_a_crowded_image():
    reference = [grid(12)]
    half = compare(reference, [pick(reference[0], list(range(5)))], max_detections=10)
    assert (half.num_reference, half.num_matched, half.mean_iou) == (10, 5, 0.5)
    shifted = Detections(np.clip(reference[0].boxes[:10] + 0.125, 0, 1), reference[0].classes[:10],
                         reference[0].scores[:10])
    moved = compare(reference, [shifted], max_detections=10)
    assert moved.num_matched < 10 and moved.mean_iou < 0.5
    # Lower-ranked stand-ins cannot fill more places than the candidate has detections.
    bottom = compare(reference, [pick(reference[0], [10, 11])], max_detections=10)
    assert (bottom.num_matched, bottom.mean_iou) == (2, 0.2)


def test_one_class_per_box_keeps_what_the_tflite_detection_op_can_output():
    # One object twice (circle 0.55, square 0.54 on the same box), and a square beside it.
    reference = dets([[.1, .1, .3, .3], [.1, .1, .3, .3], [.5, .5, .7, .7], [.11, .1, .3, .3]], [1, 2, 2, 3],
                     [.55, .54, .9, .2])
    kept = one_class_per_box(reference, iou_threshold=0.6)
    assert kept.classes.tolist() == [2, 1] and kept.scores.tolist() == pytest.approx([.9, .55])
    # Boxes that overlap by less than the model's NMS threshold are different objects.
    apart = dets([[0, 0, .4, .4], [0, .2, .4, .6]], [1, 2], [.8, .7])  # IoU 1/3
    assert one_class_per_box(apart, iou_threshold=0.6).classes.tolist() == [1, 2]
    assert len(one_class_per_box(dets([], [], []), 0.6).scores) == 0
    # A TFLite model that found the object once, with its best class, now matches it fully.
    candidate = [dets([[.5, .5, .7, .7], [.1, .1, .3, .3]], [2, 1], [.9, .55])]
    assert compare([reference], candidate).mean_iou < 0.99
    assert compare([kept], candidate).mean_iou == pytest.approx(1.0)


def test_recall_at_iou_half():
    truth_boxes = [np.array([[0, 0, .5, .5], [.5, .5, 1, 1]], np.float32)]
    truth_classes = [np.array([1, 2])]
    assert recall(truth_boxes, truth_classes, [dets([[0, 0, .5, .5], [.5, .5, 1, 1]], [1, 2], [.9, .9])]) == 1.0
    assert recall(truth_boxes, truth_classes, [dets([[0, 0, .5, .5], [.5, .5, 1, 1]], [1, 2], [.9, .3])]) == 0.5
    assert recall(truth_boxes, truth_classes, [dets([[0, 0, .3, .3]], [1], [.9])]) == 0.0


def description(uint8_input=False):
    return metadata.DetectorDescription(name="demo", description="d", version="1", input_height=256,
                                        input_width=320, uint8_input=uint8_input, mean=127.5, std=127.5,
                                        labels=("circle", "square", "triangle"))


def test_detector_metadata_reads_back_with_the_schemas_generated_reader():
    buffer = metadata.serialize(metadata.detector_metadata(description()))
    assert buffer[4:8] == metadata.FILE_IDENTIFIER
    assert metadata.serialize(metadata.detector_metadata(description())) == buffer  # deterministic
    md = metadata.parse(buffer)
    assert md.minParserVersion == b"1.2.0" and md.name == b"demo"
    (sub,) = md.subgraphMetadata
    assert [t.name for t in sub.outputTensorMetadata] == [b"location", b"category", b"score", b"number of detections"]
    assert sub.outputTensorGroups[0].tensorNames == [b"location", b"category", b"score"]
    location = sub.outputTensorMetadata[0].content
    assert location.contentPropertiesType == schema.ContentProperties.BoundingBoxProperties
    assert list(location.contentProperties.index) == [1, 0, 3, 2]
    assert location.contentProperties.coordinateType == schema.CoordinateType.RATIO
    assert (location.range.min, location.range.max) == (2, 2)
    (labels,) = sub.outputTensorMetadata[1].associatedFiles
    assert labels.name == b"labelmap.txt" and labels.type == schema.AssociatedFileType.TENSOR_VALUE_LABELS
    (image,) = sub.inputTensorMetadata
    (unit,) = image.processUnits
    assert unit.optionsType == schema.ProcessUnitOptions.NormalizationOptions
    assert list(unit.options.mean) == [127.5] and list(unit.options.std) == [127.5]
    assert list(image.stats.max) == [1.0] and list(image.stats.min) == [-1.0]
    size = image.content.contentProperties.defaultSize
    assert (size.width, size.height) == (320, 256)

    quantized = metadata.parse(metadata.serialize(metadata.detector_metadata(description(uint8_input=True))))
    image = quantized.subgraphMetadata[0].inputTensorMetadata[0]
    assert image.processUnits is None and list(image.stats.max) == [255.0] and list(image.stats.min) == [0.0]
    with pytest.raises(ValueError, match="not TFLite metadata"):
        metadata.parse(b"\x08\x00\x00\x00TFL3" + bytes(16))


def test_appended_zip_reads_back_stored_and_keeps_the_model_prefix():
    model = bytes(range(256)) * 10
    combined = metadata.append_zip(model, {"labelmap.txt": b"a\nb\n"})
    assert combined.startswith(model)
    with zipfile.ZipFile(io.BytesIO(combined)) as archive:
        (info,) = archive.infolist()
        assert info.compress_type == zipfile.ZIP_STORED and archive.read(info) == b"a\nb\n"
    assert metadata.append_zip(model, {"labelmap.txt": b"a\nb\n"}) == combined
    assert metadata.associated_files(model) == {}


def test_report_table_lists_every_model_and_the_verdict():
    parity = {"tf.lite": Parity(10, 10, 0.99, 0.01), "ai_edge_litert": Parity(10, 9, 0.93, 0.02)}
    result = TFLiteResult(quantization="int8", file="detect_int8.tflite", size_bytes=1_000_000, sha256="0" * 64,
                          convert_seconds=12.0, input_type="uint8", parity=parity,
                          ap50={"tf.lite": 0.9, "ai_edge_litert": 0.89}, min_mean_iou=0.95, passed=False)
    report = ExportReport(config_source="p.config", checkpoint="ckpt-1", input_size=(256, 256), input_mean=127.5, input_std=127.5,
                          max_detections=10, labels=("a",),
                          num_parity_images=5, num_calibration_images=5, parity_score_threshold=0.5,
                          saved_model_ap50=0.91, saved_model_seconds=3.0, total_seconds=20.0, models=(result,))
    table = report.table()
    assert "--max_detections" not in table
    assert "detect_int8.tflite" in table and "0.9300" in table and "FAILED (< 0.95)" in table
    assert " 9/10" in table and "0.890" in table
    assert not report.passed and report.to_json()["models"][0]["parity"]["tf.lite"]["matched_fraction"] == 1.0
    crowded = dataclasses.replace(report, crowding=Crowding(num_images=3, largest=17, max_detections=10))
    assert ("3 of 5 held-out images have more SavedModel detections with score >= 0.5 than --max_detections=10 "
            "(up to 17 in one image)") in crowded.table()
    assert "export with --max_detections=17" in crowded.table()
    assert crowded.to_json()["crowding"] == {"num_images": 3, "largest": 17, "max_detections": 10}


def test_app_input_maps_onto_each_family_preprocessing():
    """The TFLite input is (pixel - 127.5) / 127.5; the adapter maps it onto what the model's
    own preprocessing makes of the same pixel."""
    from od_tools.export.tflite_graph import Affine, RAW_PIXELS

    mobilenet = Affine((1 / 127.5,) * 3, (-1.0,) * 3)  # (2/255) * pixel - 1
    assert mobilenet.from_app_input().is_identity  # nothing in front of the OD API's graph
    resnet = Affine((1.0,) * 3, (-123.68, -116.779, -103.939))  # pixel - channel means
    adapter = resnet.from_app_input()
    x = np.array([-1.0, 0.0, 0.5])
    pixel = x * 127.5 + 127.5
    for c in range(3):
        np.testing.assert_allclose(adapter.scale[c] * x + adapter.offset[c], pixel - [123.68, 116.779, 103.939][c])
    assert not adapter.is_identity and not RAW_PIXELS.from_app_input().is_identity

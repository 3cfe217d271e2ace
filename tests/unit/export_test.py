"""Pure pieces of the export: quantization flags, parity matching, recall, metadata encoding,
zipped associated files and the report table. No TensorFlow conversion here."""

import dataclasses
import hashlib
import json
import io
import zipfile

import numpy as np
import pytest

from od_tools.common.errors import UserError
from od_tools.evaluation.coco import Accuracy
from od_tools.export import metadata
from od_tools.export import metadata_schema_py_generated as schema
from od_tools.export.convert import Quantization, parse_quantizations
from od_tools.export.parity import Crowding, Parity, compare, crowding, iou, one_class_per_box, recall
from od_tools.export.report import ExportReport, TF1Conversion, TFLiteResult, read_report
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


def accuracy_of(ap50: float, **per_class: float) -> Accuracy:
    return Accuracy(ap=ap50 / 2, ap50=ap50, per_class_ap={n: v / 2 for n, v in per_class.items()},
                    per_class_ap50=dict(per_class))


def test_report_table_lists_every_model_and_the_verdict():
    parity = {"tf.lite": Parity(10, 10, 0.99, 0.01), "ai_edge_litert": Parity(10, 9, 0.93, 0.02)}
    result = TFLiteResult(quantization="int8", file="detect_int8.tflite", size_bytes=1_000_000, sha256="0" * 64,
                          convert_seconds=12.0, input_type="uint8", parity=parity,
                          accuracy={"tf.lite": accuracy_of(0.9, a=0.9), "ai_edge_litert": accuracy_of(0.89, a=0.89)},
                          min_mean_iou=0.95, passed=False)
    report = ExportReport(config_source="p.config", checkpoint="ckpt-1", input_size=(256, 256), input_mean=127.5, input_std=127.5,
                          max_detections=10, labels=("a",),
                          num_parity_images=5, num_calibration_images=5, parity_score_threshold=0.5,
                          saved_model_accuracy=accuracy_of(0.91, a=0.91), saved_model_seconds=3.0, total_seconds=20.0,
                          models=(result,))
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


def per_class_report(classes: int) -> ExportReport:
    """float32 and int8 exports of a `classes`-class model; int8 loses 0.01 * k on class k."""
    names = [f"class{k}" for k in range(classes)]
    base = accuracy_of(0.9, **{n: 0.9 for n in names})
    int8 = accuracy_of(0.85, **{n: round(0.9 - 0.01 * k, 4) for k, n in enumerate(names)})

    def model(quantization: str, accuracy: Accuracy, worse: Accuracy) -> TFLiteResult:
        return TFLiteResult(quantization=quantization, file=f"detect_{quantization}.tflite", size_bytes=1, sha256="0",
                            convert_seconds=1.0, input_type="float32", parity={"tf.lite": Parity(1, 1, 1.0, 0.0)},
                            accuracy={"tf.lite": accuracy, "ai_edge_litert": worse}, min_mean_iou=0.9, passed=True)

    return ExportReport(config_source="p.config", checkpoint="ckpt-1", input_size=(8, 8), input_mean=127.5,
                        input_std=127.5, max_detections=10, labels=tuple(names), num_parity_images=5,
                        num_calibration_images=5, parity_score_threshold=0.5,
                        saved_model_accuracy=dataclasses.replace(base, per_class_ap50={**base.per_class_ap50, "class1": 0.95}),
                        saved_model_seconds=1.0, total_seconds=2.0,
                        models=(model("float32", base, base), model("int8", int8, int8)))


def test_per_class_drops_compare_int8_with_float32_largest_first():
    report = per_class_report(4)
    drops = report.per_class_drops()
    assert drops == {"class3": 0.03, "class2": 0.02, "class1": 0.01, "class0": 0.0}  # float32's, not the SavedModel's 0.95
    data = report.to_json()
    assert data["per_class_ap50_drop_int8"] == drops
    int8 = data["models"][1]
    assert int8["ap50"] == {"tf.lite": 0.85, "ai_edge_litert": 0.85}
    assert Accuracy.from_json(int8["accuracy"]["tf.lite"]) == report.models[1].accuracy["tf.lite"]
    table = report.table()
    rows = [line.split() for line in table.splitlines() if line.startswith("class")]
    assert rows[0] == ["class", "saved_model", "float32", "int8", "int8", "drop"]
    assert rows[1] == ["class3", "0.900", "0.900", "0.870", "+0.030"]
    assert rows[-1] == ["class0", "0.900", "0.900", "0.900", "+0.000"]


def test_the_printed_per_class_table_keeps_the_largest_drops():
    report = per_class_report(25)
    shown = report.table(max_classes=10)
    assert "class24 " in shown and "class15 " in shown and "class14 " not in shown
    assert "... 15 more classes in report.txt" in shown
    assert "class0 " in report.table()


def test_without_int8_the_table_has_no_drop_and_follows_the_label_map():
    report = per_class_report(3)
    report = dataclasses.replace(report, models=report.models[:1])
    assert report.per_class_drops() == {} and "int8 drop" not in report.table()
    rows = [line.split()[0] for line in report.table().splitlines() if line.startswith("class")]
    assert rows == ["class", "class0", "class1", "class2"]


def test_a_class_without_ground_truth_is_counted_not_listed():
    """A 90-class zoo model fine-tuned on a few classes: the others have nothing to measure."""
    absent = Accuracy(ap=0.5, ap50=0.5, per_class_ap={"a": 0.5, "b": -1.0}, per_class_ap50={"a": 0.5, "b": -1.0})
    assert absent.measured_classes() == ["a"]
    report = per_class_report(1)
    report = dataclasses.replace(report, saved_model_accuracy=absent, models=report.models[:1])
    table = report.table()
    assert [line.split()[0] for line in table.splitlines() if line.startswith(("a ", "b "))] == ["a"]
    assert "(1 classes have no ground truth in the held-out images and no figures)" in table


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


def test_the_float_layer_search_adds_the_worst_layers_until_the_bar():
    from od_tools.export.float_layers import Step, search

    gains = {"a": 0.02, "b": 0.01, "c": 0.005, "d": 0.005, "e": 0.0}  # AP50 each layer gives back in float
    tried = []

    def evaluate(names):
        tried.append(tuple(names))
        return Step(tuple(names), round(0.90 + sum(gains[n] for n in names), 4), 1000 + 100 * len(names), 3.0)

    steps, chosen = search(list(gains), evaluate, float_ap50=0.935, max_ap50_drop=0.01, max_layers=10, per_step=2)
    assert tried == [(), ("a", "b")] and chosen == 1  # 0.93 >= 0.925 after one step
    tried.clear()
    steps, chosen = search(list(gains), evaluate, float_ap50=0.95, max_ap50_drop=0.0, max_layers=3, per_step=2)
    assert tried == [(), ("a", "b"), ("a", "b", "c")]  # the budget ends it; the bar is never reached
    assert chosen == 2 and steps[chosen].ap50 == 0.935
    tried.clear()
    steps, chosen = search(list(gains), evaluate, float_ap50=0.905, max_ap50_drop=0.01, max_layers=10)
    assert tried == [()] and chosen == 0  # plain int8 is close enough: nothing in float


def test_without_a_gain_the_search_exports_the_fewest_float_layers():
    from od_tools.export.float_layers import Step, search

    steps, chosen = search(["a", "b", "c", "d"], lambda names: Step(tuple(names), 0.9, 1, 1.0), float_ap50=0.99,
                           max_ap50_drop=0.01, max_layers=4, per_step=2)
    assert [len(s.float_layers) for s in steps] == [0, 2, 4] and chosen == 0


def test_float_layer_names_must_be_the_models_own():
    from od_tools.export.float_layers import parse_float_layers

    known = ["model/conv1/Relu6", "model/head/BiasAdd"]
    assert parse_float_layers("", known) is None and parse_float_layers("auto", known) == []
    assert parse_float_layers(" model/head/BiasAdd, model/conv1/Relu6 ", known) == ["model/head/BiasAdd",
                                                                                   "model/conv1/Relu6"]
    with pytest.raises(UserError, match="'model/conv2' is not a quantized layer of this model"):
        parse_float_layers("model/conv1/Relu6,model/conv2", known)


def test_the_search_reads_back_and_says_which_step_was_exported():
    from od_tools.export.float_layers import FloatLayerSearch, Step

    steps = (Step((), 0.90, 1_000_000, 4.0), Step(("x/a", "x/b"), 0.93, 1_050_000, 4.4))
    found = FloatLayerSearch(mode="auto", float_ap50=0.935, max_ap50_drop=0.01, max_layers=10, steps=steps, chosen=1)
    assert found.reached and FloatLayerSearch.from_json(found.to_json()) == found
    lines = found.lines()
    assert lines[-1].split() == ["2", "0.930", "1.05", "1.05x", "4.40", "x/a;", "x/b", "<-", "exported"]
    missed = FloatLayerSearch(mode="auto", float_ap50=0.99, max_ap50_drop=0.01, max_layers=2, steps=steps, chosen=1)
    assert not missed.reached and "the bar was not reached within 2 float layers" in missed.lines()[-1]


def test_the_debuggers_statistics_rank_layers_by_error_in_quantization_steps(tmp_path):
    from od_tools.export import int8_debug

    text = ("op_name,tensor_idx,num_elements,stddev,mean_error,max_abs_error,mean_squared_error,scale,zero_point,"
            "tensor_name\nCONV_2D,7,100.0,0.01,0.0,0.05,0.0001,0.02,-128,model/conv1\n"
            "ADD,9,100.0,0.1,0.01,0.4,0.04,0.05,3,model/add\n")
    layers = int8_debug.parse_layer_statistics(text)
    assert [(l.depth, l.op_name, l.tensor_index) for l in layers] == [(0, "CONV_2D", 7), (1, "ADD", 9)]
    assert layers[0].rmse_over_scale == pytest.approx(0.5) and layers[1].rmse_over_scale == pytest.approx(4.0)
    assert [l.tensor_name for l in int8_debug.worst(layers)] == ["model/add", "model/conv1"]
    int8_debug.write_csv(layers, tmp_path / "debug.csv")
    rows = (tmp_path / "debug.csv").read_text().splitlines()
    assert rows[0].startswith("depth,op_name,rmse/scale,") and rows[2].startswith("1,ADD,4.0,")
    int8_debug.write_plot(layers, tmp_path / "debug.png", "title")
    assert (tmp_path / "debug.png").read_bytes()[:4] == b"\x89PNG"
    assert "model/add" in "\n".join(int8_debug.report_lines(int8_debug.worst(layers)))


def test_a_float_layer_that_reads_the_input_is_refused():
    from od_tools.export.float_layers import parse_float_layers

    with pytest.raises(UserError, match="'model/conv1/Relu6' reads the model's input"):
        parse_float_layers("model/conv1/Relu6", ["model/conv1/Relu6", "model/head"], {"model/conv1/Relu6"})
    assert parse_float_layers("model/head", ["model/conv1/Relu6", "model/head"], {"model/conv1/Relu6"}) == ["model/head"]


def test_calibration_images_are_chosen_across_classes_the_rarest_first():
    from od_tools.export.images import stratified_choice

    # Class 1 is everywhere, class 2 in records 5 and 8, class 3 only in record 9; record 3 is empty.
    classes = [{1}, {1}, {1}, set(), {1}, {1, 2}, {1}, {1}, {1, 2}, {1, 3}]
    assert stratified_choice(classes, 3) == [0, 5, 9]  # one of each: 3 (rarest), then 2, then 1
    assert stratified_choice(classes, 5) == [0, 1, 5, 8, 9]
    assert stratified_choice(classes, 20) == list(range(10))  # all of them, the empty one too
    assert stratified_choice([set(), set()], 1) == [0]  # no labels at all: file order
    assert stratified_choice(classes, 0) == []


def test_the_report_names_classes_with_too_few_calibration_images():
    report = dataclasses.replace(per_class_report(3), calibration_per_class={"class0": 60, "class1": 9, "class2": 0})
    table = report.table()
    assert "Calibration images per class (chosen across classes, the rarest first): class0 60, class1 9, class2 0." in table
    assert "Too few (< 10) for int8 to set its ranges from: class1 (9), class2 (0)" in table
    assert "Too few" not in dataclasses.replace(report, calibration_per_class={"class0": 10}).table()
    assert report.to_json()["calibration_per_class"] == {"class0": 60, "class1": 9, "class2": 0}


# ---- export_saved_model's reload check ---------------------------------------------------------

def _outputs(boxes, classes, scores, masks=None, raw_scores=None) -> dict:
    outputs = {"detection_boxes": np.array([boxes], np.float32), "detection_classes": np.array([classes], np.float32),
               "detection_scores": np.array([scores], np.float32), "num_detections": np.array([len(scores)], np.float32)}
    if masks is not None:
        outputs["detection_masks"] = np.array([masks], np.float32)
    if raw_scores is not None:
        outputs["raw_detection_scores"] = np.array([raw_scores], np.float32)
    return outputs


BOXES = [[0.1, 0.1, 0.5, 0.5], [0.2, 0.3, 0.9, 0.8]]


def test_the_reload_check_passes_the_same_detections_in_another_order():
    from od_tools.export.saved_model import compare as serve_compare

    masks = np.random.default_rng(0).random((2, 4, 4))
    mine = _outputs(BOXES, [1, 2], [0.9, 0.4], masks, raw_scores=[[0.1, 0.9], [0.5, 0.5]])
    theirs = _outputs(BOXES[::-1], [2, 1], [0.4, 0.9], masks[::-1], raw_scores=[[0.1, 0.9], [0.5, 0.5]])
    check = serve_compare([mine], [theirs], "image_tensor")
    assert check.passed and check.detections == 2 and check.max_mask_difference == 0.0
    assert check.max_raw_difference == 0.0 and check.to_json()["passed"] is True


@pytest.mark.parametrize("change, problem", [
    (lambda o: o["detection_scores"].__setitem__((0, 1), 0.45), "image 0: the checkpoint's detection 1 (class 2, "
                                                                 "score 0.4000) is not among the SavedModel's"),
    (lambda o: o["detection_classes"].__setitem__((0, 0), 2), "detection 0 (class 1, score 0.9000) is not among"),
    (lambda o: o["detection_boxes"].__setitem__((0, 0, 2), 0.6), "detection 0 (class 1"),
    (lambda o: o["detection_masks"].__setitem__((0, 0, 1, 1), 5.0), "masks differ by up to"),
    (lambda o: o.pop("detection_masks"), "the checkpoint predicts masks, the SavedModel outputs none"),
    (lambda o: o["raw_detection_scores"].__setitem__((0, 0, 0), 0.7), "pre-NMS outputs (raw_detection_boxes, "
                                                                      "raw_detection_scores) differ by up to 0.6"),
])
def test_the_reload_check_names_the_first_disagreement(change, problem):
    from od_tools.export.saved_model import compare as serve_compare

    masks = np.zeros((2, 4, 4))
    mine = _outputs(BOXES, [1, 2], [0.9, 0.4], masks, raw_scores=[[0.1, 0.9], [0.5, 0.5]])
    theirs = _outputs(BOXES, [1, 2], [0.9, 0.4], masks, raw_scores=[[0.1, 0.9], [0.5, 0.5]])
    change(theirs)
    check = serve_compare([mine], [theirs], "tf_example")
    assert not check.passed and problem in check.problem


def test_a_report_reads_back_as_it_was_written(tmp_path):
    """One type writes and reads report.json: the Android assets, the model card and the benchmark
    read what the exporters wrote, a TF2 export's and a TF1 conversion's alike."""
    tf2 = dataclasses.replace(per_class_report(3), crowding=Crowding(num_images=1, largest=12, max_detections=10),
                              options={"max_detections": 10}, calibration_per_class={"class0": 4})
    float_model = dataclasses.replace(tf2.models[0], accuracy={}, parity={})
    tf1 = dataclasses.replace(tf2, saved_model_accuracy=None, models=(float_model,), crowding=None, label_map="l.pbtxt",
                              tf1_conversion=TF1Conversion(("FLOAT",), default_ranges=(0.0, 6.0), fake_quant_ranges=False))
    for report in (tf2, tf1):
        report.write(tmp_path)
        assert read_report(tmp_path) == report
    assert tf1.saved_model_ap50 is None and tf1.per_class_drops() == {} and list(tf1.accuracies()) == []
    assert json.loads((tmp_path / "report.json").read_text())["tf1_conversion"] == {
        "inference_types": ["FLOAT"], "default_ranges": [0.0, 6.0], "fake_quant_ranges": False}


def test_a_folder_without_a_readable_report_is_named(tmp_path):
    with pytest.raises(UserError, match="report.json: not found; .* is not an export's --output_directory"):
        read_report(tmp_path)
    (tmp_path / "report.json").write_text('{"models": []}')
    with pytest.raises(UserError, match="report.json: not a report this version of the toolchain reads .*re-run the export"):
        read_report(tmp_path)


def test_a_model_file_that_is_not_the_reported_one_is_refused(tmp_path):
    model = b"TFL3 model"
    entry = dataclasses.replace(per_class_report(1).models[0], file="detect_float32.tflite",
                                sha256=hashlib.sha256(model).hexdigest())
    with pytest.raises(UserError, match="detect_float32.tflite: missing from the export"):
        entry.read_model(tmp_path)
    (tmp_path / entry.file).write_bytes(model)
    assert entry.read_model(tmp_path) == model
    (tmp_path / entry.file).write_bytes(model + b"!")
    with pytest.raises(UserError, match="detect_float32.tflite: sha256 differs from report.json"):
        entry.read_model(tmp_path)

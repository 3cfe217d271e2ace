"""Instance masks: a COCO export with polygons and RLE, and a VoTT project with polygon regions ->
create_tf_record --include_masks -> the OD API's own decoder (PNG_MASKS) -> the masks pycocotools
rasterizes from the annotations, pixel for pixel; the mask rules; inspection and its preview."""

import copy
import glob
import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import od_tools  # noqa: F401  first: tf.keras is then tf-keras, as the OD API needs
from object_detection.core import standard_fields as fields  # noqa: E402
from object_detection.data_decoders import tf_example_decoder  # noqa: E402
from object_detection.protos import input_reader_pb2  # noqa: E402
from PIL import Image
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO

import dataset_fixtures as fx
from od_tools.common.errors import UserError
from od_tools.datasets.annotations import masks
from od_tools.datasets.annotations import tf_example
from od_tools.datasets.create import CreateRequest, create_tf_records
from od_tools.datasets.inspection import InspectRequest, inspect_tf_records

_FIELDS = fields.InputDataFields
SIZES = {"frame_000.jpg": (120, 90), "frame_001.png": (100, 100), "frame_002.jpg": (64, 48)}


def _runs(pixels: np.ndarray) -> list[int]:
    """Uncompressed COCO RLE of a 0/1 mask: run lengths in column order, starting with zeros."""
    flat = pixels.flatten(order="F")
    changes = np.flatnonzero(np.diff(flat)) + 1
    edges = np.concatenate([[0], changes, [flat.size]])
    runs = np.diff(edges).tolist()
    return ([0] + runs) if flat[0] else runs


def _crowd_pixels() -> np.ndarray:
    pixels = np.zeros((90, 120), np.uint8)
    pixels[20:60, 60:110] = 1
    pixels[30:40, 70:80] = 0  # a hole: crowd regions are painted, not outlined
    return pixels


def _ellipse_rle() -> dict:
    yy, xx = np.mgrid[:100, :100]
    pixels = (((xx - 50) / 30.0) ** 2 + ((yy - 40) / 20.0) ** 2 <= 1).astype(np.uint8)
    rle = coco_mask.encode(np.asfortranarray(pixels))
    return {"counts": rle["counts"].decode("ascii"), "size": rle["size"]}


def _annotation(index: int, image_id: int, category: int, bbox: list, segmentation, crowd: int = 0) -> dict:
    return {"id": index, "image_id": image_id, "category_id": category, "segmentation": segmentation,
            "area": float(bbox[2] * bbox[3]), "bbox": bbox, "iscrowd": crowd, "attributes": {"occluded": False}}


def write_cvat_coco(folder: str) -> str:
    """A COCO 1.0 export as CVAT writes it (licenses, info, polygons, uncompressed RLE for painted
    crowd masks), plus a compressed-RLE object and the mask problems the converter must catch."""
    images = [fx.Image(name, w, h, (), "PNG" if name.endswith(".png") else "JPEG") for name, (w, h) in SIZES.items()]
    fx.write_images(os.path.join(folder, "images"), images)
    crowd = _crowd_pixels()
    annotations = [
        # An occluded person: two rings, one object.
        _annotation(1, 1, 1, [10, 10, 30, 70], [[10, 10, 40, 12, 38, 50, 12, 48], [14, 55, 36, 55, 30, 80]]),
        _annotation(2, 1, 2, [60, 20, 50, 40], {"counts": _runs(crowd), "size": [90, 120]}, crowd=1),
        # Past the right and bottom edges: box clipped, mask clipped by rasterizing.
        _annotation(3, 1, 2, [100, 60, 30, 35], [[100, 60, 130, 60, 130, 95, 100, 95]]),
        _annotation(4, 2, 1, [20, 20, 60, 40], _ellipse_rle()),
        # A stray two-point ring beside the outline: left out of the mask.
        _annotation(5, 2, 2, [60, 65, 30, 30], [[60, 65, 90, 65, 90, 95, 60, 95], [5, 5, 9, 9]]),
        _annotation(6, 3, 1, [2, 2, 20, 20], [[70, 2, 90, 2, 90, 20]]),             # outside the image
        _annotation(7, 3, 1, [30, 10, 25, 30], [[30, 10, 55, 10, 55, 40, 30, 40]]),
        _annotation(8, 3, 2, [2, 25, 12, 20], [[40, 25, 52, 25, 52, 45, 40, 45]]),  # beside its box
        _annotation(9, 3, 2, [5, 5, 10, 10], []),                                   # no mask
    ]
    document = {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {"contributor": "", "date_created": "", "description": "", "url": "", "version": "", "year": ""},
        "categories": [{"id": 1, "name": "person", "supercategory": ""}, {"id": 2, "name": "car", "supercategory": ""}],
        "images": [{"id": i + 1, "width": w, "height": h, "file_name": name, "license": 0, "flickr_url": "",
                    "coco_url": "", "date_captured": 0} for i, (name, (w, h)) in enumerate(SIZES.items())],
        "annotations": annotations,
    }
    path = os.path.join(folder, "annotations", "instances_default.json")
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as f:
        json.dump(document, f)
    return path


def decoded(prefix: str) -> dict[str, dict]:
    """Every record of `prefix`, by file name, as the OD API's decoder gives it to Mask R-CNN."""
    decoder = tf_example_decoder.TfExampleDecoder(load_instance_masks=True,
                                                  instance_mask_type=input_reader_pb2.PNG_MASKS)
    records = {}
    for path in sorted(glob.glob(prefix + "-*-of-*")):
        for serialized in tf.data.TFRecordDataset(path).as_numpy_iterator():
            tensors = decoder.decode(tf.constant(serialized))
            name = tensors[_FIELDS.filename].numpy().decode()
            records[name] = {key: tensors[key].numpy() for key in (
                _FIELDS.groundtruth_instance_masks, _FIELDS.groundtruth_is_crowd, _FIELDS.groundtruth_classes)}
            records[name]["serialized"] = serialized
    return records


def expected_mask(coco: COCO, annotation_id: int) -> np.ndarray:
    """pycocotools' own rasterization of the annotation, without rings of fewer than 3 points."""
    annotation = copy.deepcopy(coco.anns[annotation_id])
    if isinstance(annotation["segmentation"], list):
        annotation["segmentation"] = [ring for ring in annotation["segmentation"] if len(ring) >= 6]
    return coco.annToMask(annotation)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("cvat")
    annotations = write_cvat_coco(str(root / "export"))
    prefix = str(root / "out" / "train.tfrecord")
    report = create_tf_records(CreateRequest(input_format="coco", annotations=annotations,
                                             image_dir=str(root / "export" / "images"), output_path=prefix,
                                             num_shards=1, num_workers=1, include_masks=True))
    return annotations, prefix, report


def test_masks_round_trip_through_the_od_api_decoder_pixel_for_pixel(converted):
    annotations, prefix, _ = converted
    coco = COCO(annotations)
    records = decoded(prefix)
    kept = {"frame_000.jpg": [1, 2, 3], "frame_001.png": [4, 5], "frame_002.jpg": [7]}
    assert sorted(records) == sorted(kept)
    for name, ids in kept.items():
        masks = records[name][_FIELDS.groundtruth_instance_masks]
        width, height = SIZES[name]
        assert masks.shape == (len(ids), height, width), name
        for mask, annotation_id in zip(masks, ids):
            expected = expected_mask(coco, annotation_id)
            assert expected.any()
            np.testing.assert_array_equal(mask.astype(np.uint8), expected, err_msg=f"{name} annotation {annotation_id}")
    assert records["frame_000.jpg"][_FIELDS.groundtruth_is_crowd].tolist() == [False, True, False]


def test_masks_are_stored_as_the_od_api_converter_stores_them(converted):
    _, prefix, _ = converted
    serialized = decoded(prefix)["frame_001.png"]["serialized"]
    feature = tf.train.Example.FromString(serialized).features.feature
    pngs = feature[tf_example.MASK].bytes_list.value
    assert len(pngs) == len(feature[tf_example.XMIN].float_list.value) == 2
    with Image.open(io.BytesIO(pngs[0])) as png:
        assert (png.format, png.mode, png.size) == ("PNG", "L", (100, 100))
        assert set(np.unique(np.asarray(png)).tolist()) == {0, 1}


def test_each_mask_problem_is_fixed_or_dropped_and_named(converted):
    _, _, report = converted
    counts = report.issues.counts
    assert (counts["mask_ring_too_short"], counts["mask_empty"], counts["mask_outside_box"],
            counts["mask_missing"], counts["box_clipped"]) == (1, 1, 1, 1, 1)
    examples = report.issues.examples
    assert "annotation id 5" in examples["mask_ring_too_short"][0]
    assert "annotation id 6" in examples["mask_empty"][0]
    assert "annotation id 8" in examples["mask_outside_box"][0] and "0%" in examples["mask_outside_box"][0]
    assert "annotation id 9" in examples["mask_missing"][0]
    assert report.splits["dataset"].masks_written == 6
    written = json.loads(report.to_json_text())
    assert written["splits"]["dataset"]["masks_written"] == 6 and written["options"]["include_masks"] is True


def test_strict_refuses_a_bad_mask_naming_the_annotation(tmp_path):
    annotations = write_cvat_coco(str(tmp_path / "export"))
    with pytest.raises(UserError, match=r"annotation id \d.*--strict: \d issue\(s\) in all, nothing written"):
        create_tf_records(CreateRequest(input_format="coco", annotations=annotations, output_path=str(tmp_path / "o"),
                                        image_dir=str(tmp_path / "export" / "images"), num_workers=1,
                                        include_masks=True, strict=True))
    assert not glob.glob(str(tmp_path / "o-*"))


def test_without_include_masks_the_records_hold_no_masks(tmp_path):
    annotations = write_cvat_coco(str(tmp_path / "export"))
    prefix = str(tmp_path / "out" / "train.tfrecord")
    report = create_tf_records(CreateRequest(input_format="coco", annotations=annotations, output_path=prefix,
                                             image_dir=str(tmp_path / "export" / "images"), num_workers=1))
    assert report.totals()["objects_written"] == 9 and report.splits["dataset"].masks_written == 0
    for path in glob.glob(prefix + "-*"):
        for serialized in tf.data.TFRecordDataset(path).as_numpy_iterator():
            assert tf_example.MASK not in tf.train.Example.FromString(serialized).features.feature
    written = json.loads(report.to_json_text())
    assert "masks_written" not in written["splits"]["dataset"] and "include_masks" not in written["options"]


def test_vott_polygon_regions_become_masks_and_rectangles_are_dropped(tmp_path):
    images = fx.sample_images(6)
    target = fx.write_vott_project(str(tmp_path), images, ["dog", "cat"], polygons=True)
    prefix = str(tmp_path / "out" / "train.tfrecord")
    report = create_tf_records(CreateRequest(input_format="vott", annotations=target, image_dir=str(tmp_path / "source"),
                                             output_path=prefix, num_workers=1, include_masks=True))
    tagged = [image for image in images if image.objects]
    assert report.splits["dataset"].masks_written == len(tagged)  # the first region of each: the diamond
    assert report.issues.counts["box_from_polygon"] == 0  # the polygon is the mask, not a box guessed from it
    assert report.issues.counts["mask_missing"] == sum(len(image.objects) - 1 for image in tagged)
    records = decoded(prefix)
    for image in tagged:
        x0, y0, x1, y1 = image.objects[0].box
        diamond = [(x0 + x1) / 2, y0, x1, (y0 + y1) / 2, (x0 + x1) / 2, y1, x0, (y0 + y1) / 2]
        expected = coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects([diamond], image.height, image.width)))
        masks = records[os.path.basename(image.file_name)][_FIELDS.groundtruth_instance_masks]
        np.testing.assert_array_equal(masks[0].astype(np.uint8), expected)


def test_inspection_counts_masks_keeps_them_with_fix_and_draws_them(converted, tmp_path):
    _, prefix, _ = converted
    preview = str(tmp_path / "preview.png")
    fixed = str(tmp_path / "fixed" / "train.tfrecord")
    report = inspect_tf_records(InspectRequest(patterns=[prefix + "-*"], fix_path=fixed, num_workers=1,
                                               preview_path=preview))
    assert report.splits["records"].masks_written == 6 and report.issues.total == 0
    before, after = decoded(prefix), decoded(fixed)
    for name in before:
        np.testing.assert_array_equal(after[name][_FIELDS.groundtruth_instance_masks],
                                      before[name][_FIELDS.groundtruth_instance_masks])
    # frame_000's tile (records in file order, 4 to a row): its crowd mask covers the pixel
    # (85, 50), which the preview tints there in the mask's class colour.
    index = list(before).index("frame_000.jpg")
    with Image.open(preview) as sheet:
        tinted = np.asarray(sheet.convert("RGB"), np.int32)
    scale = 256 / 120
    x, y = round(85 * scale), round(50 * scale)
    with Image.open(io.BytesIO(fx.image_bytes(120, 90, seed=0))) as original:
        plain = np.asarray(original.convert("RGB").resize((256, round(90 * scale))), np.int32)
    tile = tinted[(index // 4) * 256:, (index % 4) * 256:]
    assert np.abs(tile[y, x] - plain[y, x]).sum() > 60


def test_masks_from_a_format_without_them_are_refused_in_one_line(tmp_path):
    annotations = fx.write_voc(str(tmp_path), fx.sample_images(2))
    with pytest.raises(UserError, match=r"--include_masks: voc annotations hold boxes only; masks come from COCO"):
        create_tf_records(CreateRequest(input_format="voc", annotations=annotations, output_path=str(tmp_path / "o"),
                                        include_masks=True))


def test_numerical_masks_in_a_tfrecord_are_read_as_the_od_api_writes_them():
    """NUMERICAL_MASKS: height*width floats per object; read into the same PNG masks."""
    pixels = np.zeros((2, 6, 8), np.float32)
    pixels[0, 1:3, 2:5] = 1.0
    pixels[1, 4:6, 0:8] = 1.0
    features = {
        tf_example.ENCODED: tf.train.Feature(bytes_list=tf.train.BytesList(value=[fx.image_bytes(8, 6)])),
        tf_example.HEIGHT: tf.train.Feature(int64_list=tf.train.Int64List(value=[6])),
        tf_example.WIDTH: tf.train.Feature(int64_list=tf.train.Int64List(value=[8])),
        tf_example.MASK: tf.train.Feature(float_list=tf.train.FloatList(value=pixels.flatten().tolist())),
        **{key: tf.train.Feature(float_list=tf.train.FloatList(value=values)) for key, values in (
            (tf_example.XMIN, [0.25, 0.0]), (tf_example.YMIN, [1 / 6, 4 / 6]), (tf_example.XMAX, [5 / 8, 1.0]),
            (tf_example.YMAX, [0.5, 1.0]))},
    }
    serialized = tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()
    record = tf_example.parse_example(serialized, "r.tfrecord record 0")
    assert record.issues == ()
    for mask, expected in zip((o.mask for o in record.objects), pixels):
        np.testing.assert_array_equal(masks.rasterize(mask, 8, 6), expected.astype(np.uint8))
    bad = dict(features, **{tf_example.MASK: tf.train.Feature(float_list=tf.train.FloatList(value=[1.0] * 5))})
    broken = tf_example.parse_example(tf.train.Example(features=tf.train.Features(feature=bad)).SerializeToString(), "r")
    assert broken.issues[0].kind == "record_malformed" and "holds 5 numbers, not 2 masks" in broken.issues[0].detail

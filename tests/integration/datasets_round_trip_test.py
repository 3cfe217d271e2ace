"""Every annotation format -> create_tf_record -> Model Garden's TfExampleDecoder -> the same
boxes (to 1e-6) and classes; pass-through image bytes; determinism; splits; reports."""

import dataclasses
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import od_tools  # noqa: F401  first: tf.keras is then tf-keras, as the OD API needs
from official.vision.dataloaders.tf_example_decoder import TfExampleDecoder  # noqa: E402

import dataset_fixtures as fx
from od_tools.datasets.writing import parallel
from od_tools.datasets.create import CreateRequest, create_tf_records
from od_tools.datasets.annotations.geometry import Box
from od_tools.datasets.annotations.image_record import ExampleData, ObjectData
from od_tools.datasets.writing.splits import split_train_val
from od_tools.datasets.annotations.tf_example import serialize_example
from od_tools.label_map import read_label_map

IMAGES = fx.sample_images(6)
TAGS = ["dog", "cat"]  # VoTT project tag order: ids dog=1, cat=2 in its label map


def decoded(prefix: str) -> dict[str, dict]:
    """Records of every shard of `prefix`, by file name, as Model Garden decodes them."""
    decoder = TfExampleDecoder()
    records = {}
    for path in sorted(glob.glob(prefix + "-*-of-*")):
        for serialized in tf.data.TFRecordDataset(path).as_numpy_iterator():
            example = tf.train.Example.FromString(serialized)
            feature = example.features.feature
            tensors = decoder.decode(tf.constant(serialized))
            records[feature["image/filename"].bytes_list.value[0].decode()] = {
                "encoded": feature["image/encoded"].bytes_list.value[0],
                "format": feature["image/format"].bytes_list.value[0],
                "sha256": feature["image/key/sha256"].bytes_list.value[0].decode(),
                "texts": [t.decode() for t in feature["image/object/class/text"].bytes_list.value],
                **{k: v.numpy() for k, v in tensors.items()},
            }
    return records


def expected_boxes(image: fx.Image) -> np.ndarray:
    """[ymin, xmin, ymax, xmax] normalized, as the decoder returns them."""
    return np.array([[o.box[1] / image.height, o.box[0] / image.width, o.box[3] / image.height,
                      o.box[2] / image.width] for o in image.objects], np.float64).reshape(-1, 4)


def convert(tmp_path, fmt: str, **kwargs):
    """Writes the fixture in `fmt`, converts it, returns (output prefix, report, images expected)."""
    root = str(tmp_path / "in")
    images = IMAGES
    image_dir = None
    if fmt == "coco":
        annotations, image_dir, input_format = fx.write_coco(root, images), os.path.join(root, "images"), "coco"
    elif fmt == "voc":
        annotations, input_format = fx.write_voc(root, images), "voc"
    elif fmt == "csv":
        annotations, input_format = fx.write_csv(root, images), "csv"
    elif fmt == "vott-csv":
        annotations, input_format = fx.write_csv(root, images, vott=True, name="p-export.csv"), "vott"
        images = [i for i in images if i.objects]
    elif fmt == "vott-json":
        fx.write_vott_json(root, images, TAGS)
        annotations, input_format = os.path.join(root, "vott-json-export"), "vott"
    elif fmt == "vott-project":
        annotations, input_format = fx.write_vott_project(root, images, TAGS, polygons=True), "vott"
        image_dir = os.path.join(root, "source")
        images = [i for i in images if i.objects]  # VoTT keeps no asset file for an untagged image
    else:
        annotations, input_format = fx.write_vott_tfrecords(root, images, TAGS), "vott"
    prefix = str(tmp_path / "out" / "train.tfrecord")
    report = create_tf_records(CreateRequest(input_format=input_format, annotations=annotations, image_dir=image_dir,
                                             output_path=prefix, num_shards=2, num_workers=1, **kwargs))
    return prefix, report, images


@pytest.mark.parametrize("fmt", ["coco", "voc", "csv", "vott-csv", "vott-json", "vott-project", "vott-tfrecord"])
def test_round_trip_through_model_gardens_decoder(tmp_path, fmt):
    prefix, report, images = convert(tmp_path, fmt)
    label_map = read_label_map(str(tmp_path / "out" / "label_map.pbtxt"))
    records = decoded(prefix)
    assert sorted(records) == sorted(i.file_name for i in images)
    assert sorted(os.listdir(tmp_path / "out")) == [
        "label_map.pbtxt", "labelmap.txt", "report.json", "train.tfrecord-00000-of-00002",
        "train.tfrecord-00001-of-00002"]
    source_ids = set()
    for index, image in enumerate(images):
        record = records[image.file_name]
        np.testing.assert_allclose(record["groundtruth_boxes"], expected_boxes(image), atol=1e-6, rtol=0)
        assert record["groundtruth_classes"].tolist() == [label_map.id_of(o.name) for o in image.objects]
        assert record["texts"] == [o.name for o in image.objects]
        assert (record["height"], record["width"]) == (image.height, image.width)
        assert record["image"].shape == (image.height, image.width, 3)
        assert record["format"] == b"jpeg"
        assert not record["groundtruth_is_crowd"].any()
        # Pass-through: the TFRecord holds the very bytes of the source image.
        seed = IMAGES.index(image)
        assert record["encoded"] == fx.image_bytes(image.width, image.height, seed=seed)
        assert record["source_id"].decode().isdecimal()
        source_ids.add(record["source_id"])
    assert len(source_ids) == len(images)
    if fmt.startswith("vott"):
        assert label_map.names == TAGS if fmt != "vott-csv" else label_map.names == sorted(TAGS)
    labels = (tmp_path / "out" / "labelmap.txt").read_text().splitlines()
    assert labels == label_map.names
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved == report.to_json(relative_to=str(tmp_path / "out"))
    assert saved["totals"]["images_written"] == len(images)
    assert saved["totals"]["objects_written"] == sum(len(i.objects) for i in images)
    flagged = {name for name, entry in saved["issues"].items() if entry["count"] and entry["action"] == "flagged"}
    assert flagged == ({"box_from_polygon"} if fmt == "vott-project" else set())
    assert "connection-secret" not in json.dumps(saved)


def test_vott_tfrecord_boxes_past_the_edge_are_clipped_and_ids_fixed(tmp_path):
    edge = [fx.Image("edge.jpg", 64, 48, (fx.Obj("cat", (0, 0, 64, 48)), fx.Obj("dog", (10, 5, 64, 30))))]
    export = fx.write_vott_tfrecords(str(tmp_path / "in"), edge, TAGS, overshoot=0.004)
    prefix = str(tmp_path / "out" / "vott")
    report = create_tf_records(CreateRequest(input_format="vott", annotations=export, output_path=prefix,
                                             num_workers=1))
    record = decoded(prefix)["edge.jpg"]
    np.testing.assert_allclose(record["groundtruth_boxes"],
                               [[0, 0, 1, 1], [5 / 48 - 0.004, 10 / 64 - 0.004, 30 / 48 + 0.004, 1.0]], atol=1e-6)
    assert record["groundtruth_classes"].tolist() == [2, 1]  # VoTT's 0-based tag indexes 1, 0
    assert report.issues.counts["box_clipped"] == 2
    assert report.issues.counts["class_id_corrected"] == 2
    assert report.issues.counts["source_id_replaced"] == 1
    assert record["sha256"] == __import__("hashlib").sha256(record["encoded"]).hexdigest()


def test_coco_crowd_and_area_reach_the_decoder(tmp_path):
    images = [fx.Image("a.jpg", 60, 40, (fx.Obj("cat", (5, 5, 25, 25)), fx.Obj("dog", (30, 10, 50, 30), crowd=True)))]
    root = str(tmp_path / "in")
    prefix = str(tmp_path / "out" / "coco")
    create_tf_records(CreateRequest(input_format="coco", annotations=fx.write_coco(root, images),
                                    image_dir=os.path.join(root, "images"), output_path=prefix, num_workers=1))
    record = decoded(prefix)["a.jpg"]
    assert record["groundtruth_is_crowd"].tolist() == [False, True]
    np.testing.assert_allclose(record["groundtruth_area"], [320.0, 320.0])  # the COCO 'area' (0.8 x box)
    assert record["source_id"] == b"100"


def test_output_bytes_do_not_depend_on_the_worker_count(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "CHUNK_SIZE", 2)  # many chunks, several queued per worker at once
    images = fx.sample_images(24)
    annotations = fx.write_csv(str(tmp_path / "in"), images)
    outputs = {}
    for workers in (1, 2):
        folder = tmp_path / f"out{workers}"
        create_tf_records(CreateRequest(input_format="csv", annotations=annotations, output_path=str(folder / "t"),
                                        num_shards=3, val_fraction=0.25, seed=5, num_workers=workers))
        outputs[workers] = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    assert list(outputs[1]) == ["label_map.pbtxt", "labelmap.txt", "report.json", "t-00000-of-00003",
                                "t-00001-of-00003", "t-00002-of-00003", "t_val-00000-of-00001"]
    assert outputs[1] == outputs[2]
    header = tmp_path / "header"
    create_tf_records(CreateRequest(input_format="csv", annotations=annotations, output_path=str(header / "t"),
                                    num_shards=3, val_fraction=0.25, seed=5, num_workers=2, image_check="header"))
    shards = {p.name: p.read_bytes() for p in header.iterdir() if "-of-" in p.name}
    assert shards == {name: data for name, data in outputs[1].items() if "-of-" in name}


def test_seeded_split_puts_every_image_in_exactly_one_split(tmp_path):
    images = fx.sample_images(10)
    annotations = fx.write_csv(str(tmp_path / "in"), images)
    names = {}
    for seed in (1, 2):
        out = tmp_path / f"out{seed}"
        report = create_tf_records(CreateRequest(input_format="csv", annotations=annotations, seed=seed,
                                                 output_path=str(out / "train.tfrecord"), val_fraction=0.3,
                                                 num_workers=1))
        train, val = decoded(str(out / "train.tfrecord")), decoded(str(out / "val.tfrecord"))
        assert (len(train), len(val)) == (7, 3)
        assert sorted(list(train) + list(val)) == sorted(i.file_name for i in images)
        assert report.splits["val"].images_written == 3
        names[seed] = sorted(val)
    assert names[1] != names[2]


def test_bad_data_is_left_out_counted_and_reported_without_strict(tmp_path):
    images = [fx.Image("good.jpg", 50, 40, (fx.Obj("cat", (1, 1, 20, 20)),)),
              fx.Image("edge.jpg", 50, 40, (fx.Obj("cat", (-5, 1, 20, 20)), fx.Obj("dog", (30, 30, 10, 10)))),
              fx.Image("broken.jpg", 50, 40, (fx.Obj("dog", (1, 1, 20, 20)),)),
              fx.Image("gone.jpg", 50, 40, (fx.Obj("dog", (1, 1, 20, 20)),)),
              fx.Image("copy.jpg", 50, 40, (fx.Obj("dog", (2, 2, 20, 20)),))]
    root = tmp_path / "in"
    annotations = fx.write_csv(str(root), images)
    (root / "broken.jpg").write_bytes((root / "broken.jpg").read_bytes()[:200])
    (root / "gone.jpg").unlink()
    (root / "copy.jpg").write_bytes((root / "good.jpg").read_bytes())
    prefix = str(tmp_path / "out" / "train.tfrecord")
    report = create_tf_records(CreateRequest(input_format="csv", annotations=annotations, output_path=prefix,
                                             num_workers=1))
    records = decoded(prefix)
    assert sorted(records) == ["copy.jpg", "edge.jpg", "good.jpg"]
    assert records["edge.jpg"]["groundtruth_boxes"][0].tolist() == pytest.approx([1 / 40, 0.0, 0.5, 0.4])
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    counts = {name: entry["count"] for name, entry in saved["issues"].items() if entry["count"]}
    assert counts == {"box_clipped": 1, "box_inverted": 1, "image_corrupt": 1, "image_missing": 1,
                      "image_duplicate": 1}
    assert saved["totals"] == {"images_read": 5, "images_written": 3, "images_skipped": 2, "objects_read": 6,
                               "objects_written": 3, "objects_dropped": 3}
    duplicate = saved["issues"]["image_duplicate"]["examples"][0]
    assert "same image bytes as" in duplicate and "good.jpg" in duplicate and "copy.jpg" in duplicate
    assert "broken.jpg" in saved["issues"]["image_corrupt"]["examples"][0]
    assert report.written


def test_a_new_shard_count_replaces_the_old_shards(tmp_path):
    annotations = fx.write_csv(str(tmp_path / "in"), IMAGES)
    prefix = str(tmp_path / "out" / "train.tfrecord")
    for shards in (3, 2):
        create_tf_records(CreateRequest(input_format="csv", annotations=annotations, output_path=prefix,
                                        num_shards=shards, num_workers=1))
    assert sorted(p for p in os.listdir(tmp_path / "out") if "tfrecord" in p) == [
        "train.tfrecord-00000-of-00002", "train.tfrecord-00001-of-00002"]
    assert len(decoded(prefix)) == len(IMAGES)


def tensorflow_serialization(data: ExampleData) -> bytes:
    """The same record built with TensorFlow's own proto classes."""
    def feature(kind, values):
        lists = {"bytes": tf.train.BytesList, "float": tf.train.FloatList, "int64": tf.train.Int64List}
        return tf.train.Feature(**{f"{kind}_list": lists[kind](value=values)})

    o = data.objects
    features = {
        "image/encoded": feature("bytes", [data.encoded]),
        "image/format": feature("bytes", [data.image_format.encode()]),
        "image/height": feature("int64", [data.height]), "image/width": feature("int64", [data.width]),
        "image/filename": feature("bytes", [data.filename.encode()]),
        "image/source_id": feature("bytes", [data.source_id.encode()]),
        "image/key/sha256": feature("bytes", [data.sha256.encode()]),
        "image/object/bbox/xmin": feature("float", [x.box.xmin for x in o]),
        "image/object/bbox/ymin": feature("float", [x.box.ymin for x in o]),
        "image/object/bbox/xmax": feature("float", [x.box.xmax for x in o]),
        "image/object/bbox/ymax": feature("float", [x.box.ymax for x in o]),
        "image/object/class/text": feature("bytes", [x.class_text.encode() for x in o]),
        "image/object/class/label": feature("int64", [x.class_id for x in o]),
        "image/object/is_crowd": feature("int64", [int(x.is_crowd) for x in o]),
        "image/object/area": feature("float", [x.area for x in o]),
        "image/object/difficult": feature("int64", [int(x.difficult) for x in o]),
    }
    if data.with_masks:
        features["image/object/mask"] = feature("bytes", [x.mask_png for x in o])
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString(deterministic=True)


@pytest.mark.parametrize("objects, with_masks", [
    ((), False),
    ((), True),
    ((ObjectData(Box(0.1, 0.2, 0.30000001, 0.9), 1, "cat", False, 123.456, False),), False),
    ((ObjectData(Box(0.0, 0.0, 1.0, 1.0), 2**40, "Schäferhund 🐕", True, 1e9, True),
      ObjectData(Box(1 / 3, 2 / 7, 0.5, 0.5), 300, "x" * 200, False, 0.5, False)), False),
    ((ObjectData(Box(0.1, 0.2, 0.3, 0.9), 1, "cat", False, 12.0, False, mask_png=b"\x89PNG" + bytes(300)),
      ObjectData(Box(0.0, 0.0, 1.0, 1.0), 2, "dog", True, 1e4, False, mask_png=bytes(range(200)))), True),
])
def test_our_serialization_is_byte_identical_to_tensorflows(objects, with_masks):
    data = ExampleData(encoded=bytes(range(256)) * 700, size_bytes=179200, image_format="png", width=4032,
                       height=3024, filename="dir/ä.png", source_id="9007199254740993", sha256="ab" * 32,
                       objects=objects, with_masks=with_masks)
    assert serialize_example(data) == tensorflow_serialization(data)


def planted_duplicates(root) -> tuple[str, list[tuple[str, ...]], list[tuple[str, ...]], tuple[str, ...]]:
    """A CSV set of 60 images plus 4 byte-for-byte copies, 2 copies re-saved with a comment
    (other bytes, same pixels) and 3 frames of one clip. Returns (annotations, copied pairs,
    re-saved pairs, frames)."""
    base = fx.sample_images(60)
    copies = [dataclasses.replace(base[i], file_name=f"copy_of_{base[i].file_name}") for i in (1, 11, 21, 31)]
    resaved = [dataclasses.replace(base[i], file_name=f"resaved_{base[i].file_name}") for i in (5, 15)]
    frames = [dataclasses.replace(base[40 + k], file_name=f"clipA_frame{k:03d}.jpg") for k in range(3)]
    annotations = fx.write_csv(str(root), base + copies + resaved + frames)
    for image in copies + resaved:
        original = (root / image.file_name.split("_", 2)[-1] if image in resaved else
                    root / image.file_name.removeprefix("copy_of_")).read_bytes()
        # A JPEG comment segment after SOI changes the bytes, not the pixels.
        comment = b"\xff\xfe\x00\x0bre-saved!"
        (root / image.file_name).write_bytes(original if image in copies else original[:2] + comment + original[2:])
    pair = lambda image: (image.file_name.split("_", 2)[-1] if image in resaved  # noqa: E731
                          else image.file_name.removeprefix("copy_of_"), image.file_name)
    return (annotations, [pair(i) for i in copies], [pair(i) for i in resaved], tuple(f.file_name for f in frames))


def split_of(out, names) -> set[str]:
    train, val = decoded(str(out / "train.tfrecord")), decoded(str(out / "val.tfrecord"))
    return {"train" if name in train else "val" if name in val else "missing" for name in names}


def test_identical_images_always_land_in_the_same_split(tmp_path):
    annotations, copied, resaved, frames = planted_duplicates(tmp_path / "in")
    crossed_without_grouping = 0
    for seed in range(6):
        out = tmp_path / f"out{seed}"
        report = create_tf_records(CreateRequest(input_format="csv", annotations=annotations, seed=seed,
                                                 output_path=str(out / "train.tfrecord"), val_fraction=0.2,
                                                 num_workers=2))
        for pair in copied:
            assert len(split_of(out, pair)) == 1, (seed, pair)
        split = json.loads((out / "report.json").read_text())["split"]
        assert {k: split[k] for k in ("groups_kept_together", "images_in_groups", "same_bytes_groups",
                                      "val_images_wanted", "val_images")} == {
            "groups_kept_together": 4, "images_in_groups": 8, "same_bytes_groups": 4, "val_images_wanted": 14,
            "val_images": 14}
        assert split["examples"][0] == list(copied[0])
        assert report.issues.counts["image_duplicate"] == 4
        # The same split without the groups: the test would catch a copy on each side.
        names = [row.split(",")[0] for row in open(annotations).read().splitlines()[1:]]
        names = list(dict.fromkeys(names))
        train, val = split_train_val(names, 0.2, seed)
        crossed_without_grouping += sum((a in val) != (b in val) for a, b in copied)
    assert crossed_without_grouping > 0


def test_same_pixels_and_split_by_keep_re_saved_copies_and_frames_together(tmp_path):
    annotations, copied, resaved, frames = planted_duplicates(tmp_path / "in")
    for seed in range(4):
        out = tmp_path / f"out{seed}"
        create_tf_records(CreateRequest(input_format="csv", annotations=annotations, seed=seed, val_fraction=0.2,
                                        output_path=str(out / "train.tfrecord"), same_image="pixels",
                                        split_by=r"^(clip\w)_frame\d+", num_workers=2))
        for group in copied + resaved + [frames]:
            assert len(split_of(out, group)) == 1, (seed, group)
        split = json.loads((out / "report.json").read_text())["split"]
        assert (split["groups_kept_together"], split["same_bytes_groups"], split["same_pixels_groups"],
                split["split_by_groups"], split["split_by_unmatched"]) == (7, 4, 2, 1, 66)
        assert (split["same_image"], split["split_by"]) == ("pixels", r"^(clip\w)_frame\d+")

"""inspect_tf_record on VoTT-style and our own TFRecords: statistics, problems, --fix, --strict."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import dataset_fixtures as fx
from od_tools.common.errors import UserError
from od_tools.datasets.create import CreateRequest, create_tf_records
from od_tools.datasets.inspection import InspectRequest, inspect_tf_records
from od_tools.datasets.preview import render_preview

TAGS = ["dog", "cat"]
IMAGES = [
    fx.Image("edge.jpg", 64, 48, (fx.Obj("cat", (0, 0, 64, 48)), fx.Obj("dog", (10, 5, 40, 30)))),
    fx.Image("plain.jpg", 80, 60, (fx.Obj("cat", (8, 6, 40, 30)),)),
    fx.Image("inverted.jpg", 50, 50, (fx.Obj("dog", (30, 5, 10, 40)), fx.Obj("cat", (1, 1, 20, 20)))),
    fx.Image("empty.jpg", 40, 40, ()),
]


@pytest.fixture
def vott_export(tmp_path):
    """VoTT's TFRecord export: edge boxes overshooting [0, 1], 0-based labels, names as source ids,
    plus one record whose image bytes are damaged."""
    export = fx.write_vott_tfrecords(str(tmp_path / "in"), IMAGES, TAGS, overshoot=0.003)
    broken = fx.Image("broken.jpg", 32, 32, (fx.Obj("cat", (2, 2, 20, 20)),))
    data = fx.image_bytes(32, 32, seed=9)[:300]
    with tf.io.TFRecordWriter(os.path.join(export, "broken.tfrecord")) as writer:
        writer.write(fx.vott_example(broken, data, TAGS))
    return export


def test_inspect_counts_classes_boxes_sizes_and_problems(vott_export, tmp_path, capsys):
    report_path = tmp_path / "inspect.json"
    report = inspect_tf_records(InspectRequest(patterns=[vott_export], report_path=str(report_path), num_workers=1))
    printed = capsys.readouterr().out
    stats = report.splits["records"]
    assert report.label_map_origin == "tf_label_map.pbtxt beside the records"
    assert (stats.images_read, stats.images_written) == (5, 4)
    assert {item.name: stats.objects_per_class[item.id] for item in report.label_map.items} == {"dog": 1, "cat": 3}
    assert stats.per_image() == {"min": 0, "mean": 1.0, "max": 2, "histogram": {"0": 1, "1": 2, "2": 1}}
    assert dict(stats.image_sizes) == {"64x48": 1, "80x60": 1, "50x50": 1, "40x40": 1}
    counts = {k: v for k, v in report.issues.counts.items() if v}
    assert counts == {"box_clipped": 1, "box_inverted": 1, "image_corrupt": 1, "class_id_corrected": 5,
                      "source_id_replaced": 5}
    assert not report.written and not any(p.name.endswith(".tfrecord-00000-of-00001") for p in tmp_path.iterdir())
    assert "inverted.jpg" in report.issues.examples["box_inverted"][0]
    for line in ("inspect_tf_record: 4 of 5 images passed validation", "box_inverted", "cat"):
        assert line in printed
    saved = json.loads(report_path.read_text())
    assert saved["issues"]["image_corrupt"]["count"] == 1
    assert saved["splits"]["records"]["classes"] == [{"id": 1, "name": "dog", "objects": 1, "images": 1},
                                                     {"id": 2, "name": "cat", "objects": 3, "images": 3}]


def test_strict_inspection_fails_and_names_the_problems(vott_export):
    with pytest.raises(UserError) as caught:
        inspect_tf_records(InspectRequest(patterns=[os.path.join(vott_export, "*.tfrecord")], strict=True,
                                          num_workers=1))
    message = str(caught.value)
    assert "13 issue(s) (box_clipped 1, box_inverted 1, class_id_corrected 5, image_corrupt 1" in message
    assert "--fix OUT writes a repaired copy" in message and "\n" not in message


def test_fix_writes_a_repaired_copy_that_passes_strict_inspection(vott_export, tmp_path):
    fixed = str(tmp_path / "fixed" / "train.tfrecord")
    inspect_tf_records(InspectRequest(patterns=[vott_export], fix_path=fixed, num_shards=2, num_workers=1))
    assert sorted(os.listdir(tmp_path / "fixed")) == ["label_map.pbtxt", "labelmap.txt",
                                                      "train.tfrecord-00000-of-00002", "train.tfrecord-00001-of-00002"]
    clean = inspect_tf_records(InspectRequest(patterns=[fixed + "-*"], strict=True, num_workers=1))
    assert clean.issues.total == 0
    assert clean.label_map_origin == "label_map.pbtxt beside the records"
    assert clean.splits["records"].images_written == 4
    boxes = []
    for path in sorted(os.listdir(tmp_path / "fixed")):
        if "tfrecord" in path:
            for raw in tf.data.TFRecordDataset(str(tmp_path / "fixed" / path)).as_numpy_iterator():
                feature = tf.train.Example.FromString(raw).features.feature
                boxes += [feature[f"image/object/bbox/{k}"].float_list.value for k in ("xmin", "ymin", "xmax", "ymax")]
    values = np.concatenate([np.array(b) for b in boxes])
    assert values.min() >= 0.0 and values.max() <= 1.0


def test_our_own_output_inspects_clean_and_previews(tmp_path):
    images = fx.sample_images(5)
    out = tmp_path / "out"
    create_tf_records(CreateRequest(input_format="csv", annotations=fx.write_csv(str(tmp_path / "in"), images),
                                    output_path=str(out / "train.tfrecord"), num_workers=1))
    report = inspect_tf_records(InspectRequest(patterns=[str(out / "train.tfrecord-*")], strict=True, num_workers=1,
                                               preview_path=str(tmp_path / "all.png")))
    assert report.issues.total == 0 and report.splits["records"].images_written == 5
    assert Image.open(tmp_path / "all.png").size == (4 * 256, 2 * 256)
    png = render_preview([str(out / "train.tfrecord-00000-of-00001")], str(tmp_path / "preview.png"), count=5,
                         columns=3)
    sheet = Image.open(png).convert("RGB")
    assert sheet.size == (3 * 256, 2 * 256)
    assert sheet.getpixel((3 * 256 - 1, 2 * 256 - 1)) == (32, 32, 32)  # the sixth tile is empty


def test_fix_refuses_to_overwrite_its_input(vott_export, tmp_path):
    out = tmp_path / "out"
    create_tf_records(CreateRequest(input_format="vott", annotations=vott_export, output_path=str(out / "t"),
                                    num_workers=1))
    with pytest.raises(UserError, match="would overwrite the records being inspected"):
        inspect_tf_records(InspectRequest(patterns=[str(out / "t-*")], fix_path=str(out / "t")))

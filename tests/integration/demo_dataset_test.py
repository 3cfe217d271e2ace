"""The demo dataset target (//od_tools/demo:dataset): the layout training relies on, learnable
content, and a generator that gives the same bytes every time."""

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import od_tools  # noqa: F401  first: tf.keras is then tf-keras, as the OD API needs
from official.vision.dataloaders.tf_example_decoder import TfExampleDecoder  # noqa: E402
from PIL import Image

from od_tools.datasets.demo import CLASSES, DemoSpec, build_demo_dataset
from od_tools.label_map import read_label_map

DATASET = os.path.join("od_tools", "demo", "dataset")


def decode(pattern: str) -> list[dict]:
    decoder = TfExampleDecoder()
    return [{k: v.numpy() for k, v in decoder.decode(tf.constant(raw)).items()}
            for path in sorted(glob.glob(os.path.join(DATASET, pattern)))
            for raw in tf.data.TFRecordDataset(path).as_numpy_iterator()]


def test_the_directory_has_the_agreed_layout():
    names = sorted(os.listdir(DATASET))
    assert names == ["coco", "label_map.pbtxt", "labelmap.txt", "preview.png", "report.json",
                     "train.tfrecord-00000-of-00002", "train.tfrecord-00001-of-00002", "val.tfrecord-00000-of-00001"]
    label_map = read_label_map(os.path.join(DATASET, "label_map.pbtxt"))
    assert [(i.id, i.name) for i in label_map.items] == [(1, "circle"), (2, "square"), (3, "triangle")]
    assert open(os.path.join(DATASET, "labelmap.txt")).read() == "circle\nsquare\ntriangle\n"
    assert sorted(os.listdir(os.path.join(DATASET, "coco"))) == ["images", "train.json", "val.json"]
    assert len(os.listdir(os.path.join(DATASET, "coco", "images", "train"))) == 600
    assert len(os.listdir(os.path.join(DATASET, "coco", "images", "val"))) == 100
    report = json.load(open(os.path.join(DATASET, "report.json")))
    assert report["written"] and report["totals"]["images_written"] == 700
    assert report["totals"]["images_skipped"] == report["totals"]["objects_dropped"] == 0
    assert all(entry["count"] == 0 for entry in report["issues"].values())
    assert Image.open(os.path.join(DATASET, "preview.png")).size == (1024, 1024)


@pytest.mark.parametrize("pattern, count", [("train.tfrecord-*", 600), ("val.tfrecord-*", 100)])
def test_records_are_learnable_detection_examples(pattern, count):
    records = decode(pattern)
    assert len(records) == count
    assert len({r["source_id"] for r in records}) == count
    per_class = np.zeros(4, int)
    for record in records:
        assert record["image"].shape == (256, 256, 3)
        boxes, classes = record["groundtruth_boxes"], record["groundtruth_classes"]
        assert 1 <= len(classes) <= 4
        assert set(classes.tolist()) <= {1, 2, 3}
        assert (boxes >= 0).all() and (boxes <= 1).all()
        extent = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) * 256
        assert (extent >= 16).all() and (extent <= 97).all()
        per_class += np.bincount(classes, minlength=4)
    shares = per_class[1:] / per_class.sum()
    assert (shares > 0.25).all(), shares


def test_the_generator_is_seeded_and_deterministic(tmp_path):
    """A small run equals the target's first images byte for byte, whatever the worker count."""
    spec = DemoSpec(num_train=16, num_val=4, num_train_shards=1)
    runs = []
    for workers in (1, 2):
        folder = tmp_path / f"run{workers}"
        build_demo_dataset(str(folder), spec, num_workers=workers)
        runs.append({os.path.relpath(p, folder): open(p, "rb").read()
                     for p in glob.glob(str(folder / "**"), recursive=True) if os.path.isfile(p)})
    assert runs[0] == runs[1]
    for name in ("train/000000.jpg", "train/000015.jpg", "val/000003.jpg"):
        assert runs[0][f"coco/images/{name}"] == open(os.path.join(DATASET, "coco", "images", name), "rb").read()
    coco = json.loads(runs[0]["coco/train.json"])
    assert [c["name"] for c in coco["categories"]] == list(CLASSES)

"""Annotation readers: every format parses to the same typed records; broken files fail in one line."""

import glob
import json
import os
import shutil

import pytest

import dataset_fixtures as fx
from od_tools.common.errors import UserError
from od_tools.datasets.annotations import geometry
from od_tools.datasets.formats import vott
from od_tools.datasets.writing.classes import resolve_label_map
from od_tools.datasets.annotations.masks import Polygons, RunLength
from od_tools.datasets.formats.readers import read_dataset
from od_tools.datasets.annotations.image_record import Units
from od_tools.datasets.writing.splits import shuffled, split_train_val, val_count

IMAGES = fx.sample_images(4)


def summary(dataset):
    """(file name, [(class, box)]) per record, in reader order."""
    return [(r.filename, [(o.class_name, o.box.as_tuple()) for o in r.objects]) for r in dataset.records]


EXPECTED = [(i.file_name, [(o.name, o.box) for o in i.objects]) for i in IMAGES]


def test_coco(tmp_path):
    path = fx.write_coco(str(tmp_path), IMAGES, categories=["dog", "cat"])
    dataset = read_dataset("coco", path, str(tmp_path / "images"))
    assert summary(dataset) == EXPECTED  # x + width gives back the corner exactly for these values
    assert [r.source_id for r in dataset.records] == ["100", "101", "102", "103"]
    assert dataset.records[1].declared_size == (IMAGES[1].width, IMAGES[1].height)
    assert dataset.records[1].units is Units.PIXELS
    assert os.path.isfile(dataset.records[1].image_path)
    assert dataset.declared_classes == ((1, "dog"), (2, "cat"))


def test_voc_finds_images_in_the_voc_layout(tmp_path):
    folder = fx.write_voc(str(tmp_path), IMAGES)
    dataset = read_dataset("voc", folder)
    assert summary(dataset) == EXPECTED
    assert all(os.path.isfile(r.image_path) for r in dataset.records)
    assert dataset.declared_classes is None


@pytest.mark.parametrize("vott", [False, True])
def test_csv_and_vott_csv(tmp_path, vott):
    path = fx.write_csv(str(tmp_path), IMAGES, vott=vott)
    dataset = read_dataset("vott" if vott else "csv", path)
    expected = [e for e in EXPECTED if e[1]] if vott else EXPECTED  # VoTT's CSV has no rows for empty images
    assert summary(dataset) == expected
    assert dataset.records[0].declared_size == (None if vott else (IMAGES[0].width, IMAGES[0].height))


def test_vott_json_export_folder(tmp_path):
    fx.write_vott_json(str(tmp_path), IMAGES, tags=["dog", "cat"])
    dataset = read_dataset("vott", str(tmp_path / "vott-json-export"))
    assert summary(dataset) == EXPECTED
    assert dataset.declared_classes == ((1, "dog"), (2, "cat"))
    assert all(os.path.isfile(r.image_path) for r in dataset.records)


IN_FOLDERS = [fx.Image(f"day/{i.file_name}", i.width, i.height, i.objects) for i in IMAGES]


def test_vott_project_folder(tmp_path):
    """The target folder of a VoTT 2.x project: tags from the .vott file, one record per
    *-asset.json, images found by the recorded path's tail under --image_dir."""
    target = fx.write_vott_project(str(tmp_path), IN_FOLDERS, tags=["dog", "cat"], video_frame=True)
    dataset = read_dataset("vott", target, str(tmp_path / "source"))
    tagged = [i for i in IN_FOLDERS if i.objects]
    frame, *images = dataset.records  # ordered by the recorded path: ".../clip.mp4#t=2.5", ".../day/..."
    assert summary(dataset)[1:] == [(os.path.basename(i.file_name), [(o.name, o.box) for o in i.objects])
                                    for i in tagged]
    assert dataset.declared_classes == ((1, "dog"), (2, "cat"))
    assert [r.image_path for r in images] == [str(tmp_path / "source" / i.file_name) for i in tagged]
    assert all(os.path.isfile(r.image_path) for r in images)
    assert [r.declared_size for r in images] == [(i.width, i.height) for i in tagged]
    assert [r.source_id for r in dataset.records] == ["1", "2", "3", "4"]
    assert frame.filename == "clip.mp4#t=2.5"
    assert [(i.kind, i.detail) for i in frame.issues] == [("image_missing", "a video frame: a project folder holds no "
                                                           "frame images; export the project from VoTT (VoTT JSON "
                                                           "export) to get them")]
    assert read_dataset("vott", os.path.join(target, "Street Project.vott"),
                        str(tmp_path / "source")).records == dataset.records


def test_vott_project_polygons_become_their_bounding_box_flagged(tmp_path):
    target = fx.write_vott_project(str(tmp_path), IMAGES, tags=["dog", "cat"], polygons=True)
    dataset = read_dataset("vott", target, str(tmp_path / "source"))
    assert summary(dataset) == [e for e in EXPECTED if e[1]]  # the diamond's box is the drawn box
    flagged = [issue for record in dataset.records for issue in record.issues]
    assert len(flagged) == len([i for i in IMAGES if i.objects])
    assert flagged[0].kind == "box_from_polygon" and "region p1_0 is a POLYGON; its bounding box" in flagged[0].detail


@pytest.mark.parametrize("sealed", [None, {"encrypted": "%%% not base64, not JSON {"}, {"encrypted": ""}])
def test_vott_project_connections_are_never_decrypted_nor_repeated(tmp_path, sealed):
    target = fx.write_vott_project(str(tmp_path), IMAGES, tags=["dog", "cat"], secret="hunter2", encrypted=sealed)
    dataset = read_dataset("vott", target, str(tmp_path / "source"))
    assert len(dataset.records) == 3
    blob = json.load(open(os.path.join(target, "Street Project.vott")))["sourceConnection"]["providerOptions"]
    assert not blob["encrypted"] or blob["encrypted"] not in repr(dataset)
    assert "hunter2" not in repr(dataset)


def test_vott_project_images_at_the_recorded_path_win_and_missing_ones_say_where_vott_had_them(tmp_path):
    source = tmp_path / "source"
    target = fx.write_vott_project(str(tmp_path), IN_FOLDERS, tags=["dog", "cat"], recorded_source=str(source))
    here = read_dataset("vott", target, str(tmp_path / "elsewhere"))
    assert [r.image_path for r in here.records] == [str(source / i.file_name) for i in IN_FOLDERS if i.objects]
    copy = tmp_path / "copy"
    copy.mkdir()
    os.rename(source, copy / "source")
    for image_dir in (copy, copy / "source"):  # the longest tail that exists: source/day/x.jpg, day/x.jpg
        found = read_dataset("vott", target, str(image_dir))
        assert [r.image_path for r in found.records] == [str(copy / "source" / i.file_name)
                                                          for i in IN_FOLDERS if i.objects]
    missing = read_dataset("vott", target, None).records[0]
    assert missing.image_path == os.path.join(target, "img001.jpg")
    assert missing.missing_hint == (f" (VoTT recorded {source}/day/img001.jpg; no tail of it is under {target}); "
                                    "point --image_dir at a copy of the project's source folder")


def test_vott_recorded_paths_give_tails_that_stay_inside_the_image_folder():
    assert vott._tails("C:/Users/ann/My Pictures/day/a.jpg") == [
        "Users/ann/My Pictures/day/a.jpg", "ann/My Pictures/day/a.jpg", "My Pictures/day/a.jpg", "day/a.jpg", "a.jpg"]
    assert vott._tails("D:\\set\\..\\..\\secret\\b.jpg") == ["set/secret/b.jpg", "secret/b.jpg", "b.jpg"]
    assert vott._recorded_path({"path": "file:C:/My%20Pictures/a.jpg"}) == "C:/My Pictures/a.jpg"
    assert vott._recorded_path({"path": "https://acct.blob.core.windows.net/c/a%201.jpg?sig=TOKEN"}) == "/c/a 1.jpg"


@pytest.mark.parametrize("change, message", [
    (lambda target: os.remove(os.path.join(target, "Street Project.vott")),
     r"holds VoTT asset files \(\*-asset.json\) but no .vott project file, which names the classes"),
    (lambda target: shutil.copy(os.path.join(target, "Street Project.vott"), os.path.join(target, "Old.vott")),
     r"holds several VoTT projects \(Old.vott, Street Project.vott\); point it at one .vott file"),
    (lambda target: [os.remove(p) for p in glob.glob(os.path.join(target, "*-asset.json"))],
     r"the VoTT project has no \*-asset.json files \(VoTT writes one per tagged image\)"),
    (lambda target: open(os.path.join(target, "Street Project.vott"), "w").write('{"name": "x"}'),
     r"Street Project.vott: not a VoTT project file \(no 'tags'\)"),
])
def test_vott_project_folders_that_cannot_be_read_say_why_in_one_line(tmp_path, change, message):
    target = fx.write_vott_project(str(tmp_path), IMAGES, tags=["dog", "cat"])
    change(target)
    with pytest.raises(UserError, match=message) as caught:
        read_dataset("vott", target, str(tmp_path / "source"))
    assert "\n" not in str(caught.value)


def test_label_maps_come_from_declared_classes_or_sorted_names(tmp_path):
    coco = read_dataset("coco", fx.write_coco(str(tmp_path), IMAGES, categories=["dog", "cat"]))
    label_map, origin = resolve_label_map([coco], None)
    assert label_map.names == ["dog", "cat"] and origin == "COCO categories"
    voc = read_dataset("voc", fx.write_voc(str(tmp_path), IMAGES))
    label_map, origin = resolve_label_map([voc], None)
    assert (label_map.ids, label_map.names) == ([1, 2], ["cat", "dog"])
    given = tmp_path / "given.pbtxt"
    given.write_text("item { id: 5 name: 'dog' }\nitem { id: 2 name: 'cat' }\n")
    assert resolve_label_map([voc], str(given))[0].name_to_id() == {"cat": 2, "dog": 5}


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("name, text, fmt, message", [
    ("a.json", "{\"images\": [", "coco", r"a.json:1:\d+: not valid JSON"),
    ("a.json", json.dumps({"images": [{"id": 1, "file_name": "x.jpg"}], "annotations": [],
                           "categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}),
     "coco", r"categories\[1\] 'b' has id 1, already used by 'a'"),
    ("a.json", json.dumps({"images": [{"id": 1, "file_name": "x.jpg"}], "categories": [{"id": 1, "name": "a"}],
                           "annotations": [{"image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1]}]}),
     "coco", r"annotations\[0\] refers to image_id 2, which 'images' does not list"),
    ("a.json", json.dumps({"images": [{"id": 1, "file_name": "x.jpg"}], "categories": [{"id": 1, "name": "a"}],
                           "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1]}]}),
     "coco", r"annotations\[0\] has 'bbox': \[0, 0, 1\], expected \[x, y, width, height\]"),
    ("a.json", json.dumps({"images": [{"id": 1}], "categories": []}), "coco", r"images\[0\] has no 'file_name'"),
    ("a.json", json.dumps({"images": [], "annotations": [], "categories": []}), "coco", r"empty dataset"),
    ("a.xml", "<annotation><filename>a.jpg</filename><object><name>x</name><bndbox><xmin>1</xmin><ymin>q</ymin>"
              "<xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>",
     "voc", r"a.xml: object 0 has <ymin>q</ymin>, expected a number of pixels"),
    ("a.xml", "<annotation><filename>a.jpg</filename>", "voc", r"a.xml:1:\d+: not well-formed XML"),
    ("a.xml", "<image/>", "voc", r"root element is <image>, expected <annotation>"),
    ("a.csv", "file,w\nx.jpg,3\n", "csv", r"a.csv:1: the header lacks column\(s\) class, xmin"),
    ("a.csv", "filename,class,xmin,ymin,xmax,ymax\nx.jpg,cat,1,2,abc,4\n", "csv",
     r"a.csv:2: column 'xmax' is 'abc', expected a number of pixels"),
    ("a.csv", "filename,class,xmin,ymin,xmax,ymax\nx.jpg,cat,1,2,,4\n", "csv", r"a.csv:2: some of xmin"),
    ("x-export.json", json.dumps({"name": "p"}), "vott", r"not a VoTT JSON export \(no 'assets' object\)"),
])
def test_structural_errors_are_one_line_and_name_the_place(tmp_path, name, text, fmt, message):
    path = write(tmp_path, name, text)
    with pytest.raises(UserError, match=message) as caught:
        read_dataset(fmt, path)
    assert "\n" not in str(caught.value)


def _coco_with(segmentation) -> str:
    return json.dumps({"images": [{"id": 1, "file_name": "x.jpg"}], "categories": [{"id": 1, "name": "a"}],
                       "annotations": [{"id": 4, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1],
                                        "segmentation": segmentation}]})


@pytest.mark.parametrize("segmentation, message", [
    ([[1, 2, "3", 4, 5, 6]], r"annotations\[0\] has 'segmentation': \[\[1, 2, \"3\".*expected polygons"),
    ("abc", r"annotations\[0\] has 'segmentation': \"abc\", expected polygons \[\[x1, y1"),
    ({"counts": "abc"}, r"annotations\[0\] has an RLE 'segmentation' whose 'size' is null, expected \[height, width\]"),
    ({"counts": [1, -2], "size": [1, 1]}, r"whose 'counts' is \[1, -2\], expected a string \(compressed RLE\) or a list"),
])
def test_coco_segmentation_is_checked_only_when_masks_are_asked_for(tmp_path, segmentation, message):
    path = write(tmp_path, "a.json", _coco_with(segmentation))
    assert read_dataset("coco", path).records[0].objects[0].mask is None
    with pytest.raises(UserError, match=message) as caught:
        read_dataset("coco", path, include_masks=True)
    assert "\n" not in str(caught.value)


def test_coco_segmentation_kinds_are_read_as_stated(tmp_path):
    polygons = read_dataset("coco", write(tmp_path, "p.json", _coco_with([[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]])),
                            include_masks=True).records[0].objects[0].mask
    assert polygons == Polygons(((1, 2, 3, 4, 5, 6), (7, 8, 9, 10, 11, 12)))
    rle = {"counts": [0, 5, 7], "size": [3, 4]}
    assert read_dataset("coco", write(tmp_path, "u.json", _coco_with(rle)), include_masks=True).records[0] \
        .objects[0].mask == RunLength((0, 5, 7), 3, 4)
    assert read_dataset("coco", write(tmp_path, "c.json", _coco_with({"counts": "05", "size": [1, 5]})),
                        include_masks=True).records[0].objects[0].mask == RunLength("05", 1, 5)
    assert read_dataset("coco", write(tmp_path, "e.json", _coco_with([])), include_masks=True) \
        .records[0].objects[0].mask is None


def test_missing_annotations_say_which_flag(tmp_path):
    with pytest.raises(UserError, match=r"--annotations=.*nothing: no such file or folder"):
        read_dataset("voc", str(tmp_path / "nothing"))
    with pytest.raises(UserError, match="no file matches"):
        read_dataset("csv", str(tmp_path / "*.csv"))
    with pytest.raises(UserError, match="--input_format=yolo: unknown"):
        read_dataset("yolo", str(tmp_path))


def test_seeded_split_is_stable_disjoint_and_complete():
    items = list(range(100))
    train, val = split_train_val(items, 0.2, seed=3)
    assert (len(train), len(val)) == (80, 20)
    assert sorted(train + val) == items
    assert (train, val) == split_train_val(items, 0.2, seed=3)
    assert val != split_train_val(items, 0.2, seed=4)[1]
    assert shuffled(items, 3) == val + train
    assert val_count(3, 0.01) == 1 and val_count(3, 0.9) == 2 and val_count(10, 0.0) == 0
    with pytest.raises(UserError, match="at least 2"):
        val_count(1, 0.5)


def test_xywh_boxes_become_corners():
    assert geometry.from_xywh(1, 2, 3, 4) == geometry.Box(1, 2, 4, 6)

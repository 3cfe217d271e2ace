"""od_tools.inference without a trained model: what a source names, the COCO JSON pycocotools reads
back (masks as RLE), the filters, and the run's handling of unreadable pictures.

The detector here is a `Model` around a fixed function (one box per picture): the pipeline, the
writers and the errors are what is under test; real models run in //tests/integration:detect_demo_test.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from od_tools.common.errors import UserError
from od_tools.inference import DetectSettings, Model, ModelForm, detect, outputs, run, sources
from od_tools.modeling import Detections

LABELS = {1: "circle", 2: "square"}


def fixed_model(masks: bool = False) -> Model:
    def found(image: np.ndarray) -> Detections:
        return Detections(np.array([[0.25, 0.25, 0.75, 0.5], [0.0, 0.0, 0.2, 0.2]], np.float32), np.array([1, 2]),
                          np.array([0.9, 0.3], np.float32),
                          np.ones((2, 8, 8), np.float32) if masks else None)

    return Model(source="fixed", form=ModelForm.SAVED_MODEL, labels=LABELS, min_score=0.5, input_size=None,
                 num_classes=2, prepare=lambda image: image, run=found)


def picture(path: Path, size=(40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), 120, np.uint8)).save(path)
    return path


def test_a_folder_is_searched_recursively_and_keeps_relative_names(tmp_path):
    picture(tmp_path / "src/a.jpg")
    picture(tmp_path / "src/trip/b.png")
    (tmp_path / "src/notes.md").write_text("not a picture")
    found = sources.resolve(str(tmp_path / "src"))
    assert [(i.name, i.kind) for i in found] == [("a.jpg", "image"), ("trip/b.png", "image")]


def test_globs_and_list_files_name_pictures(tmp_path):
    picture(tmp_path / "a.jpg")
    picture(tmp_path / "b.png")
    assert [i.name for i in sources.resolve(str(tmp_path / "*.png"))] == ["b.png"]
    (tmp_path / "list.txt").write_text("# mine\na.jpg\n\nb.png\n")
    assert [i.name for i in sources.resolve(str(tmp_path / "list.txt"))] == ["a.jpg", "b.png"]
    (tmp_path / "bad.txt").write_text("a.jpg\nreadme.md\n")
    with pytest.raises(UserError, match=r"bad.txt:2: readme.md is not an image"):
        sources.resolve(str(tmp_path / "bad.txt"))


@pytest.mark.parametrize("case, message", [
    ("empty", r"no images or videos in it"),
    ("inside", r"is inside --source"),
    ("missing", r"no such file or folder"),
])
def test_sources_that_name_nothing_are_one_line_errors(tmp_path, case, message):
    (tmp_path / "src").mkdir()
    if case == "inside":
        picture(tmp_path / "src/a.jpg")
    source = str(tmp_path / ("nowhere" if case == "missing" else "src"))
    with pytest.raises(UserError, match=message):
        sources.resolve(source, output_dir=str(tmp_path / ("src/out" if case == "inside" else "out")))


def test_results_load_in_pycocotools_with_masks_as_rle(tmp_path):
    from pycocotools import mask as mask_lib
    from pycocotools.coco import COCO

    picture(tmp_path / "src/a.png", size=(64, 48))
    run(fixed_model(masks=True), str(tmp_path / "src"), DetectSettings(output_dir=str(tmp_path / "out")))
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(tmp_path / "out/images.json"))
        results = coco.loadRes(str(tmp_path / "out/detections.json"))
    (entry,) = results.dataset["annotations"]  # the 0.3 detection is under the 0.5 threshold
    assert coco.imgs[1]["file_name"] == "a.png" and entry["category_id"] == 1
    assert entry["bbox"] == [16.0, 12.0, 16.0, 24.0]
    decoded = mask_lib.decode(entry["segmentation"])
    expected = fixed_model(masks=True).run(None).select([0]).image_masks(48, 64)[0]
    assert decoded.shape == (48, 64) and np.array_equal(decoded.astype(bool), expected) and expected.sum() == 16 * 24
    assert Image.open(tmp_path / "out/a.png").size == (64, 48)


def test_unreadable_pictures_are_skipped_and_counted_or_fatal_with_strict(tmp_path):
    picture(tmp_path / "src/good.jpg")
    (tmp_path / "src/broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    summary = run(fixed_model(), str(tmp_path / "src"), DetectSettings(output_dir=str(tmp_path / "out")))
    assert summary.pictures == 1 and len(summary.skipped) == 1 and "broken.jpg" in summary.skipped[0]
    assert json.loads((tmp_path / "out/summary.json").read_text())["skipped"] == 1
    assert summary.per_class == {"circle": 1}
    with pytest.raises(UserError, match=r"broken.jpg: cannot read the image"):
        run(fixed_model(), str(tmp_path / "src"), DetectSettings(output_dir=str(tmp_path / "strict"), strict=True))
    assert not (tmp_path / "strict").exists()


def test_filters_keep_scores_classes_and_the_best_few():
    found = fixed_model().run(None)
    assert len(detect.keep(found, 0.0, None, 10)) == 2
    assert list(detect.keep(found, 0.0, {2}, 10).classes) == [2]
    assert list(detect.keep(found, 0.0, None, 1).scores) == [np.float32(0.9)]
    assert detect.class_filter(["square", "1"], LABELS) == {1, 2}
    with pytest.raises(UserError, match=r"--classes dog: the model has no such class"):
        detect.class_filter(["dog"], LABELS)


def test_agreement_of_a_model_with_itself_and_with_a_shifted_copy():
    found = detect.keep(fixed_model().run(None), 0.0, None, 10)
    assert detect.agreement(found, found, 0.5)["matched_fraction"] == 1.0
    moved = Detections(found.boxes + 0.3, found.classes, found.scores)
    agreed = detect.agreement(found, moved, 0.5)
    assert agreed["matched"] == 0 and agreed["mean_iou"] < 0.5


def test_a_label_map_with_gaps_fits_and_one_for_more_classes_does_not():
    from od_tools.inference import models

    coco_like = {i: f"c{i}" for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)}
    models.check_label_ids(coco_like, 90, "mscoco_label_map.pbtxt")  # the zoo's 80 classes with ids up to 90
    with pytest.raises(UserError, match=r"names class ids 91, beyond the model's 90 classes"):
        models.check_label_ids({**coco_like, 91: "extra"}, 90, "mine.pbtxt")


def test_labelmap_txt_gaps_name_no_class():
    from od_tools.label_map import parse_android_labels

    assert parse_android_labels("circle\n???\ntriangle\n") == {1: "circle", 3: "triangle"}


def test_picture_files_keep_jpeg_and_name_frames():
    assert outputs.picture_file("trip/a.jpg") == "trip/a.jpg"
    assert outputs.picture_file("a.webp") == "a.png"
    assert outputs.picture_file("clip.mp4#000012") == "clip.mp4_000012.png"
    assert outputs.yolo_lines(Detections(np.array([[0.0, 0.0, 0.5, 1.0]]), np.array([3]), np.array([0.5]))) == \
        "3 0.500000 0.250000 1.000000 0.500000 0.50000\n"

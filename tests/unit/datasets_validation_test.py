"""The validation policy, one issue kind at a time, and the promise that nothing invalid comes out."""

import dataclasses
import hashlib
import io
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from od_tools.datasets.annotations import masks
from od_tools.datasets.annotations.geometry import Box
from od_tools.datasets.annotations.image_record import ImageRecord, ObjectAnnotation, ReaderIssue, Units
from od_tools.datasets.checks.validation import KINDS, Action, ValidationContext, validate_record

CONTEXT = ValidationContext(name_to_id={"cat": 1, "dog": 2}, id_to_name={1: "cat", 2: "dog"})
WIDTH, HEIGHT = 80, 60


def jpeg(width=WIDTH, height=HEIGHT, exif_orientation=None) -> bytes:
    buffer = io.BytesIO()
    kwargs = {}
    if exif_orientation:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, "JPEG", **kwargs)
    return buffer.getvalue()


JPEG = jpeg()


def record(*objects, units=Units.PIXELS, encoded=JPEG, declared=(WIDTH, HEIGHT), **kwargs) -> ImageRecord:
    return ImageRecord(where="a.csv:2 ('a.jpg')", filename="a.jpg", source_id="1", objects=tuple(objects),
                       units=units, encoded=encoded, declared_size=declared, **kwargs)


def obj(box, name="cat", class_id=None, **kwargs) -> ObjectAnnotation:
    return ObjectAnnotation(where="line 2", box=Box(*box), class_name=name, class_id=class_id, **kwargs)


def kinds(processed) -> list[str]:
    return [issue.kind for issue in processed.issues]


def test_a_clean_record_passes_through_untouched():
    processed = validate_record(record(obj((8, 6, 40, 30)), obj((0, 0, 80, 60), "dog")), CONTEXT)
    example = processed.example
    assert processed.issues == ()
    assert example.encoded == JPEG and example.sha256 == hashlib.sha256(JPEG).hexdigest()
    assert (example.width, example.height, example.image_format) == (WIDTH, HEIGHT, "jpeg")
    assert [o.box for o in example.objects] == [Box(0.1, 0.1, 0.5, 0.5), Box(0.0, 0.0, 1.0, 1.0)]
    assert [(o.class_id, o.class_text) for o in example.objects] == [(1, "cat"), (2, "dog")]
    assert [o.area for o in example.objects] == [32 * 24, 80 * 60]


def test_box_past_the_edge_is_clipped_and_counted():
    processed = validate_record(record(obj((-4, 10, 90, 30))), CONTEXT)
    assert kinds(processed) == ["box_clipped"]
    assert processed.example.objects[0].box == Box(0.0, 10 / 60, 1.0, 0.5)
    assert processed.example.objects[0].area == pytest.approx(80 * 20)
    assert "clipped to (0, 10, 80, 30)" in processed.issues[0].message()


def test_rounding_noise_at_the_edge_is_not_an_issue():
    processed = validate_record(record(obj((-1e-7, 0.1, 1 + 1e-7, 0.9)), units=Units.NORMALIZED), CONTEXT)
    assert processed.issues == ()
    assert processed.example.objects[0].box == Box(0.0, 0.1, 1.0, 0.9)


@pytest.mark.parametrize("box, kind", [
    ((40, 10, 20, 30), "box_inverted"),
    ((10, 10, 10, 30), "box_zero_area"),
    ((10, 10, 10.5, 30), "box_zero_area"),            # under one pixel wide
    ((79.5, 10, 120, 30), "box_zero_area"),           # half a pixel left after clipping
    ((100, 10, 120, 30), "box_outside_image"),
    ((10, 10, 200, 30), "box_outside_image"),         # past the edge by more than half the image
    ((math.nan, 10, 20, 30), "box_not_finite"),
    ((10, 10, math.inf, 30), "box_not_finite"),
])
def test_bad_boxes_are_dropped_and_counted(box, kind):
    processed = validate_record(record(obj(box), obj((1, 1, 20, 20), "dog")), CONTEXT)
    assert kinds(processed) == [kind]
    assert KINDS[kind].action is Action.DROPPED
    assert [o.class_text for o in processed.example.objects] == ["dog"]
    assert processed.objects_read == 2


def test_unknown_and_missing_classes_are_dropped():
    processed = validate_record(record(obj((1, 1, 9, 9), "bird"), obj((1, 1, 9, 9), None),
                                       obj((1, 1, 9, 9), None, class_id=7), obj((1, 1, 9, 9), None, class_id=2)),
                                CONTEXT)
    assert kinds(processed) == ["class_unknown", "class_missing", "class_unknown"]
    assert "class 'bird' is not in the label map (it has 'cat', 'dog')" in processed.issues[0].detail
    assert [(o.class_id, o.class_text) for o in processed.example.objects] == [(2, "dog")]


def test_a_class_id_that_disagrees_with_the_label_map_is_relabelled_by_name():
    processed = validate_record(record(obj((0.1, 0.1, 0.5, 0.5), "dog", class_id=1), units=Units.NORMALIZED), CONTEXT)
    assert kinds(processed) == ["class_id_corrected"]
    assert processed.example.objects[0].class_id == 2


def test_an_image_that_lost_every_object_is_skipped_but_a_negative_image_is_kept():
    lost = validate_record(record(obj((40, 10, 20, 30)), obj((1, 1, 9, 9), "bird")), CONTEXT)
    assert kinds(lost) == ["box_inverted", "class_unknown", "image_no_valid_objects"]
    assert lost.example is None
    negative = validate_record(record(), CONTEXT)
    assert negative.issues == () and negative.example.objects == ()


def test_missing_and_undecodable_images_are_skipped(tmp_path):
    missing = validate_record(record(obj((1, 1, 9, 9)), encoded=None, image_path=str(tmp_path / "nope.jpg")), CONTEXT)
    assert kinds(missing) == ["image_missing"] and missing.example is None
    assert "nope.jpg not found" in missing.issues[0].detail
    corrupt = validate_record(record(obj((1, 1, 9, 9)), encoded=JPEG[: len(JPEG) // 2]), CONTEXT)
    assert kinds(corrupt) == ["image_corrupt"] and corrupt.example is None
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, "GIF")
    unsupported = validate_record(record(obj((1, 1, 9, 9)), encoded=gif.getvalue()), CONTEXT)
    assert kinds(unsupported) == ["image_unsupported"]


def test_pixel_boxes_for_another_image_size_skip_the_image():
    processed = validate_record(record(obj((1, 1, 9, 9)), declared=(160, 120)), CONTEXT)
    assert kinds(processed) == ["image_size_mismatch"] and processed.example is None
    assert "annotated as 160x120 but the image is 80x60" in processed.issues[0].detail


def test_a_size_swapped_by_exif_rotation_is_explained():
    rotated = jpeg(exif_orientation=6)
    processed = validate_record(record(obj((1, 1, 9, 9)), encoded=rotated, declared=(HEIGHT, WIDTH)), CONTEXT)
    assert kinds(processed) == ["image_size_mismatch"]
    assert "EXIF orientation 6: annotated on the rotated view" in processed.issues[0].detail
    flagged = validate_record(record(obj((1, 1, 9, 9)), encoded=rotated), CONTEXT)
    assert kinds(flagged) == ["image_rotated_by_exif"] and flagged.example is not None


def test_normalized_records_get_the_real_size_written():
    processed = validate_record(record(obj((0.1, 0.1, 0.5, 0.5)), units=Units.NORMALIZED, declared=(640, 480)),
                                CONTEXT)
    assert kinds(processed) == ["image_size_corrected"]
    assert (processed.example.width, processed.example.height) == (WIDTH, HEIGHT)
    assert validate_record(record(units=Units.NORMALIZED, declared=None), CONTEXT).issues[0].kind == \
        "image_size_corrected"


def test_reader_issues_are_reported_and_a_malformed_record_is_skipped():
    processed = validate_record(record(issues=(ReaderIssue("record_malformed", "not a tf.Example"),)), CONTEXT)
    assert kinds(processed) == ["record_malformed"] and processed.example is None
    fixed = validate_record(record(issues=(ReaderIssue("source_id_replaced", "renumbered"),)), CONTEXT)
    assert kinds(fixed) == ["source_id_replaced"] and fixed.example is not None


def test_strict_errors_name_the_record_and_say_what_to_do():
    issue = validate_record(record(obj((40, 10, 20, 30))), CONTEXT).issues[0]
    assert issue.error() == ("a.csv:2 ('a.jpg') line 2 'cat': box (40, 10, 20, 30) has its minimum above its "
                             "maximum; fix the box corners")


finite = st.floats(min_value=-300, max_value=300, allow_nan=False)
anything = st.one_of(finite, st.sampled_from([math.nan, math.inf, -math.inf]))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(anything, anything, anything, anything), min_size=1, max_size=6),
       st.sampled_from(list(Units)))
def test_whatever_boxes_come_in_every_written_box_is_valid(boxes, units):
    """The converter's promise: a written box lies in [0, 1], is ordered and at least a pixel."""
    if units is Units.NORMALIZED:
        boxes = [tuple(v / 100 for v in box) for box in boxes]
    processed = validate_record(record(*(obj(b) for b in boxes), units=units), CONTEXT)
    written = processed.example.objects if processed.example else ()
    dropped = sum(KINDS[i].action is Action.DROPPED for i in kinds(processed))
    assert len(written) + dropped == len(boxes)
    for o in written:
        assert all(0.0 <= v <= 1.0 for v in o.box.as_tuple())
        assert o.box.xmax - o.box.xmin >= 1 / WIDTH - 1e-12 and o.box.ymax - o.box.ymin >= 1 / HEIGHT - 1e-12
        assert o.area > 0
    if processed.example is None:
        assert kinds(processed)[-1] == "image_no_valid_objects"


def test_every_issue_kind_says_what_it_means_and_what_to_do():
    for name, kind in KINDS.items():
        assert kind.name == name and kind.meaning and kind.fix
    assert dataclasses.is_dataclass(CONTEXT)


# Masks ----------------------------------------------------------------------------------------

MASKS = dataclasses.replace(CONTEXT, include_masks=True)


def test_decode_counts_reads_pycocotools_compressed_rle():
    import numpy as np
    from pycocotools import mask as coco_mask

    rng = np.random.default_rng(3)
    for _ in range(20):
        pixels = (rng.random((int(rng.integers(1, 40)), int(rng.integers(1, 40)))) < rng.random()).astype(np.uint8)
        flat = pixels.flatten(order="F")
        runs = np.diff(np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])).tolist()
        runs = ([0] + runs) if flat[0] else runs
        text = coco_mask.encode(np.asfortranarray(pixels))["counts"].decode()
        assert masks.decode_counts(text) == runs
    with pytest.raises(ValueError, match="ends inside a number"):
        masks.decode_counts("0P")  # "P" (48 + 0x20) says "more follows", and nothing does


def _mask_of(processed, index=0):
    import numpy as np

    with Image.open(io.BytesIO(processed.example.objects[index].mask_png)) as png:
        return np.asarray(png)


def test_a_polygon_mask_is_rasterized_inside_its_box():
    square = masks.Polygons(((10, 10, 30, 10, 30, 20, 10, 20),))
    processed = validate_record(record(obj((10, 10, 30, 20), mask=square)), MASKS)
    assert processed.issues == () and processed.example.with_masks
    pixels = _mask_of(processed)
    assert pixels.shape == (HEIGHT, WIDTH) and pixels.sum() == 20 * 10 and pixels[10:20, 10:30].all()


@pytest.mark.parametrize("mask, kind, detail", [
    (None, "mask_missing", "has no mask"),
    (masks.Polygons(((1, 1, 5, 5),)), "mask_empty", "no polygon ring of 3 or more points"),
    (masks.Polygons(((100, 1, 120, 1, 120, 9),)), "mask_empty", "covers no pixel of the 80x60 image"),
    (masks.Polygons(((50, 30, 70, 30, 70, 50, 50, 50),)), "mask_outside_box", "only 0% of the mask's 400 pixels"),
    (masks.RunLength((WIDTH * HEIGHT,), HEIGHT, 2 * WIDTH), "mask_size_mismatch", "RLE mask of 160x60"),
    (masks.RunLength((5, 3), HEIGHT, WIDTH), "mask_corrupt", "add up to 8 pixels, not the image's 4800"),
    (masks.RunLength("0P", HEIGHT, WIDTH), "mask_corrupt", "string does not decode"),
    (masks.EncodedMask(b"\x89PNG\r\n\x1a\n broken"), "mask_corrupt", "PNG mask does not decode"),
])
def test_an_unusable_mask_drops_its_object_and_names_it(mask, kind, detail):
    processed = validate_record(record(obj((8, 6, 40, 30), mask=mask), obj((0, 0, 80, 60), "dog",
                                                                            mask=masks.RunLength((0, 4800), 60, 80))),
                                MASKS)
    assert kinds(processed) == [kind] and KINDS[kind].action is Action.DROPPED
    assert detail in processed.issues[0].detail and "line 2 'cat'" in processed.issues[0].where
    assert [o.class_text for o in processed.example.objects] == ["dog"]


def test_short_rings_are_left_out_and_the_rest_kept():
    mask = masks.Polygons(((10, 10, 30, 10, 30, 20, 10, 20), (1, 1, 2, 2), (40, 40, 41, 41, 42)))
    processed = validate_record(record(obj((10, 10, 30, 20), mask=mask)), MASKS)
    assert kinds(processed) == ["mask_ring_too_short"] and "2 of the mask's 3 polygon ring(s)" in processed.issues[0].detail
    assert _mask_of(processed).sum() == 200


def test_records_with_png_masks_keep_them_without_being_asked():
    png = masks.encode_png(masks.rasterize(masks.Polygons(((8, 6, 40, 6, 40, 30),)), WIDTH, HEIGHT))
    processed = validate_record(record(obj((8, 6, 40, 30), mask=masks.EncodedMask(png))), CONTEXT)
    assert processed.example.with_masks and processed.example.objects[0].mask_png == png
    plain = validate_record(record(obj((8, 6, 40, 30), mask=masks.Polygons(((8, 6, 40, 6, 40, 30),)))), CONTEXT)
    assert not plain.example.with_masks and plain.example.objects[0].mask_png is None

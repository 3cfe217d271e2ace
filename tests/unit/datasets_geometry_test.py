"""Box math: property tests (hypothesis) for coordinate conversion and clipping."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from od_tools.datasets.annotations import geometry
from od_tools.datasets.annotations.geometry import Box

coordinates = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)
sizes = st.integers(min_value=1, max_value=10_000)
unit = st.floats(min_value=-2.0, max_value=3.0, allow_nan=False, allow_infinity=False)
boxes = st.builds(Box, coordinates, coordinates, coordinates, coordinates)
unit_boxes = st.builds(Box, unit, unit, unit, unit)
ordered_unit_boxes = st.builds(lambda xs, ys: Box(min(xs), min(ys), max(xs), max(ys)),
                               st.tuples(unit, unit), st.tuples(unit, unit))


@given(boxes, sizes, sizes)
def test_normalize_then_denormalize_gives_the_pixel_box_back(box, width, height):
    back = geometry.denormalize(geometry.normalize(box, width, height), width, height)
    for original, restored in zip(box.as_tuple(), back.as_tuple()):
        assert math.isclose(original, restored, rel_tol=1e-12, abs_tol=1e-9)


@given(boxes, sizes, sizes)
def test_normalized_box_is_inside_the_unit_square_exactly_when_the_pixel_box_is_inside(box, width, height):
    normalized = geometry.normalize(box, width, height)
    assert math.isclose(normalized.xmin * width, box.xmin, rel_tol=1e-12, abs_tol=1e-9)
    assert math.isclose(normalized.ymax * height, box.ymax, rel_tol=1e-12, abs_tol=1e-9)
    xs, ys = (box.xmin, box.xmax), (box.ymin, box.ymax)
    if all(0 <= x <= width for x in xs) and all(0 <= y <= height for y in ys):
        assert geometry.inside_unit(normalized, tolerance=0.0)
    overshoot = max(max(-x, x - width) / width for x in xs)
    overshoot = max(overshoot, max(max(-y, y - height) / height for y in ys))
    if overshoot > 1e-5:
        assert not geometry.inside_unit(normalized)


@given(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4), st.floats(0, 1e4), st.floats(0, 1e4))
def test_xywh_corners_keep_width_and_height(x, y, w, h):
    box = geometry.from_xywh(x, y, w, h)
    assert (box.xmin, box.ymin) == (x, y)
    assert math.isclose(box.width, w, abs_tol=1e-9 * max(1.0, abs(x)))
    assert math.isclose(box.height, h, abs_tol=1e-9 * max(1.0, abs(y)))
    assert not geometry.is_inverted(box)


@given(unit_boxes)
def test_clipping_lands_inside_the_image_and_is_idempotent(box):
    clipped = geometry.clip_unit(box)
    assert all(0.0 <= v <= 1.0 for v in clipped.as_tuple())
    assert geometry.inside_unit(clipped, tolerance=0.0)
    assert geometry.clip_unit(clipped) == clipped


@given(unit_boxes)
def test_clipping_changes_nothing_inside_and_never_grows_a_box(box):
    clipped = geometry.clip_unit(box)
    if geometry.inside_unit(box, tolerance=0.0):
        assert clipped == box
    assert clipped.as_tuple() == tuple(min(1.0, max(0.0, v)) for v in box.as_tuple())
    if not geometry.is_inverted(box):
        assert not geometry.is_inverted(clipped)
        assert clipped.area <= box.area + 1e-12


@given(ordered_unit_boxes)
def test_clipping_an_overlapping_box_gives_its_intersection_with_the_image(box):
    clipped = geometry.clip_unit(box)
    if geometry.overlaps_unit(box):
        assert clipped == Box(max(0.0, box.xmin), max(0.0, box.ymin), min(1.0, box.xmax), min(1.0, box.ymax))
        assert (clipped.width > 0 and clipped.height > 0) == (box.width > 0 and box.height > 0)
    else:
        assert clipped.area == 0


@given(unit_boxes)
def test_inverted_means_a_minimum_above_its_maximum(box):
    assert geometry.is_inverted(box) == (box.xmin > box.xmax or box.ymin > box.ymax)


@settings(max_examples=50)
@given(st.sampled_from([math.nan, math.inf, -math.inf]), unit, unit, unit)
def test_non_finite_coordinates_are_caught(bad, a, b, c):
    assert not geometry.is_finite(Box(bad, a, b, c))
    assert not geometry.is_finite(Box(a, b, c, bad))
    assert geometry.is_finite(Box(a, b, c, a))


def test_far_outside_uses_half_the_image_as_margin():
    assert not geometry.far_outside_unit(Box(-0.49, 0.0, 1.49, 1.0))
    assert geometry.far_outside_unit(Box(0.1, 0.1, 350.0, 0.5))   # pixel units in a normalized field
    assert geometry.far_outside_unit(Box(-0.6, 0.1, 0.5, 0.5))

"""Seeded splits that keep groups together, and what makes images a group: the same bytes, the
same pixels, the same --split_by name."""

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from od_tools.common.errors import UserError
from od_tools.datasets.checks import encoded_images
from od_tools.datasets.writing.grouping import Identity, compile_split_by, group_for_split, identify, name_key
from od_tools.datasets.annotations.image_record import ImageRecord, Units
from od_tools.datasets.writing.splits import groups_sharing_keys, shuffled, split_train_val


def test_keys_shared_directly_or_through_others_make_one_group():
    keys = [("a",), ("b",), ("a", "c"), ("c",), (None,), ("d", None), ("b",), ()]
    assert groups_sharing_keys(keys) == [[0, 2, 3], [1, 6]]
    assert groups_sharing_keys([(None,), (None,)]) == []  # no key is not a shared key


def test_without_groups_the_split_is_the_seeded_order_cut_in_two():
    items = list(range(50))
    train, val = split_train_val(items, 0.2, seed=7)
    assert val + train == shuffled(items, 7)
    assert split_train_val(items, 0.2, seed=7, together=[]) == (train, val)


def test_a_group_that_would_cross_the_split_lands_whole_in_one_split():
    items = list(range(20))
    plain_train, plain_val = split_train_val(items, 0.25, seed=3)
    crossing = [plain_val[0], plain_train[0]]  # apart without grouping
    train, val = split_train_val(items, 0.25, seed=3, together=[crossing])
    assert set(crossing) <= set(train) or set(crossing) <= set(val)
    assert sorted(train + val) == items and len(val) == 5
    order = shuffled(items, 3)
    assert train == [i for i in order if i in train] and val == [i for i in order if i in val]


def test_groups_bigger_than_the_validation_set_go_to_training_unless_every_group_is():
    items = list(range(20))
    big = list(range(10))
    train, val = split_train_val(items, 0.2, seed=1, together=[big])
    assert set(big) <= set(train) and len(val) == 4
    halves = [list(range(10)), list(range(10, 20))]
    train, val = split_train_val(items, 0.2, seed=1, together=halves)
    assert sorted(val) in halves and len(train) == 10
    with pytest.raises(UserError, match="all 20 images are kept together"):
        split_train_val(items, 0.2, seed=1, together=[items])


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 60), st.floats(0.05, 0.6), st.integers(0, 10**6), st.data())
def test_whatever_the_groups_each_lies_in_one_split_and_nothing_is_lost(total, fraction, seed, data):
    pool = data.draw(st.permutations(list(range(total))))
    sizes = data.draw(st.lists(st.integers(2, 6), max_size=8))
    together, at = [], 0
    for size in sizes:
        if at + size <= total - 1:
            together.append(sorted(pool[at:at + size]))
            at += size
    train, val = split_train_val(list(range(total)), fraction, seed, together)
    assert sorted(train + val) == list(range(total)) and train and val
    for group in together:
        assert set(group) <= set(train) or set(group) <= set(val)
    assert len(val) <= max(max(round(total * fraction), 1), min(len(g) for g in together) if together else 0)


def jpeg(colour=(200, 40, 40), comment: bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    picture = Image.new("RGB", (24, 16), colour)
    picture.putpixel((3, 3), (0, 255, 0))
    picture.save(buffer, "JPEG", quality=90, **({"comment": comment} if comment else {}))
    return buffer.getvalue()


def png(level: int) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(jpeg())).save(buffer, "PNG", compress_level=level)
    return buffer.getvalue()


def test_pixel_digest_sees_through_metadata_and_lossless_recompression():
    assert jpeg() != jpeg(comment=b"re-saved by a tool") and png(1) != png(9)
    same = {encoded_images.pixel_digest(data) for data in (jpeg(), jpeg(comment=b"re-saved by a tool"), png(1), png(9))}
    assert len(same) == 1 and None not in same
    assert encoded_images.pixel_digest(jpeg(colour=(200, 40, 41))) not in same
    assert encoded_images.pixel_digest(jpeg()[:200]) is None


def record(name: str, data: bytes | None = None) -> ImageRecord:
    return ImageRecord(where=name, filename=name, source_id="1", objects=(), units=Units.PIXELS, encoded=data,
                       image_path=None if data else f"/nonexistent/{name}")


def test_identities_name_bytes_and_pixels_and_nothing_for_unreadable_images():
    assert identify(record("a.jpg", jpeg())) == identify(record("b.jpg", jpeg()))
    assert identify(record("a.jpg", jpeg())).pixels_digest is None
    by_pixels = identify(record("a.png", png(1)), "pixels")
    assert by_pixels.pixels_digest == identify(record("b.jpg", jpeg()), "pixels").pixels_digest
    assert identify(record("gone.jpg")) == Identity(None)


def test_split_by_is_a_regex_whose_first_group_names_the_group():
    pattern = compile_split_by(r"^(.*)_frame\d+")
    assert name_key(pattern, "cam1/clip7_frame0012.jpg") == "cam1/clip7"
    assert name_key(pattern, "still.jpg") is None
    with pytest.raises(UserError, match=r"--split_by=\(unclosed: not a regular expression"):
        compile_split_by("(unclosed")
    with pytest.raises(UserError, match="has no group; its first group"):
        compile_split_by(r"_frame\d+")


def test_grouping_counts_what_kept_images_together():
    names = ["a.jpg", "a_copy.jpg", "b.png", "b_resaved.png", "v_frame1.jpg", "v_frame2.jpg", "alone.jpg", "gone.jpg"]
    identities = [Identity("A"), Identity("A"), Identity("B1", "PB"), Identity("B2", "PB"), Identity("V1"),
                  Identity("V2"), Identity("X"), Identity(None)]
    records = [record(n) for n in names]
    grouping = group_for_split(records, identities, "pixels", compile_split_by(r"^(.*)_frame\d+"))
    assert grouping.together == [[0, 1], [2, 3], [4, 5]]
    summary = grouping.summary
    assert (summary["groups_kept_together"], summary["images_in_groups"]) == (3, 6)
    assert (summary["same_bytes_groups"], summary["same_pixels_groups"], summary["split_by_groups"]) == (1, 1, 1)
    assert summary["split_by_unmatched"] == 6
    assert summary["examples"] == [["a.jpg", "a_copy.jpg"], ["b.png", "b_resaved.png"],
                                   ["v_frame1.jpg", "v_frame2.jpg"]]
    bytes_only = group_for_split(records, [Identity(i.bytes_digest) for i in identities], "bytes", None)
    assert bytes_only.together == [[0, 1]]
    with pytest.raises(UserError, match="matches none of the 8 file names"):
        group_for_split(records, identities, "bytes", compile_split_by(r"^(.*)_shot\d+"))

"""The label map API: Object Detection API text format in, validated LabelMap out."""

import pytest

from od_tools.common.errors import UserError

from od_tools.label_map import (
    LabelItem,
    LabelMap,
    LabelMapError,
    android_labels_text,
    format_label_map,
    parse_label_map,
    read_label_map,
    write_label_map,
)

OD_API_STYLE = """
# A label map as the Object Detection API tutorials write it.
item {
  id: 1
  name: 'cat'
  display_name: 'Cat'
}
item { name: "dog" id: 2 }
item <
  name: 'bird'
  id: 4
>
"""


def test_reads_od_api_text_format():
    label_map = parse_label_map(OD_API_STYLE)
    assert label_map.items == (
        LabelItem(1, "cat", "Cat"),
        LabelItem(2, "dog", ""),
        LabelItem(4, "bird", ""),
    )
    assert label_map.num_classes == 4
    assert label_map.name_to_id() == {"cat": 1, "dog": 2, "bird": 4}
    assert label_map.name_to_id(use_display_name=True) == {"Cat": 1, "dog": 2, "bird": 4}
    assert label_map.id_of("dog") == 2
    assert label_map.name_of(4) == "bird"


def test_fields_of_richer_label_maps_parse():
    text = "item { id: 1 name: '/m/01g317' display_name: 'person' frequency: FREQUENT instance_count: 7 }"
    assert parse_label_map(text).items == (LabelItem(1, "/m/01g317", "person"),)


def test_write_then_read_round_trips(tmp_path):
    label_map = LabelMap.from_names(["cat", "it's", 'say "hi"', "back\\slash"], ["Cat", "", "", ""])
    path = tmp_path / "sub" / "label_map.pbtxt"
    write_label_map(label_map, path)
    assert read_label_map(path) == label_map
    assert [p.name for p in path.parent.iterdir()] == ["label_map.pbtxt"]


def test_format_is_stable_and_in_id_order():
    label_map = LabelMap((LabelItem(2, "dog"), LabelItem(1, "cat", "Cat")))
    assert format_label_map(label_map) == (
        "item {\n  id: 1\n  name: 'cat'\n  display_name: 'Cat'\n}\n\nitem {\n  id: 2\n  name: 'dog'\n}\n"
    )


def test_from_names_numbers_from_one_in_order():
    assert LabelMap.from_names(["b", "a"]).ids == [1, 2]
    assert LabelMap.from_names(["b", "a"]).names == ["b", "a"]


def test_android_labels_fill_id_gaps():
    label_map = parse_label_map(OD_API_STYLE)
    assert android_labels_text(label_map.android_labels()) == "Cat\ndog\n???\nbird\n"


@pytest.mark.parametrize(
    "text, message",
    [
        ("item { id: 1 name: 'a' }\nitem {\n id: 1 name: 'b' }", r"<label map>:2: id 1 of 'b' is already used by 'a' at <label map>:1; give each item a unique id"),
        ("item { id: 0 name: 'background' }", r"<label map>:1: item 'background' has id 0, which is the background class"),
        ("item { id: -3 name: 'a' }", r"<label map>:1: item 'a' has negative id -3; ids start at 1"),
        ("item { id: 1 name: 'a' }\n\n\nitem { name: 'b' }", r"<label map>:4: item 'b' has no id; add id: N"),
        ("item { id: 1 display_name: 'A' }", r"<label map>:1: item with id 1 has no name; add name: '...'"),
        ("item { id: 1 name: 'a' }\nitem { id: 2 name: 'a' }", r"<label map>:2: name 'a' is already used at <label map>:1"),
        ("", r"<label map>: no items"),
        ("# only a comment\n", r"<label map>: no items"),
        ("item { id: 1 name: 'a' }\nitem { id: 2 name: 'b' ", r"<label map>:2:\d+ : .*fix the label map syntax"),
        ("item { id: 1 nme: 'a' }", r"<label map>:1:\d+ : .*nme.*fix the label map syntax"),
        ("item { id: 'one' name: 'a' }", r"<label map>:1:\d+ : .*fix the label map syntax"),
    ],
)
def test_bad_label_maps_name_the_line(text, message):
    with pytest.raises(LabelMapError, match=message) as raised:
        parse_label_map(text)
    assert "\n" not in str(raised.value)


def test_item_lines_ignore_strings_and_comments():
    text = "# item { id: 9 }\nitem { id: 1 name: 'item {' }\n\nitem {\n  id: 1 name: \"x # item\" }\n"
    with pytest.raises(LabelMapError, match=r"<label map>:4: id 1 of 'x # item' is already used by 'item \{' at <label map>:2"):
        parse_label_map(text)


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "label_map.pbtxt"
    path.write_text("item { id: 1 name: 'a' }\nitem { id: 1 name: 'b' }\n")
    with pytest.raises(LabelMapError, match=f"^{path}:2: id 1"):
        read_label_map(path)


def test_missing_file(tmp_path):
    with pytest.raises(LabelMapError, match="label map not found; check the path"):
        read_label_map(tmp_path / "nope.pbtxt")


def test_not_utf8(tmp_path):
    path = tmp_path / "label_map.pbtxt"
    path.write_bytes(b"item { id: 1 name: '\xff' }")
    with pytest.raises(LabelMapError, match="not UTF-8 text"):
        read_label_map(path)


def test_constructing_an_invalid_label_map_fails():
    with pytest.raises(LabelMapError, match="already used"):
        LabelMap((LabelItem(1, "a"), LabelItem(1, "b")))


def test_write_where_no_folder_can_be_made_fails_cleanly(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    with pytest.raises(UserError, match="cannot create the output folder"):
        write_label_map(LabelMap.from_names(["a"]), blocker / "label_map.pbtxt")

"""`--override path.to.field=value`: the tutorials' line-by-line pipeline.config edits as flags.

    --override train_config.batch_size=16
    --override model.ssd.num_classes=1
    --override train_input_reader.label_map_path=data/label_map.pbtxt
    --override model.ssd.anchor_generator.multiscale_anchor_generator.aspect_ratios=[1.0, 2.0]
    --override eval_input_reader[0].tf_record_input_reader.input_path=data/val-*
    --override 'model.ssd.image_resizer={fixed_shape_resizer {height: 256 width: 256}}'

Values are typed by the proto field (parsed with protobuf's own text format), so a bad value is
an error naming the field and its type, never a silently wrong config. Repeated fields take a
`[...]` list (or one value, which replaces the list); `name[i]` picks one element.
"""

from __future__ import annotations

import difflib
import re
from typing import Sequence

from google.protobuf import descriptor as pb_descriptor
from google.protobuf import message as pb_message
from google.protobuf import text_format

from od_tools.common.errors import UserError

FD = pb_descriptor.FieldDescriptor

_SEGMENT = re.compile(r"^([A-Za-z_]\w*)(?:\[(\d+)\])?$")

_TYPE_NAMES = {
    FD.TYPE_DOUBLE: "a number", FD.TYPE_FLOAT: "a number",
    FD.TYPE_INT64: "an integer", FD.TYPE_INT32: "an integer", FD.TYPE_SINT32: "an integer",
    FD.TYPE_SINT64: "an integer", FD.TYPE_SFIXED32: "an integer", FD.TYPE_SFIXED64: "an integer",
    FD.TYPE_UINT64: "a non-negative integer", FD.TYPE_UINT32: "a non-negative integer",
    FD.TYPE_FIXED32: "a non-negative integer", FD.TYPE_FIXED64: "a non-negative integer",
    FD.TYPE_BOOL: "true or false", FD.TYPE_STRING: "a string", FD.TYPE_BYTES: "bytes",
}


class OverrideError(UserError):
    """An --override that names no field or gives a value of the wrong type."""


def _type_name(field: FD) -> str:
    if field.type == FD.TYPE_ENUM:
        return "one of " + ", ".join(v.name for v in field.enum_type.values)
    if field.type == FD.TYPE_MESSAGE:
        return f"a {{ ... }} block of {field.message_type.name}"
    return _TYPE_NAMES.get(field.type, "a value")


def _is_repeated(field: FD) -> bool:
    return field.is_repeated


def _find_field(message: pb_message.Message, name: str, where: str, spec: str) -> FD:
    fields = message.DESCRIPTOR.fields_by_name
    if name in fields:
        return fields[name]
    close = difflib.get_close_matches(name, list(fields), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; its fields are {', '.join(sorted(fields))}"
    raise OverrideError(f"--override {spec}: {where or 'the pipeline config'} has no field '{name}'{hint}")


def _child(parent: pb_message.Message, field: FD, index: int | None, path: str, spec: str) -> pb_message.Message:
    """The sub-message a path segment names, created if absent (an override may add a block)."""
    if not _is_repeated(field):
        if index is not None:
            raise OverrideError(f"--override {spec}: {path} is not a list; drop the [{index}]")
        return getattr(parent, field.name)
    items = getattr(parent, field.name)
    if index is None:
        if len(items) > 1:
            raise OverrideError(
                f"--override {spec}: {path} has {len(items)} entries; pick one with {path}[i]")
        index = 0
    if index == len(items):
        return items.add()
    if index > len(items):
        raise OverrideError(
            f"--override {spec}: {path}[{index}] does not exist ({len(items)} entries); "
            f"use an index up to {len(items)}")
    return items[index]


def _as_text_value(field: FD, value: str) -> str:
    """The value as protobuf text format: strings get quoted unless they already are."""
    value = value.strip()
    if field.type in (FD.TYPE_STRING, FD.TYPE_BYTES) and not value.startswith(("'", '"', "[")):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def _assign(parent: pb_message.Message, field: FD, index: int | None, value: str, path: str, spec: str) -> None:
    """Sets a field from text, typed by protobuf's parser, on a scratch copy first."""
    scratch = type(parent)()
    text_value = _as_text_value(field, value)
    if field.type == FD.TYPE_MESSAGE:
        body = text_value
        if body.startswith("{") and body.endswith("}"):
            body = body[1:-1]
        text = f"{field.name} {{ {body} }}"
    else:
        text = f"{field.name}: {text_value}"
    try:
        text_format.Parse(text, scratch)
    except text_format.ParseError as e:
        raise OverrideError(
            f"--override {spec}: {path} takes {_type_name(field)}, not '{value.strip()}' ({e})") from e
    if _is_repeated(field):
        target = getattr(parent, field.name)
        new_items = getattr(scratch, field.name)
        if index is None:
            del target[:]
            target.extend(new_items)
            return
        if len(new_items) != 1:
            raise OverrideError(f"--override {spec}: {path}[{index}] takes one value, not a list")
        if index > len(target):
            raise OverrideError(
                f"--override {spec}: {path}[{index}] does not exist ({len(target)} entries); "
                f"use an index up to {len(target)}")
        if field.type == FD.TYPE_MESSAGE:
            (target.add() if index == len(target) else target[index]).CopyFrom(new_items[0])
        elif index == len(target):
            target.append(new_items[0])
        else:
            target[index] = new_items[0]
        return
    if field.type == FD.TYPE_MESSAGE:
        getattr(parent, field.name).CopyFrom(getattr(scratch, field.name))
    else:
        setattr(parent, field.name, getattr(scratch, field.name))


def apply_override(config: pb_message.Message, spec: str) -> None:
    """Applies one `path.to.field=value` to `config` in place."""
    path_text, sep, value = spec.partition("=")
    path_text = path_text.strip()
    if not sep or not path_text:
        raise OverrideError(f"--override {spec}: expected path.to.field=value, e.g. train_config.batch_size=16")
    segments = path_text.split(".")
    message: pb_message.Message = config
    walked = ""
    for position, segment in enumerate(segments):
        match = _SEGMENT.match(segment)
        if not match:
            raise OverrideError(
                f"--override {spec}: '{segment}' is not a field name; write fields as name or name[index]")
        name, index_text = match.group(1), match.group(2)
        index = int(index_text) if index_text is not None else None
        field = _find_field(message, name, walked, spec)
        path = f"{walked}.{name}" if walked else name
        if position == len(segments) - 1:
            _assign(message, field, index, value, path, spec)
            return
        if field.type != FD.TYPE_MESSAGE:
            raise OverrideError(
                f"--override {spec}: {path} is {_type_name(field)}, not a block; "
                f"end the path at {path}")
        message = _child(message, field, index, path, spec)
        walked = path + (f"[{index}]" if index is not None else "")


def apply_overrides(config: pb_message.Message, overrides: Sequence[str]) -> pb_message.Message:
    """A copy of `config` with every override applied in order."""
    result = type(config)()
    result.CopyFrom(config)
    for spec in overrides:
        apply_override(result, spec)
    return result

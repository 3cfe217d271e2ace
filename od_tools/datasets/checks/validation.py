"""The validation policy: what happens to each kind of bad data, and the check of one record.

Policy (without --strict; with --strict every issue below is an error and nothing is written):

* a box that reaches past the image edge is clipped to the image (fixed, counted);
* a box that is inverted, under one pixel wide or high, not finite, outside the image or past it
  by more than half its size, or whose class is unknown or missing, is dropped (counted);
* an image that is missing, does not decode, is not JPEG/PNG, does not have the size its
  pixel annotation was made for, or lost every object to the rules above, is skipped (counted);
* a record's wrong or missing image size (normalized boxes), a class id that disagrees with the
  label map for its name, and a source id that is not a unique number are corrected (counted);
* EXIF-rotated and duplicate images, and boxes taken around VoTT polygons, are written but
  flagged (counted);
* with masks (--include_masks, or TFRecords that hold them), a polygon ring of fewer than three
  points is left out of its mask (fixed); an object whose mask is missing, empty inside the
  image, mostly outside its own box, of another size than the image or undecodable is dropped.

Runs in worker processes: no TensorFlow here, only PIL, pycocotools and plain data.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Mapping

from od_tools.common.files import sha256
from od_tools.datasets.annotations import geometry
from od_tools.datasets.checks import encoded_images
from od_tools.datasets.annotations import masks
from od_tools.datasets.annotations.image_record import ExampleData, ImageRecord, ObjectAnnotation, ObjectData, Units


class Action(enum.Enum):
    FIXED = "fixed"      # written with a correction
    DROPPED = "dropped"  # the object is left out
    SKIPPED = "skipped"  # the whole image is left out
    FLAGGED = "flagged"  # written unchanged, worth a look


@dataclasses.dataclass(frozen=True)
class IssueKind:
    name: str
    action: Action
    meaning: str   # one line for the report's legend
    fix: str       # what to do, appended to --strict errors
    # False for kinds only some inputs produce, added after reports had a fixed legend: the report
    # lists them only when they occurred, so the reports of every other input keep their bytes.
    always_listed: bool = True


KINDS: dict[str, IssueKind] = {kind.name: kind for kind in (
    IssueKind("box_clipped", Action.FIXED,
              "box reached past the image edge; clipped to the image",
              "fix the box, or leave out --strict to clip it"),
    IssueKind("box_outside_image", Action.DROPPED,
              "box outside the image, or past its edge by more than half the image (wrong units or image?)",
              "fix or remove the box"),
    IssueKind("box_inverted", Action.DROPPED,
              "box minimum above its maximum (swapped corners or negative width/height)",
              "fix the box corners"),
    IssueKind("box_zero_area", Action.DROPPED,
              "box less than one pixel wide or high",
              "fix or remove the box"),
    IssueKind("box_not_finite", Action.DROPPED,
              "box coordinate is NaN or infinite",
              "fix the box coordinates"),
    IssueKind("class_unknown", Action.DROPPED,
              "class not in the label map",
              "add the class to the label map (--label_map_path) or fix the class name"),
    IssueKind("class_missing", Action.DROPPED,
              "object has no class",
              "give the object a class"),
    IssueKind("box_from_polygon", Action.FLAGGED,
              "a VoTT polygon or polyline region; the box around its points is the object",
              "draw the object as a rectangle in VoTT", always_listed=False),
    IssueKind("class_id_corrected", Action.FIXED,
              "the file's class id disagreed with the label map's id for the class name; relabelled by name",
              "regenerate the records with the label map's ids"),
    IssueKind("image_missing", Action.SKIPPED,
              "image file not found",
              "check --image_dir and the image file names"),
    IssueKind("image_corrupt", Action.SKIPPED,
              "image does not decode (truncated, damaged or not an image)",
              "replace or remove the image"),
    IssueKind("image_unsupported", Action.SKIPPED,
              "image is not JPEG or PNG",
              "convert the image to JPEG or PNG"),
    IssueKind("image_size_mismatch", Action.SKIPPED,
              "annotated image size differs from the image's; pixel boxes would land in the wrong place",
              "annotate the image as it is, or use the image that was annotated"),
    IssueKind("image_size_corrected", Action.FIXED,
              "record's image size missing or wrong; the image's own size is written (normalized boxes are unaffected)",
              "regenerate the record"),
    IssueKind("image_rotated_by_exif", Action.FLAGGED,
              "EXIF orientation is not 1: TensorFlow decodes the stored pixels, not the rotated view an "
              "annotation tool may show",
              "check its boxes, or rotate the pixels (e.g. `exiftran -ai`) before annotating"),
    IssueKind("image_no_valid_objects", Action.SKIPPED,
              "every object of the image was dropped; written, it would teach the model that nothing is there",
              "fix the image's objects"),
    IssueKind("image_duplicate", Action.FLAGGED,
              "same image bytes as an earlier record (possibly in another split)",
              "remove the duplicate"),
    IssueKind("source_id_replaced", Action.FIXED,
              "image/source_id not a unique decimal number (Model Garden's COCO evaluation needs one); renumbered",
              "give every record a unique decimal image/source_id"),
    IssueKind("mask_ring_too_short", Action.FIXED,
              "a polygon ring of fewer than 3 points (or an odd number of coordinates) encloses nothing; left "
              "out of the mask", "redraw or remove the ring", always_listed=False),
    IssueKind("mask_missing", Action.DROPPED,
              "masks are being written but the object has none (no segmentation, or a rectangle region)",
              "draw the object's outline as a polygon, or leave out --include_masks", always_listed=False),
    IssueKind("mask_empty", Action.DROPPED,
              "the mask covers no pixel of the image (a polygon outside it, or an empty RLE)",
              "redraw the mask or remove the object", always_listed=False),
    IssueKind("mask_outside_box", Action.DROPPED,
              f"under {masks.MIN_INSIDE_BOX:.0%} of the mask lies inside the object's box: box and mask describe "
              "different objects", "fix the box or the mask so they outline the same object", always_listed=False),
    IssueKind("mask_size_mismatch", Action.DROPPED,
              "an RLE or PNG mask of another size than its image",
              "export the mask at the image's size", always_listed=False),
    IssueKind("mask_corrupt", Action.DROPPED,
              "the mask does not decode (RLE runs that do not cover the image, a damaged PNG)",
              "re-export the mask", always_listed=False),
    IssueKind("record_malformed", Action.SKIPPED,
              "TFRecord entry is not a tf.Example, or its per-object lists differ in length",
              "regenerate the record"),
)}


@dataclasses.dataclass(frozen=True)
class Issue:
    kind: str
    where: str
    detail: str

    @property
    def action(self) -> Action:
        return KINDS[self.kind].action

    def message(self) -> str:
        """For reports and warnings: what was wrong and what was done."""
        return f"{self.where}: {self.detail} [{self.kind}: {self.action.value}]"

    def error(self) -> str:
        """For --strict: what was wrong and what to do."""
        return f"{self.where}: {self.detail}; {KINDS[self.kind].fix}"


@dataclasses.dataclass(frozen=True)
class ValidationContext:
    """What workers check records against: the label map (picklable plain dicts) and the image check."""

    name_to_id: Mapping[str, int]
    id_to_name: Mapping[int, str]
    image_check: str = "decode"   # see encoded_images.CHECKS
    include_masks: bool = False   # every object needs a mask (records that hold masks keep them anyway)

    def known(self, limit: int = 8) -> str:
        names = list(self.name_to_id)
        shown = ", ".join(f"'{n}'" for n in names[:limit])
        return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


@dataclasses.dataclass(frozen=True)
class Processed:
    """A record after validation: the example to write (None if skipped) and what was found."""

    example: ExampleData | None
    issues: tuple[Issue, ...]
    objects_read: int
    serialized: bytes | None = None   # the tf.Example, once serialized


def read_image_bytes(record: ImageRecord) -> bytes:
    if record.encoded is not None:
        return record.encoded
    if record.image_path is None:
        raise encoded_images.ImageProblem("image_missing", "the record has no image" + record.missing_hint)
    try:
        with open(record.image_path, "rb") as f:
            return f.read()
    except FileNotFoundError as e:
        raise encoded_images.ImageProblem("image_missing", f"{record.image_path} not found{record.missing_hint}") from e
    except OSError as e:
        raise encoded_images.ImageProblem("image_missing", f"cannot read {record.image_path} ({e.strerror})") from e


def validate_record(record: ImageRecord, context: ValidationContext) -> Processed:
    """Checks one record against the policy; never raises for bad data."""
    issues = [Issue(i.kind, record.where, i.detail) for i in record.issues]
    skip = lambda: Processed(None, tuple(issues), len(record.objects))  # noqa: E731
    if any(issue.action is Action.SKIPPED for issue in issues):
        return skip()
    try:
        data = read_image_bytes(record)
        info = encoded_images.probe(data, context.image_check)
    except encoded_images.ImageProblem as problem:
        issues.append(Issue(problem.kind, record.where, problem.detail))
        return skip()

    size = (info.width, info.height)
    if record.declared_size != size:
        if record.units is Units.NORMALIZED:
            issues.append(Issue("image_size_corrected", record.where, _size_detail(record.declared_size, info)))
        elif record.declared_size is not None:
            issues.append(Issue("image_size_mismatch", record.where, _size_detail(record.declared_size, info)))
            return skip()
    if info.orientation != 1:
        stored = f"{info.width}x{info.height}"
        issues.append(Issue("image_rotated_by_exif", record.where,
                            f"EXIF orientation {info.orientation}; boxes must match the stored {stored} pixels"))

    with_masks = context.include_masks or any(isinstance(o.mask, masks.EncodedMask) for o in record.objects)
    objects = []
    for annotation in record.objects:
        checked, object_issues = _validate_object(record, annotation, info, context, with_masks)
        issues.extend(object_issues)
        if checked is not None:
            objects.append(checked)
    if record.objects and not objects:
        issues.append(Issue("image_no_valid_objects", record.where,
                            f"all {len(record.objects)} objects were dropped"))
        return skip()

    example = ExampleData(
        encoded=data, size_bytes=len(data), image_format=info.image_format, width=info.width, height=info.height,
        filename=record.filename, source_id=record.source_id,
        sha256=sha256(data), objects=tuple(objects), with_masks=with_masks)
    return Processed(example, tuple(issues), len(record.objects))


def _size_detail(declared: tuple[int, int] | None, info: encoded_images.ImageInfo) -> str:
    if declared is None:
        return f"no image size given; the image is {info.width}x{info.height}"
    detail = f"annotated as {declared[0]}x{declared[1]} but the image is {info.width}x{info.height}"
    if encoded_images.swaps_axes(info.orientation) and declared == (info.height, info.width):
        detail += f" (EXIF orientation {info.orientation}: annotated on the rotated view)"
    return detail


def _validate_object(record: ImageRecord, annotation: ObjectAnnotation, info: encoded_images.ImageInfo,
                     context: ValidationContext, with_masks: bool) -> tuple[ObjectData | None, list[Issue]]:
    name, class_id = annotation.class_name, annotation.class_id
    label = f" '{name}'" if name else (f" (class id {class_id})" if class_id is not None else "")
    where = f"{record.where} {annotation.where}{label}"
    issues: list[Issue] = []
    drop = lambda kind, detail: (None, issues + [Issue(kind, where, detail)])  # noqa: E731

    if name:
        mapped = context.name_to_id.get(name)
        if mapped is None:
            return drop("class_unknown", f"class '{name}' is not in the label map (it has {context.known()})")
        if class_id is not None and class_id != mapped:
            issues.append(Issue("class_id_corrected", where,
                                f"class id {class_id}, but the label map gives '{name}' id {mapped}"))
        class_id = mapped
    elif class_id is not None:
        name = context.id_to_name.get(class_id)
        if name is None:
            return drop("class_unknown", f"class id {class_id} is not in the label map (it has {context.known()})")
    else:
        return drop("class_missing", "the object has no class")

    box = annotation.box
    unit_box = box if record.units is Units.NORMALIZED else geometry.normalize(box, info.width, info.height)
    if not geometry.is_finite(unit_box):
        return drop("box_not_finite", f"box {box} has a coordinate that is not a number")
    if geometry.is_inverted(unit_box):
        return drop("box_inverted", f"box {box} has its minimum above its maximum")
    if geometry.far_outside_unit(unit_box) or not geometry.overlaps_unit(unit_box):
        return drop("box_outside_image", f"box {box} ({record.units.value}) lies outside the "
                                         f"{info.width}x{info.height} image")
    clipped = geometry.clip_unit(unit_box)
    was_clipped = not geometry.inside_unit(unit_box)
    width_px, height_px = geometry.pixel_size(clipped, info.width, info.height)
    if width_px < 1 or height_px < 1:
        after = " after clipping" if was_clipped else ""
        return drop("box_zero_area", f"box {box} is {width_px:.3g}x{height_px:.3g} pixels{after}")
    if was_clipped:
        shown = clipped if record.units is Units.NORMALIZED else geometry.denormalize(clipped, info.width, info.height)
        issues.append(Issue("box_clipped", where, f"box {box} reaches past the edge of the "
                                                  f"{info.width}x{info.height} image; clipped to {shown}"))
    box_area = width_px * height_px
    area = annotation.area if annotation.area is not None and annotation.area > 0 else box_area
    if was_clipped:
        area = min(area, box_area)
    mask_png = None
    if with_masks:
        try:
            mask_png, mask_issues = _checked_mask(annotation.mask, geometry.denormalize(clipped, info.width, info.height),
                                                  info, where)
        except masks.MaskProblem as problem:
            return drop(problem.kind, problem.detail)
        issues += mask_issues
    return ObjectData(clipped, class_id, name, annotation.is_crowd, float(area), annotation.difficult,
                      mask_png), issues


def _checked_mask(mask: masks.Mask | None, box_px: geometry.Box, info: encoded_images.ImageInfo,
                  where: str) -> tuple[bytes, list[Issue]]:
    """The object's mask as the PNG to write; raises MaskProblem when the object must be dropped."""
    if mask is None:
        raise masks.MaskProblem("mask_missing", "the object has no mask (no 'segmentation', or not a polygon)")
    issues = []
    if isinstance(mask, masks.Polygons):
        rings, left_out = masks.usable_rings(mask)
        if left_out:
            issues.append(Issue("mask_ring_too_short", where, f"{left_out} of the mask's {len(mask.rings)} polygon "
                                                              "ring(s) have fewer than 3 points; left out"))
        if not rings:
            raise masks.MaskProblem("mask_empty", "no polygon ring of 3 or more points")
        mask = masks.Polygons(rings)
    pixels = masks.rasterize(mask, info.width, info.height)
    if not pixels.any():
        raise masks.MaskProblem("mask_empty", f"the mask covers no pixel of the {info.width}x{info.height} image")
    inside = masks.share_inside(pixels, box_px.as_tuple())
    if inside < masks.MIN_INSIDE_BOX:
        raise masks.MaskProblem("mask_outside_box", f"only {inside:.0%} of the mask's {int(pixels.sum())} pixels lie "
                                                    f"inside its box {box_px}")
    return masks.encode_png(pixels), issues

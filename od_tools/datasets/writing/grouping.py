"""Which images a seeded train/val split must keep together, so validation never sees training
images: the same image bytes (always), the same decoded pixels (`--same_image=pixels`: re-saved
copies without metadata, re-compressed PNGs), and the same `--split_by` name group (frames of
one video, shots of one scene).

The image digests are computed in worker processes (`identify`); everything else is plain data.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from typing import Any, Hashable, Sequence

from od_tools.common.errors import UserError
from od_tools.common.files import sha256
from od_tools.datasets.checks import encoded_images
from od_tools.datasets.annotations.image_record import ImageRecord
from od_tools.datasets.writing.splits import groups_sharing_keys
from od_tools.datasets.checks.validation import read_image_bytes

SAME_IMAGE = ("bytes", "pixels")
EXAMPLE_GROUPS = 5      # groups listed by name in the report
EXAMPLE_NAMES = 6       # file names listed per group


@dataclasses.dataclass(frozen=True)
class Identity:
    """What makes an image the same as another; None where the image cannot be read (it is
    skipped when validated, so it needs no partner)."""

    bytes_digest: str | None
    pixels_digest: str | None = None


def identify(record: ImageRecord, same_image: str = "bytes") -> Identity:
    """The worker's job: digests of the image's bytes and, for "pixels", of its pixels."""
    try:
        data = read_image_bytes(record)
    except encoded_images.ImageProblem:
        return Identity(None)
    pixels = encoded_images.pixel_digest(data) if same_image == "pixels" else None
    return Identity(sha256(data), pixels)


def compile_split_by(pattern: str) -> re.Pattern[str]:
    """--split_by: a regular expression over file names whose first group names the images
    that belong together."""
    example = r"'^(.*)_frame\d+'"
    try:
        compiled = re.compile(pattern)
    except re.error as e:
        raise UserError(f"--split_by={pattern}: not a regular expression ({e}); e.g. {example}") from e
    if compiled.groups < 1:
        raise UserError(f"--split_by={pattern}: has no group; its first group (...) names what related images "
                        f"share, e.g. {example}")
    return compiled


def name_key(pattern: re.Pattern[str], filename: str) -> str | None:
    """The first group of the pattern's first match in `filename`; None when it does not match."""
    match = pattern.search(filename)
    return match.group(1) if match else None


@dataclasses.dataclass(frozen=True)
class Grouping:
    together: list[list[int]]   # indexes of the records that share a split, groups of 2+
    summary: dict[str, Any]     # for the report


def _tagged(kind: str, key: str | None) -> tuple[str, str] | None:
    """Keys of different kinds never match each other (a digest is not a name)."""
    return None if key is None else (kind, key)


def _shared(keys: Sequence[Hashable | None]) -> dict[Hashable, list[int]]:
    """key -> the indexes having it, for keys two or more indexes have."""
    having: dict[Hashable, list[int]] = collections.defaultdict(list)
    for index, key in enumerate(keys):
        if key is not None:
            having[key].append(index)
    return {key: indexes for key, indexes in having.items() if len(indexes) > 1}


def group_for_split(records: Sequence[ImageRecord], identities: Sequence[Identity], same_image: str,
                    split_by: re.Pattern[str] | None) -> Grouping:
    """The groups to keep together and what formed them. Raises a UserError when --split_by
    matches no file name (a pattern that groups nothing is a mistake, not a choice)."""
    names = [name_key(split_by, r.filename) if split_by else None for r in records]
    if split_by and all(name is None for name in names):
        raise UserError(f"--split_by={split_by.pattern}: matches none of the {len(records)} file names (e.g. "
                        f"'{records[0].filename}'); fix the pattern")
    byte_keys = [identity.bytes_digest for identity in identities]
    pixel_keys = [identity.pixels_digest for identity in identities]
    together = groups_sharing_keys([(_tagged("bytes", b), _tagged("pixels", p), _tagged("name", n))
                                    for b, p, n in zip(byte_keys, pixel_keys, names)])
    same_pixels = [indexes for indexes in _shared(pixel_keys).values()
                   if len({byte_keys[i] for i in indexes}) > 1]
    summary = {
        "same_image": same_image,
        "split_by": split_by.pattern if split_by else None,
        "groups_kept_together": len(together),
        "images_in_groups": sum(len(group) for group in together),
        "same_bytes_groups": len(_shared(byte_keys)),
        "same_pixels_groups": len(same_pixels),
        "split_by_groups": len(_shared(names)),
        "split_by_unmatched": sum(name is None for name in names) if split_by else 0,
        "examples": [_names(records, group) for group in together[:EXAMPLE_GROUPS]],
    }
    return Grouping(together, summary)


def _names(records: Sequence[ImageRecord], group: list[int]) -> list[str]:
    shown = [records[i].filename for i in group[:EXAMPLE_NAMES]]
    return shown + ([f"... ({len(group)} in all)"] if len(group) > EXAMPLE_NAMES else [])

"""Finding annotation files from what users type: a file, a folder, or a glob."""

from __future__ import annotations

import glob
import os
from typing import Callable, Iterable

from od_tools.common.errors import UserError

GLOB_CHARS = set("*?[")


def has_suffix(*suffixes: str) -> Callable[[str], bool]:
    lowered = tuple(s.lower() for s in suffixes)
    return lambda name: name.lower().endswith(lowered)


def expand(pattern: str, suffixes: Iterable[str] | Callable[[str], bool], what: str,
           flag: str = "--annotations") -> list[str]:
    """Sorted files named by `pattern`: the file itself, a folder's files whose names are accepted
    (a tuple of suffixes, or a predicate), or a glob's matches. Raises a UserError naming the flag
    when nothing is found."""
    accept = suffixes if callable(suffixes) else has_suffix(*suffixes)
    if GLOB_CHARS & set(pattern):
        found = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        if not found:
            raise UserError(f"{flag}={pattern}: no file matches; check the pattern (quote it so the shell "
                            "does not expand it)")
        return found
    if os.path.isdir(pattern):
        found = sorted(os.path.join(pattern, name) for name in os.listdir(pattern)
                       if accept(name) and os.path.isfile(os.path.join(pattern, name)))
        if not found:
            raise UserError(f"{flag}={pattern}: the folder has no {what}; point {flag} at the {what}")
        return found
    if os.path.isfile(pattern):
        return [pattern]
    raise UserError(f"{flag}={pattern}: no such file or folder; check the path")

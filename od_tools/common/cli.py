"""Running a tool's `main` under absl with the project's error contract.

A `UserError` becomes one line on stderr (`<tool>: error: ...`) and exit status 1; anything
else keeps its traceback, because it is a bug, not bad input.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Sequence

from absl import app

from od_tools.common.errors import UserError

Main = Callable[[Sequence[str]], object]


def workspace_path(path: str) -> str:
    """Resolves a relative path against the folder `bazel run` was started in.

    `bazel run` executes a tool inside its runfiles tree; users expect paths relative to where
    they typed the command, which Bazel passes as BUILD_WORKING_DIRECTORY.
    """
    if not path or os.path.isabs(path):
        return path
    base = os.environ.get("BUILD_WORKING_DIRECTORY")
    return os.path.join(base, path) if base else path


def run(main: Main, argv: Sequence[str] | None = None, positional_args: bool = False) -> None:
    """`absl.app.run(main)`, with `UserError` reported as a one-line error and exit status 1.

    Unless the tool takes `positional_args`, a word that is not a flag (a typo such as
    `output_directory=x`, a flag after a stray `--`) is refused instead of silently ignored.
    """
    tool = os.path.basename(sys.argv[0]).removesuffix(".py")

    def guarded(args: Sequence[str]) -> object:
        try:
            if not positional_args and len(args) > 1:
                raise UserError(f"unexpected arguments {' '.join(args[1:])}; all options are --flags "
                                "(e.g. --output_directory=PATH; see --help)")
            return main(args)
        except UserError as e:
            print(f"{tool}: error: {e}", file=sys.stderr, flush=True)
            sys.exit(1)

    app.run(guarded, argv=list(argv) if argv is not None else None)

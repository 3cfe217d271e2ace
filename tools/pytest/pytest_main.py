"""Runs pytest as a Bazel test: the test files come as arguments, results go to JUnit XML.

Bazel gives each test a private writable TEST_TMPDIR and a read-only HOME, so caches that
libraries write under HOME are pointed at TEST_TMPDIR before anything imports them.
"""

import os
import sys

import pytest


def _pytest_args(argv: list[str]) -> list[str]:
    # --durations: where a slow test spends its time, in every log (CI's time budget is shared).
    args = ["-p", "no:cacheprovider", "-ra", "--strict-markers", "--color=no",
            "--durations=8", "--durations-min=2", *argv]
    xml_output = os.environ.get("XML_OUTPUT_FILE")
    if xml_output:
        args += ["--junitxml", xml_output]
    return args


def main(argv: list[str]) -> int:
    tmp = os.environ.get("TEST_TMPDIR")
    if tmp:
        for var in ("MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
            os.environ.setdefault(var, os.path.join(tmp, var.lower()))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return pytest.main(_pytest_args(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))

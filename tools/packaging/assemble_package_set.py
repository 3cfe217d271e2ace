"""Build action behind //od_tools:cloud_packages (see tools/packaging/package_set.py)."""

import argparse
import sys
from pathlib import Path

from tools.packaging.package_set import assemble


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sdist", type=Path, action="append", required=True)
    parser.add_argument("--lock", type=Path, required=True)
    parser.add_argument("dists", type=Path, nargs="*")
    args = parser.parse_args(argv)
    dists = [d for d in args.dists if d.name != "SHA256SUMS"]
    assemble(args.out, args.sdist, dists, args.lock)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

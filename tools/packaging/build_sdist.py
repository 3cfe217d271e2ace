"""Builds a byte-for-byte reproducible sdist from an explicit list of files.

    build_sdist.py --out pkg.tar.gz --file pyproject.toml=PATH \
        --file od_tools/__init__.py=PATH ... [--tree DIR ...]

The files are staged under their package paths (a --tree's files under their paths within it),
setuptools builds the sdist (no isolation: the hash-locked venv's setuptools), then the archive
is re-packed so that nothing about the build machine or time leaks in: members sorted, fixed
mtime, uid/gid 0 with no names, normalized modes, and a gzip header with no file name and mtime
0. Two clean builds give the same sha256.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# 1980-01-01: the earliest time every archive format (zip included) can store.
FIXED_MTIME = 315532800


def normalized(member: tarfile.TarInfo) -> tarfile.TarInfo:
    member.mtime = FIXED_MTIME
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    if member.isdir():
        member.mode = 0o755
    elif member.isfile():
        member.mode = 0o644
    member.pax_headers = {}
    return member


def repack(src: Path, dest: Path) -> None:
    """Rewrites a .tar.gz deterministically (see the module docstring)."""
    with tarfile.open(src, "r:gz") as tar:
        members = sorted(tar.getmembers(), key=lambda m: m.name)
        payload = io.BytesIO()
        with tarfile.open(fileobj=payload, mode="w", format=tarfile.PAX_FORMAT) as out:
            for member in members:
                data = tar.extractfile(member) if member.isfile() else None
                out.addfile(normalized(member), data)
    with open(dest, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(payload.getvalue())


def stage(files: list[tuple[str, str]], root: Path) -> None:
    """Copies the files to their package paths; contents only (Bazel marks outputs executable)."""
    for relative, source in files:
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def tree_files(tree: Path) -> list[tuple[str, str]]:
    """(relative path, source) of every file under a folder, e.g. a patched package Bazel made."""
    return [(str(path.relative_to(tree)), str(path)) for path in sorted(tree.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts]


def build(files: list[tuple[str, str]], out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "src"
        stage(files, root)
        dist = Path(tmp) / "dist"
        env = dict(os.environ, SOURCE_DATE_EPOCH=str(FIXED_MTIME), PYTHONDONTWRITEBYTECODE="1")
        subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(dist), str(root)],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        (built,) = dist.glob("*.tar.gz")
        repack(built, out)


def parse_file(spec: str) -> tuple[str, str]:
    relative, sep, source = spec.partition("=")
    if not sep or not relative or relative.startswith("/") or ".." in relative.split("/"):
        raise argparse.ArgumentTypeError(f"{spec}: expected RELATIVE_PATH=SOURCE_PATH")
    return relative, source


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--file", type=parse_file, action="append", default=[],
                        help="RELATIVE_PATH=SOURCE_PATH, staged at RELATIVE_PATH in the project root")
    parser.add_argument("--tree", type=Path, action="append", default=[],
                        help="a folder whose files are staged at their paths within it")
    args = parser.parse_args(argv)
    files = list(args.file)
    for tree in args.tree:
        files += tree_files(tree)
    build(sorted(files), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

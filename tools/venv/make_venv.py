"""Creates a Python venv from a hash-locked requirements file; stdlib only.

Used by the `python_venv` repository rule (//tools/bazel:python_venv.bzl) and by the toolchain
image's Dockerfile, so the monorepo and the image install exactly the same bytes the same way:

    python3 tools/venv/make_venv.py --lock third_party/requirements.lock --dest /opt/venvs/od_venv

Every file pip installs is checked against the lock's sha256 hashes (`--require-hashes`).
pip itself and the build backend (setuptools, wheel, ...) are installed first from the same
lock, so the rest installs with the locked pip, whatever Python's ensurepip bundled. A few
locked packages ship only as sdists: they are built with that backend without build
isolation, so nothing unhashed enters the venv. The venv gets an `od_lock.sha256` stamp of the
lock it was built from.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

STAMP = "od_lock.sha256"
BUILD_BACKEND = ("pip", "packaging", "setuptools", "setuptools-scm", "vcs-versioning", "wheel")
# Locked packages that publish no wheel. Everything else must install from a wheel, so a wheel
# whose hash does not match fails plainly instead of quietly building the sdist instead.
SOURCE_ONLY = ("promise", "seqeval")


def lock_sha256(lock: Path) -> str:
    return hashlib.sha256(lock.read_bytes()).hexdigest()


def lock_subset(text: str, names: tuple[str, ...]) -> str:
    """The lock's entries (pin and hash lines) for the given distribution names."""
    kept, keep = [], False
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            keep = line.split("==")[0].strip().lower() in names
        if keep and not line.strip().startswith("#"):
            kept.append(line)
    return "\n".join(kept) + "\n"


def pip_install(python: Path, requirements: Path, extra: list[str]) -> None:
    cmd = [str(python), "-m", "pip", "install", "--require-hashes", "--no-deps",
           "--disable-pip-version-check", "--progress-bar=off", *extra, "-r", str(requirements)]
    print("make_venv:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def make_venv(lock: Path, dest: Path, build_backend: tuple[str, ...] = BUILD_BACKEND) -> None:
    print(f"make_venv: creating {dest} with {sys.executable}", flush=True)
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(dest)
    except subprocess.CalledProcessError as e:
        raise SystemExit(f"make_venv: {sys.executable} cannot create a venv with pip "
                         "(on Debian: apt-get install python3-venv)") from e
    python = dest / "bin" / "python3"
    with tempfile.TemporaryDirectory() as tmp:
        backend_lock = Path(tmp) / "build_backend.lock"
        backend_lock.write_text(lock_subset(lock.read_text(), build_backend))
        pip_install(python, backend_lock, [])
    pip_install(python, lock, ["--no-build-isolation", "--only-binary=:all:",
                               "--no-binary=" + ",".join(SOURCE_ONLY)])
    (dest / STAMP).write_text(lock_sha256(lock) + "\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, required=True, help="hash-locked requirements file")
    parser.add_argument("--dest", type=Path, required=True, help="venv folder to create (replaced)")
    args = parser.parse_args(argv)
    if sys.version_info[:2] != (3, 11):
        print(f"make_venv: the locks are for Python 3.11, not {sys.version.split()[0]}", file=sys.stderr)
        return 1
    try:
        make_venv(args.lock.resolve(), args.dest.absolute())
    except subprocess.CalledProcessError as e:
        print(f"make_venv: pip failed (exit {e.returncode}) installing {args.lock}; see pip's error above",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

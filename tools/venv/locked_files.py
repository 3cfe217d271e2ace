"""Downloads distribution files pinned in a hash-locked requirements file; stdlib only.

    python3 locked_files.py --lock L --dest D --pip PYTHON --package pycocotools=sdist ...
    python3 locked_files.py --lock L --dest D --pip PYTHON --all

With `--package NAME=KIND` it fetches that package's sdist or wheel; with `--all`, every
package of the lock (wheels, and sdists for those that publish none): a wheelhouse for offline
installs. `pip download --require-hashes` checks every file against the lock, so the files are
exactly the ones the lock names, never rebuilt. `--find-links DIR` takes them from DIR with no
index (an offline machine or image). A sorted `SHA256SUMS` lists what was fetched.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

from make_venv import SOURCE_ONLY, lock_subset

KINDS = ("sdist", "wheel")


def kind_args(kind: str, names: tuple[str, ...]) -> list[str]:
    """pip options that fetch exactly the sdist or the wheel of `names`.

    pip reads an sdist's metadata by running its build backend; with no build isolation that
    backend comes from the (hash-locked) venv running pip, and nothing else is fetched.
    """
    if kind == "sdist":
        return ["--no-binary=" + ",".join(names), "--no-build-isolation"]
    return ["--only-binary=:all:"]


def pip_download(pip_python: str, requirements: Path, dest: Path, kind_args: list[str],
                 find_links: Path | None) -> None:
    cmd = [pip_python, "-m", "pip", "download", "--no-deps", "--require-hashes",
           "--disable-pip-version-check", "--progress-bar=off", "--dest", str(dest), *kind_args]
    if find_links is not None:
        cmd += ["--no-index", "--find-links", str(find_links)]
    cmd += ["-r", str(requirements)]
    print("locked_files:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def write_sha256sums(dest: Path) -> None:
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n"
             for p in sorted(dest.iterdir()) if p.is_file() and p.name != "SHA256SUMS"]
    (dest / "SHA256SUMS").write_text("".join(lines))


def parse_package(spec: str) -> tuple[str, str]:
    name, _, kind = spec.partition("=")
    if kind not in KINDS:
        raise argparse.ArgumentTypeError(f"{spec}: expected NAME=sdist or NAME=wheel")
    return name.lower(), kind


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, required=True)
    parser.add_argument("--dest", type=Path, required=True)
    parser.add_argument("--pip", required=True, help="a Python interpreter with pip")
    parser.add_argument("--package", type=parse_package, action="append", default=[])
    parser.add_argument("--all", action="store_true", help="every package of the lock")
    parser.add_argument("--find-links", type=Path, help="take files from here, with no index")
    args = parser.parse_args(argv)
    if bool(args.package) == args.all:
        parser.error("give either --package NAME=KIND (repeatable) or --all")
    args.dest.mkdir(parents=True, exist_ok=True)
    text = args.lock.read_text()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.all:
                # Order matters to pip: --only-binary=:all: first, then the exceptions.
                pip_download(args.pip, args.lock, args.dest,
                             ["--only-binary=:all:", *kind_args("sdist", SOURCE_ONLY)], args.find_links)
            for kind in KINDS:
                names = tuple(name for name, k in args.package if k == kind)
                if not names:
                    continue
                subset = Path(tmp) / f"{kind}.lock"
                subset.write_text(lock_subset(text, names))
                missing = [n for n in names if f"\n{n}==" not in "\n" + subset.read_text().lower()]
                if missing:
                    print(f"locked_files: {', '.join(missing)} not pinned in {args.lock}", file=sys.stderr)
                    return 1
                pip_download(args.pip, subset, args.dest, kind_args(kind, names), args.find_links)
    except subprocess.CalledProcessError as e:
        print(f"locked_files: pip download failed (exit {e.returncode}); see pip's error above", file=sys.stderr)
        return 1
    write_sha256sums(args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Reproducible sdists and the hash-locked requirements of the cloud package set."""

import gzip
import hashlib
import os
import tarfile
import time

import pytest

from tools.packaging.package_set import assemble, build_requirements_text, requirements_text, sdist_requirement
from tools.packaging.build_sdist import FIXED_MTIME, build
from tools.venv.make_venv import BUILD_BACKEND as BUILD_TOOLS

PYPROJECT = """\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "tiny-pkg"
version = "1.2.3"
"""


def write_project(root, mtime, umask):
    old = os.umask(umask)
    try:
        files = {"pyproject.toml": PYPROJECT, "tiny_pkg/__init__.py": "X = 1\n", "tiny_pkg/sub/mod.py": "Y = 2\n"}
        paths = []
        for relative, text in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            os.utime(path, (mtime, mtime))
            paths.append((relative, str(path)))
        return paths
    finally:
        os.umask(old)


def test_sdist_bytes_do_not_depend_on_time_or_file_modes(tmp_path):
    first = write_project(tmp_path / "a", mtime=1_000_000_000, umask=0o022)
    second = write_project(tmp_path / "b", mtime=time.time(), umask=0o077)
    build(first, tmp_path / "one.tar.gz")
    build(list(reversed(second)), tmp_path / "two.tar.gz")
    one, two = (tmp_path / "one.tar.gz").read_bytes(), (tmp_path / "two.tar.gz").read_bytes()
    assert hashlib.sha256(one).hexdigest() == hashlib.sha256(two).hexdigest()
    with tarfile.open(tmp_path / "one.tar.gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert "tiny_pkg-1.2.3/tiny_pkg/sub/mod.py" in [m.name for m in members]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(FIXED_MTIME, 0, 0, "", "")}
    assert {m.mode for m in members if m.isfile()} == {0o644}
    assert one[4:8] == b"\0\0\0\0", "gzip header mtime must be 0"


def test_changed_source_changes_the_sdist(tmp_path):
    files = write_project(tmp_path / "a", mtime=0, umask=0o022)
    build(files, tmp_path / "one.tar.gz")
    (tmp_path / "a" / "tiny_pkg" / "__init__.py").write_text("X = 2\n")
    build(files, tmp_path / "two.tar.gz")
    assert (tmp_path / "one.tar.gz").read_bytes() != (tmp_path / "two.tar.gz").read_bytes()
    with gzip.open(tmp_path / "two.tar.gz") as f:
        assert b"X = 2" in f.read()


def test_sdist_requirement_pins_the_file_hash(tmp_path):
    sdist = tmp_path / "od_tools-0.1.0.tar.gz"
    sdist.write_bytes(b"payload")
    digest = hashlib.sha256(b"payload").hexdigest()
    assert sdist_requirement(sdist) == f"od-tools==0.1.0 \\\n    --hash=sha256:{digest}\n"
    with pytest.raises(ValueError, match="not an sdist file name"):
        sdist_requirement(tmp_path / "od_tools.zip")


def test_assembled_set_lists_every_file_and_pins_the_lock(tmp_path):
    sdist = tmp_path / "od_tools-0.1.0.tar.gz"
    sdist.write_bytes(b"trainer")
    patched = tmp_path / "tf_slim-1.1.0+tf2.20.tar.gz"  # replaces the lock's tf-slim
    patched.write_bytes(b"patched")
    wheel = tmp_path / "dep-1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    lock = tmp_path / "requirements.lock"
    lock.write_text("# header\ndep==1.0 \\\n    --hash=sha256:" + hashlib.sha256(b"wheel").hexdigest() + "\n"
                    + "tf-slim==1.1.0 \\\n    --hash=sha256:" + "1" * 64 + "\n    # via tf-models-official\n"
                    + "".join(f"{name}==1 \\\n    --hash=sha256:{'0' * 64}\n    # via x\n" for name in BUILD_TOOLS))
    out = tmp_path / "out"
    assemble(out, [sdist, patched], [wheel], lock)
    assert sorted(p.name for p in out.iterdir()) == [
        "SHA256SUMS", "build-requirements.txt", "dep-1.0-py3-none-any.whl", "od_tools-0.1.0.tar.gz",
        "requirements.txt", "tf_slim-1.1.0+tf2.20.tar.gz"]
    build = (out / "build-requirements.txt").read_text()
    assert [line.split("==")[0] for line in build.splitlines() if "==" in line] == list(BUILD_TOOLS)
    assert "dep==" not in build and "# via" not in build
    sums = dict(reversed(line.split("  ")) for line in (out / "SHA256SUMS").read_text().splitlines())
    for name, digest in sums.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    text = (out / "requirements.txt").read_text()
    assert requirements_text([sdist, patched], lock.read_text()) == text
    assert "od-tools==0.1.0" in text and "dep==1.0" in text and "# header" not in text
    assert "tf-slim==1.1.0+tf2.20" in text and "tf-slim==1.1.0 " not in text and "1" * 64 not in text


def test_build_requirements_need_pip_and_setuptools_in_the_lock():
    with pytest.raises(ValueError, match="pip, setuptools.* not pinned in the lock"):
        build_requirements_text("packaging==1 \\\n    --hash=sha256:" + "0" * 64 + "\n")

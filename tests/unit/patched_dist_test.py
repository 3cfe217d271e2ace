"""tools/patched_dist/build_package.py on a small sdist made here: CRLF made LF, patches applied
exactly or refused, protos recompiled from the descriptors the old modules embed."""

from __future__ import annotations

import importlib
import io
import sys
import tarfile
from importlib import resources
from pathlib import Path

import pytest
from grpc_tools import protoc

from tools.patched_dist import build_package

PROTO = 'syntax = "proto2";\npackage pkg.protos;\nmessage Thing { optional int32 size = 1 [default = 3]; }\n'


def old_style_module(tmp_path: Path) -> str:
    """A `_pb2.py` in the `serialized_pb=` style of protoc 3.19 and older, around a real descriptor."""
    (tmp_path / "pkg" / "protos").mkdir(parents=True)
    (tmp_path / "pkg" / "protos" / "thing.proto").write_text(PROTO)
    out = tmp_path / "gen"
    out.mkdir()
    well_known = str(resources.files("grpc_tools") / "_proto")
    assert protoc.main(["protoc", f"--proto_path={tmp_path}", f"--proto_path={well_known}", f"--python_out={out}",
                        "pkg/protos/thing.proto"]) == 0
    text = (out / "pkg" / "protos" / "thing_pb2.py").read_text()
    serialized = text.split("AddSerializedFile(")[1].split(")\n")[0]
    return f"DESCRIPTOR = _descriptor.FileDescriptor(name='pkg/protos/thing.proto', serialized_pb={serialized})\n"


def make_sdist(tmp_path: Path, files: dict[str, str]) -> Path:
    archive = tmp_path / "pkg-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, text in files.items():
            data = text.replace("\n", "\r\n").encode()  # packed on Windows
            info = tarfile.TarInfo(f"pkg-1.0/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


PATCH = """Why this patch exists, in one line.
--- a/pkg/__init__.py
+++ b/pkg/__init__.py
@@ -1,2 +1,2 @@
 '''A package.'''
-VALUE = 1
+VALUE = 2
"""


@pytest.fixture
def sdist(tmp_path) -> Path:
    return make_sdist(tmp_path, {"pkg/__init__.py": "'''A package.'''\nVALUE = 1\n",
                                 "pkg/protos/__init__.py": "",
                                 "pkg/protos/thing_pb2.py": old_style_module(tmp_path)})


def test_patched_and_recompiled(tmp_path, sdist):
    (tmp_path / "fix.patch").write_text(PATCH)
    out = tmp_path / "out"
    out.mkdir()
    build_package.build(sdist, ["pkg"], [tmp_path / "fix.patch"], ["pkg/protos"], out)
    assert b"\r\n" not in (out / "pkg" / "__init__.py").read_bytes()
    assert "VALUE = 2" in (out / "pkg" / "__init__.py").read_text()
    sys.path.insert(0, str(out))
    try:
        thing = importlib.import_module("pkg.protos.thing_pb2").Thing()
        assert thing.size == 3 and thing.DESCRIPTOR.full_name == "pkg.protos.Thing"
    finally:
        sys.path.remove(str(out))
        for name in [n for n in sys.modules if n == "pkg" or n.startswith("pkg.")]:
            del sys.modules[name]


def test_a_patch_that_does_not_apply_stops_the_build(tmp_path, sdist):
    (tmp_path / "stale.patch").write_text(PATCH.replace("VALUE = 1", "VALUE = 7"))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(build_package.BuildError, match="stale.patch: does not apply to the pinned sources"):
        build_package.build(sdist, ["pkg"], [tmp_path / "stale.patch"], [], out)


def test_a_patch_must_say_why(tmp_path, sdist):
    (tmp_path / "bare.patch").write_text(PATCH.split("\n", 1)[1])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(build_package.BuildError, match="the first line must say why"):
        build_package.build(sdist, ["pkg"], [tmp_path / "bare.patch"], [], out)


def test_a_module_without_a_descriptor_is_refused(tmp_path):
    module = tmp_path / "x_pb2.py"
    module.write_text("X = 1\n")
    with pytest.raises(build_package.BuildError, match="no embedded FileDescriptorProto"):
        build_package.embedded_descriptor(module)

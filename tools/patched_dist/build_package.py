"""Unpacks a pinned distribution, applies the project's patches and recompiles its protos.

    build_package.py --archive tf_models_research_object_detection-2.8.0.post1.tar.gz \
        --package object_detection --patch p1.patch --patch p2.patch \
        --protos object_detection/protos --out OUT

writes OUT/<package>/... : the package as the archive ships it (an sdist's or a wheel's), with
CRLF line ends made LF (some sdists are packed on Windows; patches are written against LF),
each patch applied in order with GNU patch and no fuzz (a patch that does not apply exactly is
an error, never a guess), and, with --protos, every generated `_pb2.py` there replaced by one
protoc compiles now from the `FileDescriptorProto` the old module embeds. The archive's own
`_pb2` modules come from an old protoc that protobuf 4+ refuses to load; their embedded
descriptors are the schema exactly as published, so no `.proto` file is needed or copied.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from importlib import resources
from pathlib import Path

from google.protobuf import descriptor_pb2


class BuildError(Exception):
    """The archive, a patch or a proto module is not what this build expects."""


def unpack(archive: Path, dest: Path) -> Path:
    """Extracts an sdist (.tar.gz) or wheel (.whl); returns the folder holding the packages."""
    if archive.name.endswith(".whl"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dest)
        return dest
    if archive.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive) as tf:
            if hasattr(tarfile, "data_filter"):
                tf.extractall(dest, filter="data")
            else:
                tf.extractall(dest)
        roots = [p for p in dest.iterdir() if p.is_dir()]
        if len(roots) != 1:
            raise BuildError(f"{archive.name}: expected one top-level folder, found {len(roots)}")
        return roots[0]
    raise BuildError(f"{archive.name}: not an sdist (.tar.gz) or a wheel (.whl)")


def to_lf(root: Path) -> int:
    """Rewrites CRLF line ends as LF in every text file; returns how many files changed."""
    changed = 0
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"\r\n" in data and b"\0" not in data:
            path.write_bytes(data.replace(b"\r\n", b"\n"))
            changed += 1
    return changed


def apply_patch(root: Path, patch: Path) -> None:
    first = patch.read_text(encoding="utf-8").splitlines()[:1]
    if not first or first[0].startswith(("---", "diff ", "+++")):
        raise BuildError(f"{patch}: the first line must say why the patch exists")
    result = subprocess.run(
        ["patch", "-p1", "--forward", "--batch", "--fuzz=0", "--no-backup-if-mismatch", "--quiet",
         "-d", str(root), "-i", str(patch.resolve())],
        capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"{patch}: does not apply to the pinned sources:\n{result.stdout}{result.stderr}")


def embedded_descriptor(module: Path) -> descriptor_pb2.FileDescriptorProto:
    """The FileDescriptorProto a generated `_pb2.py` embeds, read without importing it.

    protoc 3.19 and older write `FileDescriptor(..., serialized_pb=b'...')`; 3.20 and newer
    `AddSerializedFile(b'...')`.
    """
    tree = ast.parse(module.read_text(encoding="utf-8"), str(module))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name == "AddSerializedFile" and node.args:
            return descriptor_pb2.FileDescriptorProto.FromString(ast.literal_eval(node.args[0]))
        if name == "FileDescriptor":
            for keyword in node.keywords:
                if keyword.arg == "serialized_pb":
                    return descriptor_pb2.FileDescriptorProto.FromString(ast.literal_eval(keyword.value))
    raise BuildError(f"{module}: no embedded FileDescriptorProto (not a protoc-generated module?)")


def recompile_protos(root: Path, protos_dir: str) -> int:
    """Replaces every `_pb2.py` under root/protos_dir with a freshly compiled one."""
    modules = sorted((root / protos_dir).glob("*_pb2.py"))
    if not modules:
        raise BuildError(f"{protos_dir}: no *_pb2.py modules in the archive")
    descriptors = descriptor_pb2.FileDescriptorSet()
    for module in modules:
        descriptor = embedded_descriptor(module)
        expected = f"{protos_dir}/{module.name[:-len('_pb2.py')]}.proto"
        if descriptor.name != expected:
            raise BuildError(f"{module}: describes {descriptor.name}, expected {expected}")
        descriptors.file.append(descriptor)
        module.unlink()
    from grpc_tools import protoc

    well_known = str(resources.files("grpc_tools") / "_proto")
    with tempfile.TemporaryDirectory() as tmp:
        descriptor_set = Path(tmp) / "descriptors.pb"
        descriptor_set.write_bytes(descriptors.SerializeToString(deterministic=True))
        status = protoc.main(["protoc", f"--descriptor_set_in={descriptor_set}", f"--proto_path={well_known}",
                              f"--python_out={root}", f"--pyi_out={root}",
                              *(d.name for d in descriptors.file)])
    if status != 0:
        raise BuildError(f"protoc failed (exit {status}) compiling {len(modules)} protos of {protos_dir}")
    missing = [m.name for m in modules if not m.exists()]
    if missing:
        raise BuildError(f"protoc did not write {', '.join(missing)}")
    return len(modules)


def build(archive: Path, packages: list[str], patches: list[Path], protos: list[str], out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = unpack(archive, Path(tmp))
        for package in packages:
            if not (source / package).is_dir():
                raise BuildError(f"{archive.name}: has no package {package}/")
            shutil.copytree(source / package, out / package)
    to_lf(out)
    for patch in patches:
        apply_patch(out, patch)
    for protos_dir in protos:
        recompile_protos(out, protos_dir)
    for cache in sorted(out.rglob("__pycache__")):
        shutil.rmtree(cache)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, required=True, help="the pinned sdist or wheel")
    parser.add_argument("--package", action="append", required=True, help="top-level package to keep")
    parser.add_argument("--patch", type=Path, action="append", default=[], help="applied in order, -p1")
    parser.add_argument("--protos", action="append", default=[], help="folder of _pb2 modules to recompile")
    parser.add_argument("--out", type=Path, required=True, help="empty folder to write the packages to")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if any(args.out.iterdir()):
        parser.error(f"--out {args.out} is not empty")
    try:
        build(args.archive, args.package, args.patch, args.protos, args.out)
    except BuildError as e:
        print(f"build_package: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

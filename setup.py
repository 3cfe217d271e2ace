"""Compiles od_tools' .proto files when the package is built from a checkout.

Bazel generates the `_pb2` modules for the monorepo, and the sdist it makes already contains
them; a plain `pip install .` from a checkout has only the .proto files, so `build_py` runs
protoc (from grpcio-tools, a build requirement) into the build folder for any that lack one.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithProtos(build_py):
    def run(self) -> None:
        super().run()
        root = Path(__file__).parent
        missing = [p.relative_to(root) for p in sorted(root.glob("od_tools/protos/*.proto"))
                   if not p.with_name(p.stem + "_pb2.py").exists()]
        if not missing:
            return
        from importlib import resources

        from grpc_tools import protoc

        well_known = str(resources.files("grpc_tools") / "_proto")
        args = ["protoc", f"--proto_path={root}", f"--proto_path={well_known}",
                f"--python_out={self.build_lib}", f"--pyi_out={self.build_lib}",
                *(str(root / p) for p in missing)]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {', '.join(str(p) for p in missing)}")


setup(cmdclass={"build_py": BuildPyWithProtos})

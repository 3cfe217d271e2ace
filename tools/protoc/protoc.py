"""protoc from the venv's grpcio-tools, with its bundled well-known types on the include path.

The venv pins grpcio-tools together with the protobuf runtime, so the generated `_pb2` modules
always match the runtime that imports them; no system protoc is involved.
"""

import sys
from importlib import resources

from grpc_tools import protoc


def main(argv: list[str]) -> int:
    well_known = str(resources.files("grpc_tools") / "_proto")
    return protoc.main(["protoc", *argv[1:], f"--proto_path={well_known}"])


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""od_py_proto: compiles .proto files into importable `_pb2` Python modules.

    od_py_proto(
        name = "label_map_py_pb2",
        srcs = ["string_int_label_map.proto"],
        deps = [":other_py_pb2"],   # od_py_proto targets whose .proto files these import
        py_deps = [":protos"],      # py_library with the package's __init__.py
    )

gives a py_library with `<file>_pb2.py` (and `.pyi` type stubs) at the proto's own path, so
`od_tools/protos/x.proto` is imported as `from od_tools.protos import x_pb2`. Imports inside
.proto files are written from the workspace root (`import "od_tools/protos/x.proto";`).
"""

def od_py_proto(name, srcs, deps = [], py_deps = [], visibility = None):
    native.filegroup(
        name = name + "_proto_srcs",
        srcs = srcs + [dep + "_proto_srcs" for dep in deps],
        visibility = visibility,
    )
    outs = []
    for src in srcs:
        if not src.endswith(".proto"):
            fail("od_py_proto srcs must be .proto files, got " + src)
        outs.append(src[:-len(".proto")] + "_pb2.py")
        outs.append(src[:-len(".proto")] + "_pb2.pyi")
    native.genrule(
        name = name + "_gen",
        srcs = srcs + [name + "_proto_srcs"],
        outs = outs,
        cmd = " ".join([
            "$(execpath //tools/protoc)",
            "--proto_path=.",
            "--python_out=$(BINDIR)",
            "--pyi_out=$(BINDIR)",
        ] + ["$(location {})".format(src) for src in srcs]),
        tools = ["//tools/protoc"],
        message = "Compiling protos of " + name,
    )
    native.py_library(
        name = name,
        srcs = [out for out in outs if out.endswith(".py")],
        # The .proto files and type stubs travel with the modules (e.g. into sdists).
        data = srcs + [out for out in outs if out.endswith(".pyi")],
        deps = deps + py_deps,
        visibility = visibility,
    )

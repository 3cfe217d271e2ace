"""py_sdist: a reproducible source distribution of Python libraries built with Bazel.

    py_sdist(
        name = "od_tools_sdist",
        out = "od_tools-0.1.0.tar.gz",
        deps = ["//od_tools:train"],        # py_library/py_binary targets to package
        package_prefixes = ["od_tools/"],   # only files under these paths are packaged
        project_files = ["//:pyproject.toml", "//:README.md", "//:MANIFEST.in"],
    )

Sources, generated modules (`_pb2.py`) and data files (configs, .proto, .pyi) of the deps'
transitive closure are staged at their workspace paths next to the project files; `trees`
(folders a build action made, e.g. a patched third-party package) are staged with their
contents at the root. setuptools builds the sdist, which is re-packed byte-for-byte
reproducibly (tools/packaging/build_sdist.py).
"""

def _py_sdist_impl(ctx):
    candidates = []
    for dep in ctx.attr.deps:
        candidates.append(dep[PyInfo].transitive_sources)
        candidates.append(dep[DefaultInfo].default_runfiles.files)
    staged = {}
    for f in depset(transitive = candidates).to_list():
        path = f.short_path
        if any([path.startswith(prefix) for prefix in ctx.attr.package_prefixes]):
            staged[path] = f
    for f in ctx.files.project_files:
        staged[f.basename] = f

    args = ctx.actions.args()
    args.add("--out", ctx.outputs.out)
    for path in sorted(staged):
        args.add("--file", "{}={}".format(path, staged[path].path))
    for tree in ctx.files.trees:
        args.add("--tree", tree.path)
    ctx.actions.run(
        executable = ctx.executable._build_sdist,
        arguments = [args],
        inputs = [staged[path] for path in sorted(staged)] + ctx.files.trees,
        outputs = [ctx.outputs.out],
        mnemonic = "PySdist",
        progress_message = "Building sdist %s" % ctx.outputs.out.short_path,
    )
    return [DefaultInfo(files = depset([ctx.outputs.out]))]

py_sdist = rule(
    implementation = _py_sdist_impl,
    attrs = {
        "out": attr.output(mandatory = True, doc = "the sdist's file name, e.g. pkg-1.0.tar.gz"),
        "deps": attr.label_list(providers = [PyInfo]),
        "package_prefixes": attr.string_list(mandatory = True),
        "project_files": attr.label_list(allow_files = True, doc = "pyproject.toml, README.md, ... (staged at the root)"),
        "trees": attr.label_list(allow_files = True, doc = "folders whose contents are staged at the root"),
        "_build_sdist": attr.label(default = "//tools/packaging:build_sdist", executable = True, cfg = "exec"),
    },
    doc = "A reproducible sdist of Python targets (see the module docstring).",
)

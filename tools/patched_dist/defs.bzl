"""patched_py_package: a pinned third-party Python package, patched and compiled by the build.

    patched_py_package(
        name = "object_detection",
        archive = "@od_api_dist//:tf_models_research_object_detection",   # fetched by hash
        packages = ["object_detection"],
        patches = glob(["patches/*.patch"]),      # ours; each starts with one line saying why
        protos = ["object_detection/protos"],     # _pb2 modules recompiled for today's protobuf
        deps = ["//third_party/tf_slim"],
    )

gives `:object_detection`, a py_library that puts the patched packages on the import path
(`import object_detection`), and `:object_detection_site`, the folder holding them (for
packaging). The unpacking, patching and compiling is tools/patched_dist/build_package.py.
Being on PYTHONPATH, the patched copy wins over any unpatched one the venv may hold.
"""

def _patched_tree_impl(ctx):
    out = ctx.actions.declare_directory(ctx.attr.site)
    args = ctx.actions.args()
    args.add("--archive", ctx.file.archive)
    args.add_all(ctx.attr.packages, before_each = "--package")
    args.add_all(ctx.files.patches, before_each = "--patch")
    args.add_all(ctx.attr.protos, before_each = "--protos")
    args.add("--out", out.path)
    ctx.actions.run(
        outputs = [out],
        inputs = [ctx.file.archive] + ctx.files.patches,
        executable = ctx.executable._tool,
        arguments = [args],
        mnemonic = "PatchedPyPackage",
        progress_message = "Patching %s (%d patches) from %s" % (
            ", ".join(ctx.attr.packages),
            len(ctx.files.patches),
            ctx.file.archive.basename,
        ),
    )
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out]))]

_patched_tree = rule(
    implementation = _patched_tree_impl,
    attrs = {
        "archive": attr.label(mandatory = True, allow_single_file = [".tar.gz", ".whl"]),
        "packages": attr.string_list(mandatory = True),
        "patches": attr.label_list(allow_files = [".patch"]),
        "protos": attr.string_list(),
        "site": attr.string(mandatory = True),
        "_tool": attr.label(default = "//tools/patched_dist:build_package", executable = True, cfg = "exec"),
    },
)

def patched_py_package(name, archive, packages, patches = [], protos = [], deps = [], visibility = None):
    site = name + "_site"
    _patched_tree(
        name = site,
        archive = archive,
        packages = packages,
        patches = patches,
        protos = protos,
        site = site,
        visibility = visibility,
    )
    native.py_library(
        name = name,
        data = [":" + site],
        imports = [site],
        deps = deps + ["@od_venv//:venv"],
        visibility = visibility,
    )

"""od_cloud_packages: the folder of packages a cloud training job installs."""

def _od_cloud_packages_impl(ctx):
    out = ctx.actions.declare_directory(ctx.attr.name)
    args = ctx.actions.args()
    args.add("--out", out.path)
    args.add_all(ctx.files.sdists, before_each = "--sdist")
    args.add("--lock", ctx.file.lock)
    args.add_all(ctx.files.dists)
    ctx.actions.run(
        executable = ctx.executable._assemble,
        arguments = [args],
        inputs = ctx.files.sdists + [ctx.file.lock] + ctx.files.dists,
        outputs = [out],
        mnemonic = "CloudPackages",
        progress_message = "Assembling cloud training packages %s" % out.short_path,
    )
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out]))]

od_cloud_packages = rule(
    implementation = _od_cloud_packages_impl,
    attrs = {
        "sdists": attr.label_list(
            mandatory = True,
            allow_files = [".tar.gz"],
            doc = "sdists built here: the trainer, the patched OD API and tf-slim (replacing the lock's entries of the same name)",
        ),
        "dists": attr.label_list(allow_files = True, doc = "third-party files taken from the lock"),
        "lock": attr.label(mandatory = True, allow_single_file = True),
        "_assemble": attr.label(default = "//tools/packaging:assemble_package_set", executable = True, cfg = "exec"),
    },
    doc = "A folder with the sdists built here, pinned third-party files, requirements.txt and SHA256SUMS.",
)

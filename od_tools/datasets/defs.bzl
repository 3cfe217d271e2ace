"""od_demo_dataset: the synthetic demo dataset as ONE cached output directory (a tree artifact).

    load("//od_tools/datasets:defs.bzl", "od_demo_dataset")
    od_demo_dataset(name = "dataset")   # bazel build //od_tools/demo:dataset

The directory holds train.tfrecord-0000K-of-0000N, val.tfrecord-00000-of-0000M,
label_map.pbtxt, labelmap.txt, report.json, preview.png and coco/{train,val}.json + coco/images/.
The generator is seeded and deterministic, so the action is cached like any other: a second
build with the same sources does nothing.
"""

def _od_demo_dataset_impl(ctx):
    output = ctx.actions.declare_directory(ctx.label.name)
    ctx.actions.run(
        executable = ctx.executable._generator,
        arguments = [
            "--output_dir=" + output.path,
            "--num_train=%d" % ctx.attr.num_train,
            "--num_val=%d" % ctx.attr.num_val,
            "--image_size=%d" % ctx.attr.image_size,
            "--seed=%d" % ctx.attr.seed,
        ],
        outputs = [output],
        mnemonic = "OdDemoDataset",
        progress_message = "Generating the demo dataset %s" % ctx.label,
        env = {"TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    return [DefaultInfo(files = depset([output]), runfiles = ctx.runfiles(files = [output]))]

od_demo_dataset = rule(
    implementation = _od_demo_dataset_impl,
    doc = "Synthetic shapes (circle, square, triangle) as COCO + sharded TFRecords in one directory.",
    attrs = {
        "num_train": attr.int(default = 600),
        "num_val": attr.int(default = 100),
        "image_size": attr.int(default = 256),
        "seed": attr.int(default = 0),
        "_generator": attr.label(
            default = "//od_tools:make_demo_dataset",
            executable = True,
            cfg = "exec",
        ),
    },
)

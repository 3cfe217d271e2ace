"""od_demo_dataset: the synthetic demo dataset as ONE cached output directory (a tree artifact).

    load("//od_tools/datasets:defs.bzl", "od_demo_dataset")
    od_demo_dataset(name = "dataset")   # bazel build //od_tools/demo:dataset
    od_demo_dataset(name = "crowded", num_train = 20, num_val = 20, min_objects = 14, max_objects = 20,
                    max_object_size = 40)  # more shapes than a TFLite model's 10 detections

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
            "--min_objects=%d" % ctx.attr.min_objects,
            "--max_objects=%d" % ctx.attr.max_objects,
            "--min_object_size=%d" % ctx.attr.min_object_size,
            "--max_object_size=%d" % ctx.attr.max_object_size,
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
        "min_objects": attr.int(default = 1),
        "max_objects": attr.int(default = 4),
        "min_object_size": attr.int(default = 24),
        "max_object_size": attr.int(default = 96),
        "_generator": attr.label(
            default = "//od_tools:make_demo_dataset",
            executable = True,
            cfg = "exec",
        ),
    },
)

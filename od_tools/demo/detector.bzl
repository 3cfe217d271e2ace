"""od_trained_detector: a detector trained from a pipeline.config, as one cached output folder.

    od_trained_detector(
        name = "detector",
        pipeline_config = "pipeline.config",
        dataset = ":dataset",          # a folder target with label_map.pbtxt and TFRecords
    )

The folder holds ckpt-N.*, checkpoint, pipeline.config, label_map.pbtxt,
metrics.json and detections/*.png (see od_tools/demo/train_detector.py). Training is seeded
and runs with --deterministic's settings; any of its results is a valid cache entry. The
dataset folder must sit beside the detector folder (same package) and comes with it in
runfiles.
"""

def _od_trained_detector_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    args = ctx.actions.args()
    args.add("--pipeline_config_path", ctx.file.pipeline_config)
    args.add("--dataset_dir", ctx.file.dataset.path)
    args.add("--output_dir", out.path)
    args.add("--seed", str(ctx.attr.seed))
    ctx.actions.run(
        outputs = [out],
        inputs = [ctx.file.pipeline_config, ctx.file.dataset],
        executable = ctx.executable._tool,
        arguments = [args],
        mnemonic = "TrainDetector",
        progress_message = "Training the detector %s (about 6 minutes on 2 cores; `bazel run //od_tools:export_tflite` shows its steps)" % ctx.label,
        # Its progress lines also go to a status file the no-flag export_tflite shows while it
        # runs (od_tools/common/progress.py); Bazel prints the action's output only at the end.
        env = {"TF_CPP_MIN_LOG_LEVEL": "2", "OD_STATUS_FILE": ctx.label.package + "/" + ctx.label.name},
    )
    # The folder's pipeline.config names the data as ../<dataset>: whoever runs with the
    # detector gets the dataset beside it.
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out, ctx.file.dataset]))]

od_trained_detector = rule(
    implementation = _od_trained_detector_impl,
    attrs = {
        "pipeline_config": attr.label(allow_single_file = True, mandatory = True),
        "dataset": attr.label(allow_single_file = True, mandatory = True),
        "seed": attr.int(default = 0),
        "_tool": attr.label(
            default = "//od_tools/demo:train_detector",
            executable = True,
            cfg = "exec",
        ),
    },
)

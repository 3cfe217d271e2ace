"""Exports as cached Bazel build outputs, for users' own BUILD files.

    load("//od_tools/export:defs.bzl", "od_android_assets", "od_tflite_model")

    # SavedModels + detect_<quantization>.tflite + labelmap.txt + report.{json,txt} in one folder.
    od_tflite_model(
        name = "tflite",
        detector = ":detector",            # a folder with ckpt-*, checkpoint and pipeline.config
        data = [":dataset"],               # whatever the config's input paths point into
        quantizations = ["all"],           # or e.g. ["float32", "int8"]
    )

    # detect.tflite + labelmap.txt + model_card.json, the app's assets.
    od_android_assets(
        name = "assets",
        model = ":tflite",
        quantization = "int8",
    )

The export is deterministic given its inputs, and it fails (leaving no output) when a TFLite model
misses the parity bar, so a cached result is always one that passed.
"""

def _od_tflite_model_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    inputs = list(ctx.files.data)
    args = ctx.actions.args()
    if ctx.attr.detector:
        detector = ctx.file.detector
        inputs.append(detector)
        checkpoint = detector.path
        pipeline_config = detector.path + "/pipeline.config"
    if ctx.attr.trained_checkpoint:
        checkpoint = ctx.file.trained_checkpoint.path
        inputs.append(ctx.file.trained_checkpoint)
    if ctx.attr.pipeline_config:
        pipeline_config = ctx.file.pipeline_config.path
        inputs.append(ctx.file.pipeline_config)
    if not (ctx.attr.detector or (ctx.attr.trained_checkpoint and ctx.attr.pipeline_config)):
        fail("give `detector`, or both `trained_checkpoint` and `pipeline_config`")
    args.add("--pipeline_config_path", pipeline_config)
    args.add("--trained_checkpoint_dir", checkpoint)
    args.add("--output_directory", out.path)
    for q in ctx.attr.quantizations:
        args.add("--quantization", q)
    for o in ctx.attr.overrides:
        args.add("--override", o)
    args.add("--max_detections", str(ctx.attr.max_detections))
    args.add("--num_calibration_images", str(ctx.attr.num_calibration_images))
    args.add("--num_parity_images", str(ctx.attr.num_parity_images))
    args.add("--float_min_mean_iou", ctx.attr.float_min_mean_iou)
    args.add("--int8_min_mean_iou", ctx.attr.int8_min_mean_iou)
    args.add("--op_profile_runs", str(ctx.attr.op_profile_runs))
    if ctx.attr.int8_debug:
        args.add("--int8_debug")
    if ctx.attr.int8_float_layers:
        args.add("--int8_float_layers", ctx.attr.int8_float_layers)
    ctx.actions.run(
        outputs = [out],
        inputs = inputs,
        executable = ctx.executable._tool,
        arguments = [args],
        mnemonic = "OdExportTflite",
        progress_message = "Exporting %s to SavedModel and TFLite (%s)" % (
            ctx.label,
            ", ".join(ctx.attr.quantizations),
        ),
        # Status lines for whoever watches the build (od_tools/common/progress.py).
        env = {"TF_CPP_MIN_LOG_LEVEL": "2", "OD_STATUS_FILE": ctx.label.package + "/" + ctx.label.name},
    )
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out]))]

od_tflite_model = rule(
    implementation = _od_tflite_model_impl,
    doc = "SavedModels and TFLite models (with metadata, parity-checked) of a trained detector.",
    attrs = {
        "detector": attr.label(allow_single_file = True, doc = "Folder with ckpt-*, checkpoint, pipeline.config."),
        "trained_checkpoint": attr.label(allow_single_file = True, doc = "Checkpoint folder (instead of detector)."),
        "pipeline_config": attr.label(allow_single_file = True, doc = "pipeline.config (instead of detector's)."),
        "data": attr.label_list(allow_files = True, doc = "Files the config's paths point into (TFRecords)."),
        "quantizations": attr.string_list(default = ["all"]),
        "overrides": attr.string_list(doc = "--override path.to.field=value strings."),
        "max_detections": attr.int(default = 10),
        "num_calibration_images": attr.int(default = 100),
        "num_parity_images": attr.int(default = 100),
        "float_min_mean_iou": attr.string(default = "0.99"),
        "int8_min_mean_iou": attr.string(default = "0.95"),
        "int8_debug": attr.bool(default = False, doc = "Per-layer int8 errors: int8_debug.csv and .png."),
        "int8_float_layers": attr.string(doc = "'auto' or tensor names: int8 layers kept in float."),
        "op_profile_runs": attr.int(default = 3, doc = "Runs per op of the report's CPU profile (0: none)."),
        "_tool": attr.label(
            default = "//od_tools:export_tflite",
            executable = True,
            cfg = "exec",
        ),
    },
)

def _od_android_assets_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    args = ctx.actions.args()
    args.add("--export_dir", ctx.file.model.path)
    args.add("--output_dir", out.path)
    if ctx.attr.quantization:
        args.add("--android_quantization", ctx.attr.quantization)
    ctx.actions.run(
        outputs = [out],
        inputs = [ctx.file.model],
        executable = ctx.executable._tool,
        arguments = [args],
        mnemonic = "OdAndroidAssets",
        progress_message = "Packaging Android assets %s" % ctx.label,
    )
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out]))]

od_android_assets = rule(
    implementation = _od_android_assets_impl,
    doc = "detect.tflite, labelmap.txt and model_card.json of one model of an od_tflite_model.",
    attrs = {
        "model": attr.label(allow_single_file = True, mandatory = True, doc = "An od_tflite_model target."),
        "quantization": attr.string(doc = "Which model; default int8 when exported, else the first."),
        "_tool": attr.label(
            default = "//od_tools:package_android_assets",
            executable = True,
            cfg = "exec",
        ),
    },
)

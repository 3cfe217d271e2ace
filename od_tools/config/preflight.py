"""Preflight: every mistake in a pipeline.config that would fail a run later, found before it starts.

An FPN model with a 300x300 resizer builds, then dies in its first step with "Dimensions must be
equal, but are 20 and 19"; a wrong num_classes or an empty glob fails hours into a job. Each
check here yields `field.path: problem; fix`, and all problems are reported together. The
checks read the config with the OD API's own schema and apply the rules of what the OD API
builds (od_tools.config.architecture); they need no TensorFlow unless a checkpoint or a remote
path has to be read.
"""

from __future__ import annotations

import dataclasses
import enum
import glob

from object_detection.protos import optimizer_pb2, pipeline_pb2

from od_tools.common.files import is_url
from od_tools.config import architecture
from od_tools.config import checkpoints
from od_tools.config.pipeline import PLACEHOLDER, Pipeline
from od_tools.label_map import LabelMap, LabelMapError, read_label_map


class Purpose(enum.Enum):
    """What the config is about to be used for: each needs different parts of it."""

    TRAIN = "train"
    EVAL = "eval"
    EXPORT = "export"            # to TFLite: SSD and CenterNet only
    SERVE = "serve"              # to a SavedModel (export_saved_model): every architecture


@dataclasses.dataclass(frozen=True)
class Problem:
    path: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}; {self.fix}"


@dataclasses.dataclass(frozen=True)
class Checks:
    """How the run will execute: the replica count and TPU decide batch and shape rules."""

    purpose: Purpose
    num_replicas: int = 1
    use_tpu: bool = False
    # List and read gs:// (and other remote) paths. False where they cannot be reached, e.g. when
    # a cloud job is prepared offline: remote paths are then taken on trust, local ones checked.
    remote: bool = True


def _glob(pattern: str) -> list[str]:
    if is_url(pattern):
        import tensorflow as tf  # only remote file systems need TensorFlow's layer

        return tf.io.gfile.glob(pattern)
    return glob.glob(pattern)


def _fpn_size_problems(field: str, size: int, fe, min_level: int, max_level: int):
    """An input size whose FPN levels would not line up, with the nearest ones that do."""
    if fe.use_explicit_padding:
        return  # the OD API crops the upsampled maps to fit: any size builds
    seen = architecture.padded_size(size, fe.pad_to_multiple)
    if architecture.fpn_levels_line_up(seen, min_level, max_level):
        return
    top = architecture.fpn_top_level(max_level)
    lower, upper = architecture.nearest_fpn_sizes(size, max_level)
    yield Problem(field, f"{size} is not divisible by 2^{top} = {2 ** top}, so the FPN's levels {min_level}-{top} "
                  "would not line up (training would fail with 'Dimensions must be equal')",
                  f"use {lower} or {upper} (or set model.ssd.feature_extractor.pad_to_multiple: {2 ** top})")


def _bifpn_size_problems(field: str, size: int, fe):
    stride = 2 ** fe.bifpn.max_level
    seen = architecture.padded_size(size, fe.pad_to_multiple)
    if seen % stride:
        lower, upper = architecture.valid_sizes_near(size, stride)
        yield Problem(field, f"{size} is not a multiple of 2^{fe.bifpn.max_level} = {stride}, so the BiFPN's levels "
                      f"{fe.bifpn.min_level}-{fe.bifpn.max_level} would not line up", f"use {lower} or {upper}")


def _resizer_sizes(model, checks: Checks, kind: str):
    """(field, size) of each input dimension the resizer fixes, and problems of the resizer itself."""
    resizer = model.image_resizer
    which = resizer.WhichOneof("image_resizer_oneof")
    rp = f"model.{kind}.image_resizer.{which}"
    sizes: list[tuple[str, int]] = []
    problems: list[Problem] = []
    if which == "fixed_shape_resizer":
        sizes = [(f"{rp}.height", resizer.fixed_shape_resizer.height), (f"{rp}.width", resizer.fixed_shape_resizer.width)]
    elif which == "keep_aspect_ratio_resizer":
        sizes = [(f"{rp}.max_dimension", resizer.keep_aspect_ratio_resizer.max_dimension)]
        if checks.use_tpu and not resizer.keep_aspect_ratio_resizer.pad_to_max_dimension:
            problems.append(Problem(f"{rp}.pad_to_max_dimension", "false gives images of varying shape, which TPUs "
                                    "cannot train on", "set pad_to_max_dimension: true"))
    if checks.purpose is Purpose.EXPORT and which != "fixed_shape_resizer":
        problems.append(Problem(f"model.{kind}.image_resizer", f"{which or 'no resizer'} gives no fixed input size, "
                                "which a TFLite model needs", "use fixed_shape_resizer { height: 320 width: 320 }"))
    for field, size in sizes:
        if size <= 0:
            problems.append(Problem(field, f"{size} is not a valid size", "use a positive size, e.g. 320"))
    return [(f, s) for f, s in sizes if s > 0], problems


def _extractor_problems(kind: str, type_name: str, known: frozenset[str]):
    field = f"model.{kind}.feature_extractor.type"
    if type_name in known:
        return
    if type_name in architecture.TF1_ONLY:
        yield Problem(field, f"'{type_name}' is a TF1-only (slim) feature extractor with no TensorFlow 2 implementation "
                      "in the Object Detection API", f"start from the TF2 model zoo's {architecture.TF1_ONLY[type_name]} "
                      "config")
        return
    import difflib

    close = difflib.get_close_matches(type_name, sorted(known), n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"use one of {', '.join(sorted(known))}"
    yield Problem(field, f"'{type_name}' is not a feature extractor the Object Detection API builds on TensorFlow 2", hint)


def _ssd_problems(pipeline: Pipeline, checks: Checks):
    ssd = pipeline.config.model.ssd
    fe = ssd.feature_extractor
    p = "model.ssd.feature_extractor"
    yield from _extractor_problems("ssd", fe.type, architecture.TF2_SSD_EXTRACTORS)
    if fe.HasField("depth_multiplier") and fe.depth_multiplier <= 0:
        yield Problem(f"{p}.depth_multiplier", f"{fe.depth_multiplier:g} must be positive", "use e.g. 1.0 or 0.35")
    sizes, problems = _resizer_sizes(ssd, checks, "ssd")
    yield from problems
    smallest = architecture.min_input_size(fe.type)
    for field, size in sizes:
        if size < smallest:
            stride = 2 ** (fe.bifpn.max_level if architecture.is_bifpn(fe.type) else
                           architecture.fpn_top_level(fe.fpn.max_level) if architecture.is_fpn(fe.type) else 0)
            upper = architecture.valid_sizes_near(smallest, stride)[1] if stride > 1 else smallest
            yield Problem(field, f"{size} is below the {smallest} pixels {fe.type} takes at least",
                          f"use {upper} or more")
    sizes = [(field, size) for field, size in sizes if size >= smallest]
    levels = None
    if architecture.is_fpn(fe.type):
        levels = (fe.fpn.min_level, fe.fpn.max_level)
        if fe.fpn.max_level < fe.fpn.min_level:
            yield Problem(f"{p}.fpn.max_level", f"{fe.fpn.max_level} is below min_level {fe.fpn.min_level}", "use e.g. 7")
        else:
            for field, size in sizes:
                yield from _fpn_size_problems(field, size, fe, fe.fpn.min_level, fe.fpn.max_level)
    elif architecture.is_bifpn(fe.type):
        levels = (fe.bifpn.min_level, fe.bifpn.max_level)
        for field, size in sizes:
            yield from _bifpn_size_problems(field, size, fe)
    ap = "model.ssd.anchor_generator.multiscale_anchor_generator"
    if ssd.anchor_generator.WhichOneof("anchor_generator_oneof") == "multiscale_anchor_generator":
        anchors = ssd.anchor_generator.multiscale_anchor_generator
        if levels:
            for name, value, level in (("min_level", anchors.min_level, levels[0]),
                                       ("max_level", anchors.max_level, levels[1])):
                if value != level:
                    pyramid = "fpn" if architecture.is_fpn(fe.type) else "bifpn"
                    yield Problem(f"{ap}.{name}", f"{value} differs from {p}.{pyramid}.{name} {level}; anchors must "
                                  "sit on the feature pyramid's levels", f"set both to {level}")
        if anchors.anchor_scale <= 0:
            yield Problem(f"{ap}.anchor_scale", "must be positive", "use e.g. 4.0")
        if anchors.scales_per_octave < 1:
            yield Problem(f"{ap}.scales_per_octave", "must be at least 1", "use e.g. 2")
        bad = [r for r in anchors.aspect_ratios if r <= 0]
        if bad:
            yield Problem(f"{ap}.aspect_ratios", f"{bad} are not positive", "use e.g. 1.0, 2.0, 0.5")
    matcher = ssd.matcher.argmax_matcher
    if ssd.matcher.HasField("argmax_matcher") and matcher.unmatched_threshold > matcher.matched_threshold:
        yield Problem("model.ssd.matcher.argmax_matcher.unmatched_threshold",
                      f"{matcher.unmatched_threshold:g} exceeds matched_threshold {matcher.matched_threshold:g}",
                      "make it at most matched_threshold")
    nms = ssd.post_processing.batch_non_max_suppression
    np_ = "model.ssd.post_processing.batch_non_max_suppression"
    if not 0 < nms.iou_threshold <= 1:
        yield Problem(f"{np_}.iou_threshold", f"{nms.iou_threshold:g} is outside (0, 1]", "use e.g. 0.6")
    if nms.max_total_detections < 1:
        yield Problem(f"{np_}.max_total_detections", "must be at least 1", "use e.g. 100")


def _faster_rcnn_problems(pipeline: Pipeline, checks: Checks):
    """What the OD API's Faster R-CNN / Mask R-CNN builder and input pipeline would refuse later."""
    frcnn = pipeline.config.model.faster_rcnn
    p = "model.faster_rcnn"
    fe = frcnn.feature_extractor
    yield from _extractor_problems("faster_rcnn", fe.type, architecture.TF2_FASTER_RCNN_EXTRACTORS)
    yield from _resizer_sizes(frcnn, checks, "faster_rcnn")[1]
    if frcnn.image_resizer.WhichOneof("image_resizer_oneof") == "keep_aspect_ratio_resizer":
        keep = frcnn.image_resizer.keep_aspect_ratio_resizer
        if keep.min_dimension > keep.max_dimension:
            yield Problem(f"{p}.image_resizer.keep_aspect_ratio_resizer.min_dimension", f"{keep.min_dimension} is above "
                          f"max_dimension {keep.max_dimension}", "use min_dimension <= max_dimension (the zoo's "
                          "640x640 configs use 640 and 640, its TF1 configs 600 and 1024)")
    strides = architecture.FASTER_RCNN_STRIDES.get(fe.type)
    stride = fe.first_stage_features_stride
    if strides and stride not in strides:
        atrous = (f"; TF1's atrous configs (stride 8) have no TF2 twin: start from the TF2 zoo's "
                  f"{architecture.TF2_MASK_RCNN_CONFIG if _predicts_masks(frcnn) else architecture.TF2_FASTER_RCNN_CONFIG}"
                  " config" if stride == 8 else "")
        yield Problem(f"{p}.feature_extractor.first_stage_features_stride", f"{stride}: the TF2 '{fe.type}' extractor "
                      f"builds only {' or '.join(map(str, strides))}", f"use {strides[-1]}{atrous}")
    if frcnn.first_stage_max_proposals < 1:
        yield Problem(f"{p}.first_stage_max_proposals", "must be at least 1", "use e.g. 300 (the zoo's value)")
    elif checks.purpose is Purpose.TRAIN and frcnn.second_stage_batch_size > frcnn.first_stage_max_proposals:
        yield Problem(f"{p}.second_stage_batch_size", f"{frcnn.second_stage_batch_size} is above "
                      f"first_stage_max_proposals {frcnn.first_stage_max_proposals}: the second stage samples its "
                      "batch from the proposals", f"use at most {frcnn.first_stage_max_proposals}, or raise "
                      "first_stage_max_proposals")
    if _predicts_masks(frcnn):
        yield from _mask_problems(pipeline, checks)


def _predicts_masks(frcnn) -> bool:
    predictor = frcnn.second_stage_box_predictor
    return (predictor.WhichOneof("box_predictor_oneof") == "mask_rcnn_box_predictor"
            and predictor.mask_rcnn_box_predictor.predict_instance_masks)


def _mask_problems(pipeline: Pipeline, checks: Checks):
    """A Mask R-CNN: its mask size, and the masks its input readers must load (its mask loss needs them)."""
    frcnn = pipeline.config.model.faster_rcnn
    p = "model.faster_rcnn"
    predictor = frcnn.second_stage_box_predictor.mask_rcnn_box_predictor
    q = f"{p}.second_stage_box_predictor.mask_rcnn_box_predictor"
    for field in ("mask_height", "mask_width"):
        if getattr(predictor, field) < 1:
            yield Problem(f"{q}.{field}", f"{getattr(predictor, field)} is not a mask size", "use e.g. 33 (the zoo's)")
    readers = []
    if checks.purpose is Purpose.TRAIN:
        readers.append(("train_input_reader", pipeline.config.train_input_reader))
    if checks.purpose in (Purpose.TRAIN, Purpose.EVAL) and pipeline.config.eval_input_reader:
        readers.append(("eval_input_reader[0]", pipeline.eval_input_reader))
    for name, reader in readers:
        if not reader.load_instance_masks:
            yield Problem(f"{name}.load_instance_masks", "false, but the model predicts instance masks (Mask R-CNN) "
                          "and needs them in its input", "set load_instance_masks: true and mask_type: PNG_MASKS, "
                          "with records written by create_tf_record --include_masks")


def _model_problems(pipeline: Pipeline, checks: Checks):
    kind = pipeline.meta_architecture
    if checks.purpose is Purpose.EXPORT and kind not in architecture.TFLITE_META_ARCHITECTURES:
        yield Problem(f"model.{kind}", "the Object Detection API exports only SSD and CenterNet models to TFLite "
                      "(export_tflite_graph_lib_tf2)", "export a model { ssd { ... } } or center_net config to TFLite; "
                      "serve this one as a SavedModel: ./bazelw run //od_tools:export_saved_model -- "
                      "--pipeline_config_path=... --trained_checkpoint_dir=... --output_directory=...")
        return
    if kind == "ssd":
        yield from _ssd_problems(pipeline, checks)
    elif kind == "faster_rcnn":
        yield from _faster_rcnn_problems(pipeline, checks)
    elif kind == "center_net":
        yield from _extractor_problems(kind, pipeline.model.feature_extractor.type,
                                       architecture.TF2_CENTER_NET_EXTRACTORS)
        yield from _resizer_sizes(pipeline.model, checks, kind)[1]


def _label_map_problems(pipeline: Pipeline, label_maps: dict[str, LabelMap], checks: Checks):
    readers = [("train_input_reader", pipeline.config.train_input_reader)]
    if pipeline.config.eval_input_reader:
        readers.append(("eval_input_reader[0]", pipeline.eval_input_reader))
    maps: dict[str, LabelMap] = {}
    for name, reader in readers:
        field = f"{name}.label_map_path"
        if not reader.label_map_path:
            continue
        if reader.label_map_path.startswith(PLACEHOLDER):
            yield Problem(field, f"still {reader.label_map_path}",
                          f"set it, e.g. --override {field}=data/label_map.pbtxt")
            continue
        resolved = pipeline.resolve(reader.label_map_path)
        if is_url(resolved) and not checks.remote:
            continue
        try:
            maps[field] = read_label_map(resolved)
        except LabelMapError as e:
            yield Problem(field, str(e), "fix the label map or the path")
    declared = pipeline.model.num_classes
    if not maps:
        if not declared and not any(r.label_map_path for _, r in readers):
            yield Problem("train_input_reader.label_map_path", f"not set, and {pipeline.num_classes_path} is 0",
                          "set one (--override train_input_reader.label_map_path=data/label_map.pbtxt)")
        return
    if len({tuple((i.id, i.name) for i in m.items) for m in maps.values()}) > 1:
        yield Problem("eval_input_reader[0].label_map_path", "names other classes than "
                      "train_input_reader.label_map_path", "use the same label map for training and evaluation")
    first_field, first = next(iter(maps.items()))
    label_maps["label_map"] = first
    if declared and declared != first.num_classes:
        yield Problem(pipeline.num_classes_path,
                      f"{declared} but {first_field} has {first.num_classes} classes (ids up to {first.num_classes})",
                      f"set num_classes: {first.num_classes}, or 0 to take it from the label map "
                      f"(--override {pipeline.num_classes_path}={first.num_classes})")


def _input_problems(reader: pipeline_pb2.InputReader, name: str, pipeline: Pipeline, checks: Checks):
    field = f"{name}.tf_record_input_reader.input_path"
    paths = list(reader.tf_record_input_reader.input_path)
    if not paths:
        yield Problem(field, "no input files", f"set it to your TFRecord glob (--override {field}=data/train.tfrecord-*)")
    for index, pattern in enumerate(paths):
        where = f"{field}[{index}]" if len(paths) > 1 else field
        if pattern.startswith(PLACEHOLDER):
            yield Problem(where, f"still {pattern}", f"set it, e.g. --override {field}=data/records-*")
            continue
        resolved = pipeline.resolve(pattern)
        if is_url(resolved) and not checks.remote:
            continue
        try:
            found = _glob(resolved)
        except Exception as e:  # remote file systems raise their own errors
            yield Problem(where, f"cannot list '{pattern}' ({e})", "check the path and your access to it")
            continue
        if not found:
            yield Problem(where, f"'{pattern}' matches no files (looked for {resolved})",
                          "check the path or glob; build or convert the data first")


def _train_problems(pipeline: Pipeline, checks: Checks):
    train = pipeline.config.train_config
    p = "train_config"
    if train.batch_size < 1:
        yield Problem(f"{p}.batch_size", "must be at least 1", "use e.g. 16")
    elif train.batch_size < checks.num_replicas or train.batch_size % checks.num_replicas:
        multiple = max(checks.num_replicas, train.batch_size // checks.num_replicas * checks.num_replicas)
        yield Problem(f"{p}.batch_size", f"{train.batch_size} does not split evenly over "
                      f"{checks.num_replicas} replicas", f"use a multiple of {checks.num_replicas}, e.g. {multiple}")
    if train.num_steps < 1:
        yield Problem(f"{p}.num_steps", "0 would train forever", "set num_steps (or --num_train_steps)")
    kind = train.optimizer.WhichOneof("optimizer")
    if kind is None:
        yield Problem(f"{p}.optimizer", "none given", "add momentum_optimizer { learning_rate { ... } }")
    else:
        yield from _lr_problems(getattr(train.optimizer, kind).learning_rate, f"{p}.optimizer.{kind}.learning_rate")
    if checks.use_tpu and train.max_number_of_boxes < 1:
        yield Problem(f"{p}.max_number_of_boxes", "must be positive on TPU (ground truth is padded to it)",
                      "use e.g. 100")
    if train.load_all_detection_checkpoint_vars:
        yield Problem(f"{p}.load_all_detection_checkpoint_vars", "is a TF1 option the TF2 trainer refuses",
                      "remove it (fine_tune_checkpoint_type decides what is restored)")
    yield from _input_problems(pipeline.config.train_input_reader, "train_input_reader", pipeline, checks)
    if train.fine_tune_checkpoint:
        yield from _fine_tune_problems(pipeline, checks)


def _lr_problems(lr: optimizer_pb2.LearningRate, path: str):
    kind = lr.WhichOneof("learning_rate")
    if kind is None:
        yield Problem(path, "no schedule given", "add e.g. cosine_decay_learning_rate { ... }")
    elif kind == "cosine_decay_learning_rate":
        c = lr.cosine_decay_learning_rate
        q = f"{path}.{kind}"
        if c.warmup_steps and c.warmup_learning_rate > c.learning_rate_base:
            yield Problem(f"{q}.warmup_learning_rate", f"{c.warmup_learning_rate:g} exceeds learning_rate_base "
                          f"{c.learning_rate_base:g}", "warm up towards the base rate from below")
        if c.total_steps < c.warmup_steps + c.hold_base_rate_steps:
            yield Problem(f"{q}.total_steps", f"{c.total_steps} is less than warmup_steps {c.warmup_steps} + "
                          f"hold_base_rate_steps {c.hold_base_rate_steps}",
                          "make total_steps larger (usually train_config.num_steps)")
    elif kind == "manual_step_learning_rate":
        steps = [s.step for s in lr.manual_step_learning_rate.schedule]
        if steps != sorted(set(steps)):
            yield Problem(f"{path}.{kind}.schedule", f"steps {steps} are not strictly increasing", "sort them")
    elif kind == "exponential_decay_learning_rate":
        if lr.exponential_decay_learning_rate.decay_steps < 1:
            yield Problem(f"{path}.{kind}.decay_steps", "must be at least 1", "use e.g. 1000")


def _fine_tune_problems(pipeline: Pipeline, checks: Checks):
    train = pipeline.config.train_config
    field = "train_config.fine_tune_checkpoint"
    if train.fine_tune_checkpoint.startswith(PLACEHOLDER):
        yield Problem(field, f"still {train.fine_tune_checkpoint}", "set a checkpoint (a model-zoo folder, a "
                      f"model_dir or .../checkpoint/ckpt-0), or clear it to train from scratch (--override {field}=)")
        return
    kind = train.fine_tune_checkpoint_type or ("detection" if train.from_detection_checkpoint else "classification")
    if kind not in checkpoints.FINE_TUNE_ROOTS:
        yield Problem("train_config.fine_tune_checkpoint_type", f"'{kind}' is not one the OD API's TF2 loop restores",
                      "use 'detection' (a detection model's checkpoint, e.g. a model-zoo download), "
                      "'classification' (a classification backbone's) or 'full'")
        return
    path = pipeline.resolve(train.fine_tune_checkpoint)
    if is_url(path) and not checks.remote:
        return
    found = checkpoints.locate(path)
    if found is None:
        yield Problem(field, f"no checkpoint at '{train.fine_tune_checkpoint}' (looked for {path}.index, or a "
                      "`checkpoint` file in it or in its checkpoint/ folder)",
                      "give a model-zoo folder, a model_dir or a ckpt-N prefix such as .../checkpoint/ckpt-0")
        return
    problem = _checkpoint_format_problem(found.prefix, field, kind)
    if problem:
        yield problem


def _checkpoint_format_problem(prefix: str, field: str, kind: str) -> Problem | None:
    """A checkpoint the TF2 trainer cannot restore from: unreadable, TF1 (name-based), or of
    another kind than fine_tune_checkpoint_type says (the zoo's TF2 configs say 'classification'
    while users point them at the zoo's detection checkpoints)."""
    import tensorflow as tf

    try:
        names = {name for name, _ in tf.train.list_variables(prefix)}
    except (tf.errors.OpError, ValueError) as e:
        return Problem(field, f"'{prefix}' is not a readable checkpoint ({type(e).__name__})",
                       "copy the whole checkpoint (ckpt-N.index and every ckpt-N.data-* file)")
    if "_CHECKPOINTABLE_OBJECT_GRAPH" not in names:
        return Problem(field, f"'{prefix}' is a TF1 (name-based) checkpoint, which the TF2 trainer cannot restore",
                       "fine-tune from a TF2 model-zoo checkpoint (checkpoint/ckpt-0) or a TF2 model_dir")
    root = checkpoints.FINE_TUNE_ROOTS[kind]
    if not any(name.startswith(root) for name in names):
        actual = next((k for k, r in checkpoints.FINE_TUNE_ROOTS.items() if any(n.startswith(r) for n in names)), None)
        what = f"a {actual} checkpoint" if actual else "a checkpoint of neither kind"
        fix = (f"set train_config.fine_tune_checkpoint_type: \"{actual}\"" if actual else
               "give a model-zoo checkpoint (checkpoint/ckpt-0) or a model_dir training wrote")
        return Problem("train_config.fine_tune_checkpoint_type", f"'{kind}' restores {root}... variables, but "
                       f"'{prefix}' is {what}", fix)
    return None


def _eval_problems(pipeline: Pipeline, checks: Checks):
    c = pipeline.config
    if not c.eval_input_reader:
        yield Problem("eval_input_reader", "not set", "add eval_input_reader { label_map_path: ... "
                      "tf_record_input_reader { input_path: ... } }")
        return
    yield from _input_problems(pipeline.eval_input_reader, "eval_input_reader[0]", pipeline, checks)


def preflight(pipeline: Pipeline, checks: Checks) -> tuple[list[Problem], LabelMap | None]:
    """All problems that would stop `checks.purpose`, and the label map when there is one."""
    label_maps: dict[str, LabelMap] = {}
    problems = list(_model_problems(pipeline, checks))
    problems += _label_map_problems(pipeline, label_maps, checks)
    if checks.purpose is Purpose.TRAIN:
        problems += _train_problems(pipeline, checks)
        if pipeline.config.eval_input_reader:  # training evaluates when it ends
            problems += _eval_problems(pipeline, checks)
    elif checks.purpose is Purpose.EVAL:
        problems += _eval_problems(pipeline, checks)
        if pipeline.config.eval_config.batch_size < 1:
            problems.append(Problem("eval_config.batch_size", "must be at least 1", "use e.g. 1"))
    return problems, label_maps.get("label_map")

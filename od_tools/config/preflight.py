"""Preflight: every mistake in a pipeline.config that would fail a run later, found before it starts.

An FPN model with a 300x300 resizer trains for a while, then dies with "Dimensions must be
equal, but are 20 and 19"; a wrong num_classes or an empty glob fails hours into a job. Each
check here yields `field.path: problem; fix`, and all problems are reported together.
"""

from __future__ import annotations

import dataclasses
import enum
import glob
import os

from od_tools.config import architecture
from od_tools.config.pipeline import PLACEHOLDER, Pipeline, is_url
from od_tools.label_map import LabelMap, LabelMapError, parse_label_map, read_label_map
from od_tools.protos import pipeline_pb2


class Purpose(enum.Enum):
    """What the config is about to be used for: each needs different parts of it."""

    TRAIN = "train"
    EVAL = "eval"
    EXPORT = "export"


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


def read_label_map_at(path: str) -> LabelMap:
    if is_url(path):
        import tensorflow as tf

        with tf.io.gfile.GFile(path) as f:
            return parse_label_map(f.read(), source=path)
    return read_label_map(path)


def _size_problems(field: str, size: int, min_level: int, max_level: int):
    """An input size whose FPN levels would not line up, with the nearest ones that do."""
    if size <= 0:
        yield Problem(field, f"{size} is not a valid size", "use a positive multiple of 32, e.g. 320")
    elif not architecture.fpn_levels_line_up(size, min_level, max_level):
        top = architecture.fpn_top_level(max_level)
        lower, upper = architecture.nearest_fpn_sizes(size, max_level)
        yield Problem(field, f"{size} is not divisible by 2^{top} = {2 ** top}, so the FPN's levels "
                      f"{min_level}-{top} would not line up (training would fail with 'Dimensions must "
                      "be equal')", f"use {lower} or {upper}")


def _multiple_problems(field: str, size: int, multiple: int, reason: str):
    if size > 0 and size % multiple:
        lower, upper = architecture.valid_sizes_near(size, multiple)
        yield Problem(field, f"{size} is not a multiple of {multiple} ({reason})", f"use {lower} or {upper}")


def _model_problems(pipeline: Pipeline, checks: Checks):
    model = pipeline.config.model
    if model.WhichOneof("model") != "ssd":
        yield Problem("model", "no ssd { ... } block", "add model { ssd { ... } } (see README)")
        return
    ssd = model.ssd
    fe = ssd.feature_extractor
    p = "model.ssd.feature_extractor"
    if architecture.feature_extractor(fe.type) is None:
        yield Problem(f"{p}.type", f"'{fe.type}' is unsupported (od_tools builds MobileNet backbones "
                      "from Model Garden)", f"use one of {', '.join(architecture.supported_types())}")
    if fe.depth_multiplier <= 0:
        yield Problem(f"{p}.depth_multiplier", f"{fe.depth_multiplier} must be positive", "use e.g. 1.0 or 0.5")
    levels = fe.fpn if fe.HasField("fpn") else type(fe.fpn)()
    min_level, max_level = levels.min_level, levels.max_level
    lp = f"{p}.fpn"
    if not architecture.BACKBONE_MIN_LEVEL <= min_level <= architecture.BACKBONE_MAX_LEVEL:
        yield Problem(f"{lp}.min_level", f"{min_level} is outside the MobileNet's feature levels "
                      f"{architecture.BACKBONE_MIN_LEVEL}-{architecture.BACKBONE_MAX_LEVEL}", "use 3")
    if max_level < min_level:
        yield Problem(f"{lp}.max_level", f"{max_level} is below min_level {min_level}", "use e.g. 7 (or 6)")
    if levels.additional_layer_depth <= 0:
        yield Problem(f"{lp}.additional_layer_depth", "must be positive", "use e.g. 128")

    resizer = ssd.image_resizer
    kind = resizer.WhichOneof("image_resizer_oneof")
    rp = f"model.ssd.image_resizer.{kind}"
    if kind == "fixed_shape_resizer":
        sizes = [("height", resizer.fixed_shape_resizer.height), ("width", resizer.fixed_shape_resizer.width)]
    elif kind == "keep_aspect_ratio_resizer":
        sizes = [("max_dimension", resizer.keep_aspect_ratio_resizer.max_dimension)]
        if checks.use_tpu and not resizer.keep_aspect_ratio_resizer.pad_to_max_dimension:
            yield Problem(f"{rp}.pad_to_max_dimension", "false gives images of varying shape, which "
                          "TPUs cannot train on", "set pad_to_max_dimension: true")
    else:
        sizes = []
        yield Problem("model.ssd.image_resizer", f"{kind or 'no resizer'} gives no fixed input size, which "
                      "the exported (TFLite) model needs", "use fixed_shape_resizer { height: 320 width: 320 }")
    for name, size in sizes:
        if min_level <= max_level:
            yield from _size_problems(f"{rp}.{name}", size, min_level, max_level)
        if fe.pad_to_multiple > 1:
            yield from _multiple_problems(f"{rp}.{name}", size, fe.pad_to_multiple,
                                          f"{p}.pad_to_multiple is {fe.pad_to_multiple}")

    ap = "model.ssd.anchor_generator.multiscale_anchor_generator"
    if ssd.anchor_generator.WhichOneof("anchor_generator_oneof") == "multiscale_anchor_generator":
        anchors = ssd.anchor_generator.multiscale_anchor_generator
        for name, value, fpn_value in (("min_level", anchors.min_level, min_level),
                                       ("max_level", anchors.max_level, max_level)):
            if value != fpn_value:
                yield Problem(f"{ap}.{name}", f"{value} differs from {lp}.{name} {fpn_value}; "
                              "anchors must sit on the FPN's levels", f"set both to {fpn_value}")
        if anchors.anchor_scale <= 0:
            yield Problem(f"{ap}.anchor_scale", "must be positive", "use e.g. 4.0")
        if anchors.scales_per_octave < 1:
            yield Problem(f"{ap}.scales_per_octave", "must be at least 1", "use e.g. 2")
        bad_ratios = [r for r in anchors.aspect_ratios if r <= 0]
        if bad_ratios:
            yield Problem(f"{ap}.aspect_ratios", f"{bad_ratios} are not positive", "use e.g. 1.0, 2.0, 0.5")

    matcher = ssd.matcher.argmax_matcher
    if matcher.unmatched_threshold > matcher.matched_threshold:
        yield Problem("model.ssd.matcher.argmax_matcher.unmatched_threshold",
                      f"{matcher.unmatched_threshold} exceeds matched_threshold {matcher.matched_threshold}",
                      "make it at most matched_threshold")
    nms = ssd.post_processing.batch_non_max_suppression
    np_ = "model.ssd.post_processing.batch_non_max_suppression"
    if not 0 < nms.iou_threshold <= 1:
        yield Problem(f"{np_}.iou_threshold", f"{nms.iou_threshold} is outside (0, 1]", "use e.g. 0.6")
    if nms.max_total_detections < 1:
        yield Problem(f"{np_}.max_total_detections", "must be at least 1", "use e.g. 100")


def _label_map_problems(pipeline: Pipeline, label_maps: dict[str, LabelMap], checks: Checks):
    readers = [("train_input_reader", pipeline.config.train_input_reader)]
    if pipeline.config.eval_input_reader:
        readers.append(("eval_input_reader[0]", pipeline.eval_input_reader))
    maps: dict[str, LabelMap] = {}
    for name, reader in readers:
        field = f"{name}.label_map_path"
        if not reader.label_map_path:
            continue
        if reader.label_map_path == PLACEHOLDER:
            yield Problem(field, f"still {PLACEHOLDER}", f"set it, e.g. --override {field}=data/label_map.pbtxt")
            continue
        resolved = pipeline.resolve(reader.label_map_path)
        if is_url(resolved) and not checks.remote:
            continue
        try:
            maps[field] = read_label_map_at(resolved)
        except LabelMapError as e:
            yield Problem(field, str(e), "fix the label map or the path")
    declared = pipeline.config.model.ssd.num_classes
    if not maps:
        if not declared and not any(r.label_map_path for _, r in readers):
            yield Problem("train_input_reader.label_map_path", "not set, and model.ssd.num_classes is 0",
                          "set one (--override train_input_reader.label_map_path=data/label_map.pbtxt)")
        return
    if len({tuple((i.id, i.name) for i in m.items) for m in maps.values()}) > 1:
        yield Problem("eval_input_reader[0].label_map_path", "names other classes than "
                      "train_input_reader.label_map_path", "use the same label map for training and evaluation")
    first_field, first = next(iter(maps.items()))
    label_maps["label_map"] = first
    if declared and declared != first.num_classes:
        yield Problem("model.ssd.num_classes",
                      f"{declared} but {first_field} has {first.num_classes} classes (ids up to "
                      f"{first.num_classes})", f"set num_classes: {first.num_classes}, or 0 to take it "
                      f"from the label map (--override model.ssd.num_classes={first.num_classes})")


def _input_problems(reader: pipeline_pb2.InputReader, name: str, pipeline: Pipeline, checks: Checks):
    field = f"{name}.tf_record_input_reader.input_path"
    paths = list(reader.tf_record_input_reader.input_path)
    if not paths:
        yield Problem(field, "no input files", f"set it to your TFRecord glob (--override {field}=data/train.tfrecord-*)")
    for index, pattern in enumerate(paths):
        where = f"{field}[{index}]" if len(paths) > 1 else field
        if pattern == PLACEHOLDER:
            yield Problem(where, f"still {PLACEHOLDER}", f"set it, e.g. --override {field}=data/records-*")
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


def _checkpoint_layout_problem(path: str, field: str):
    """A checkpoint whose variables Model Garden's RetinaNet cannot read (e.g. an OD API one)."""
    import tensorflow as tf

    try:
        names = [name for name, _ in tf.train.list_variables(path)]
    except (tf.errors.OpError, ValueError) as e:
        return Problem(field, f"'{path}' is not a readable TF2 checkpoint ({type(e).__name__})",
                       "point it at a checkpoint prefix such as .../ckpt-600")
    if any("_feature_extractor" in n or "_box_predictor" in n for n in names):
        return Problem(field, f"'{path}' is an Object Detection API checkpoint, whose variable layout "
                       "Model Garden's RetinaNet cannot load", "fine-tune from an od_tools or Model Garden "
                       "checkpoint, or clear it to train from scratch (--override train_config.fine_tune_checkpoint=)")
    if not any(n.startswith(("model/_backbone/", "backbone/")) for n in names):
        return Problem(field, f"'{path}' holds no Model Garden backbone variables",
                       "use a checkpoint written by od_tools training or Model Garden")
    return None


def resolve_checkpoint(path: str) -> str | None:
    """A checkpoint prefix for `path` (a prefix, or a folder with a `checkpoint` file), or None."""
    if is_url(path):
        import tensorflow as tf

        if tf.io.gfile.isdir(path):
            return tf.train.latest_checkpoint(path)
        return path if tf.io.gfile.exists(path + ".index") else None
    if os.path.isdir(path):
        import tensorflow as tf

        return tf.train.latest_checkpoint(path)
    return path if os.path.exists(path + ".index") else None


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
    yield from _input_problems(pipeline.config.train_input_reader, "train_input_reader", pipeline, checks)
    if train.fine_tune_checkpoint:
        yield from _fine_tune_problems(pipeline, checks)


def _lr_problems(lr: pipeline_pb2.LearningRate, path: str):
    kind = lr.WhichOneof("learning_rate")
    if kind is None:
        yield Problem(path, "no schedule given", "add e.g. cosine_decay_learning_rate { ... }")
    elif kind == "cosine_decay_learning_rate":
        c = lr.cosine_decay_learning_rate
        q = f"{path}.{kind}"
        if c.warmup_steps and c.warmup_learning_rate > c.learning_rate_base:
            yield Problem(f"{q}.warmup_learning_rate", f"{c.warmup_learning_rate:g} exceeds learning_rate_base "
                          f"{c.learning_rate_base:g}", "warm up towards the base rate from below")
        if c.total_steps <= c.warmup_steps + c.hold_base_rate_steps:
            yield Problem(f"{q}.total_steps", f"{c.total_steps} leaves no steps after warmup_steps "
                          f"{c.warmup_steps} + hold_base_rate_steps {c.hold_base_rate_steps}",
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
    if train.fine_tune_checkpoint == PLACEHOLDER:
        yield Problem(field, f"still {PLACEHOLDER}", "set a checkpoint prefix (.../ckpt-600) or clear it to train "
                      f"from scratch (--override {field}=)")
        return
    kind = train.fine_tune_checkpoint_type
    if kind and kind not in ("detection", "classification", "full"):
        yield Problem("train_config.fine_tune_checkpoint_type", f"'{kind}' is unknown",
                      "use 'detection' (whole detector) or 'classification' (backbone only)")
    path = pipeline.resolve(train.fine_tune_checkpoint)
    if is_url(path) and not checks.remote:
        return
    prefix = resolve_checkpoint(path)
    if prefix is None:
        yield Problem(field, f"no checkpoint at '{train.fine_tune_checkpoint}' (looked for {path}.index)",
                      "give a checkpoint prefix such as model_dir/ckpt-600, or a folder holding one")
        return
    problem = _checkpoint_layout_problem(prefix, field)
    if problem:
        yield problem


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

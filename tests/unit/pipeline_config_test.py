"""pipeline.config: parsing, --override, preflight and the Model Garden mapping."""

from __future__ import annotations

import os
import shutil

import pytest

from od_tools.config import (
    Checks,
    OverrideError,
    PipelineConfigError,
    PreflightError,
    Purpose,
    apply_overrides,
    load_pipeline,
    parse_pipeline_text,
    preflight,
    prepare,
)
from od_tools.config import architecture

TESTDATA = os.path.join(os.path.dirname(__file__), "..", "testdata")
ZOO = os.path.join(TESTDATA, "ssd_mobilenet_v2_fpnlite_320x320.config")


@pytest.fixture
def data_dir(tmp_path):
    """A label map with 3 classes and (empty) files for the input globs to match."""
    (tmp_path / "label_map.pbtxt").write_text(
        "item { id: 1 name: 'a' }\nitem { id: 2 name: 'b' }\nitem { id: 3 name: 'c' }\n")
    for name in ("train.tfrecord-00000-of-00002", "train.tfrecord-00001-of-00002", "val.tfrecord-00000-of-00001"):
        (tmp_path / name).write_bytes(b"")
    return tmp_path


def zoo_overrides(folder) -> list[str]:
    """The edits every zoo config needs: data paths, no pretrained checkpoint."""
    return [
        f"train_input_reader.label_map_path={folder}/label_map.pbtxt",
        f"train_input_reader.tf_record_input_reader.input_path={folder}/train.tfrecord-*",
        f"eval_input_reader.label_map_path={folder}/label_map.pbtxt",
        f"eval_input_reader.tf_record_input_reader.input_path={folder}/val.tfrecord-*",
        "train_config.fine_tune_checkpoint=",
        "model.ssd.num_classes=0",
    ]


def problems_of(path: str, overrides, **checks) -> list[str]:
    pipeline = load_pipeline(path, overrides)
    problems, _ = preflight(pipeline, Checks(checks.pop("purpose", Purpose.TRAIN), **checks))
    return [str(p) for p in problems]


# ---- parsing ---------------------------------------------------------------------------------

def test_zoo_config_parses_with_its_values():
    pipeline = load_pipeline(ZOO)
    ssd = pipeline.config.model.ssd
    assert ssd.feature_extractor.type == "ssd_mobilenet_v2_fpn_keras"
    assert (ssd.image_resizer.fixed_shape_resizer.height, ssd.image_resizer.fixed_shape_resizer.width) == (320, 320)
    assert ssd.feature_extractor.fpn.max_level == 7
    assert list(ssd.anchor_generator.multiscale_anchor_generator.aspect_ratios) == [1.0, 2.0, 0.5]
    assert pipeline.config.train_config.optimizer.momentum_optimizer.learning_rate.HasField(
        "cosine_decay_learning_rate")


@pytest.mark.parametrize("block, name", [("faster_rcnn { num_classes: 90 first_stage_max_proposals: 300 }",
                                          "Faster R-CNN"),
                                         ("center_net { num_classes: 1 object_center_params { } }", "CenterNet")])
def test_unsupported_meta_architectures_get_one_line(block, name):
    with pytest.raises(PipelineConfigError) as error:
        parse_pipeline_text(f"model {{ {block} }} train_config {{ batch_size: 2 }}", "x.config")
    message = str(error.value)
    assert "\n" not in message and name in message and "unsupported" in message


def test_misspelt_field_names_line_and_suggestion():
    with pytest.raises(PipelineConfigError) as error:
        parse_pipeline_text("model {\n  ssd {\n    num_clases: 3\n  }\n}\n", "p.config")
    assert str(error.value).startswith("p.config:3:")
    assert "did you mean 'num_classes'" in str(error.value)


# ---- overrides -------------------------------------------------------------------------------

def test_overrides_are_typed_by_the_field():
    config = apply_overrides(load_pipeline(ZOO).config, [
        "train_config.batch_size=16",
        "model.ssd.num_classes=1",
        "train_input_reader.label_map_path=data/my labels.pbtxt",
        "model.ssd.post_processing.score_converter=SOFTMAX",
        "model.ssd.anchor_generator.multiscale_anchor_generator.aspect_ratios=[1.0, 3.0]",
        "eval_input_reader[0].tf_record_input_reader.input_path=val-*",
        "model.ssd.image_resizer={keep_aspect_ratio_resizer {min_dimension: 256 max_dimension: 256}}",
        "train_config.optimizer.use_moving_average=true",
    ])
    assert config.train_config.batch_size == 16
    assert config.model.ssd.num_classes == 1
    assert config.train_input_reader.label_map_path == "data/my labels.pbtxt"
    assert config.model.ssd.post_processing.score_converter == config.model.ssd.post_processing.SOFTMAX
    assert list(config.model.ssd.anchor_generator.multiscale_anchor_generator.aspect_ratios) == [1.0, 3.0]
    assert list(config.eval_input_reader[0].tf_record_input_reader.input_path) == ["val-*"]
    assert config.model.ssd.image_resizer.WhichOneof("image_resizer_oneof") == "keep_aspect_ratio_resizer"
    assert config.train_config.optimizer.use_moving_average


@pytest.mark.parametrize("spec, expected", [
    ("model.ssd.num_clases=1", "has no field 'num_clases'; did you mean 'num_classes'?"),
    ("train_config.batch_size=sixteen", "train_config.batch_size takes a non-negative integer, not 'sixteen'"),
    ("model.ssd.post_processing.score_converter=TANH", "takes one of IDENTITY, SOFTMAX, SIGMOID"),
    ("train_config.batch_size.x=1", "train_config.batch_size is a non-negative integer, not a block"),
    ("train_config.batch_size", "expected path.to.field=value"),
    ("train_config.data_augmentation_options[5].random_horizontal_flip={}", "does not exist (2 entries)"),
])
def test_bad_overrides_say_what_is_wrong(spec, expected):
    with pytest.raises(OverrideError) as error:
        apply_overrides(load_pipeline(ZOO).config, [spec])
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


# ---- preflight -------------------------------------------------------------------------------

def test_zoo_config_at_320_passes_preflight(data_dir):
    assert problems_of(ZOO, zoo_overrides(data_dir)) == []


def test_zoo_config_at_300_is_rejected_with_the_nearest_sizes(data_dir):
    overrides = zoo_overrides(data_dir) + ["model.ssd.image_resizer.fixed_shape_resizer.height=300",
                                           "model.ssd.image_resizer.fixed_shape_resizer.width=300"]
    problems = problems_of(ZOO, overrides)
    assert len(problems) == 2
    assert problems[0].startswith("model.ssd.image_resizer.fixed_shape_resizer.height: 300 is not divisible by 2^5")
    assert problems[0].endswith("use 288 or 320")


def test_fpn_size_rule_follows_the_merged_levels():
    # Levels above the MobileNet's top (5) are strided convs: 320 works up to max_level 7.
    assert architecture.fpn_levels_line_up(320, 3, 7)
    assert not architecture.fpn_levels_line_up(300, 3, 7)
    assert architecture.fpn_levels_line_up(300, 3, 4)  # ceil(300/8) = 38 = 2 * ceil(300/16)
    assert not architecture.fpn_levels_line_up(336, 3, 5)
    assert architecture.nearest_fpn_sizes(300, 7) == (288, 320)
    assert architecture.nearest_fpn_sizes(200, 4) == (192, 208)


def test_all_problems_are_reported_at_once(data_dir, tmp_path):
    (tmp_path / "bad_labels.pbtxt").write_text("item { id: 1 name: 'a' }\nitem { id: 1 name: 'b' }\n")
    overrides = zoo_overrides(data_dir) + [
        "model.ssd.num_classes=5",
        f"eval_input_reader.label_map_path={tmp_path}/bad_labels.pbtxt",
        f"train_input_reader.tf_record_input_reader.input_path={tmp_path}/missing-*",
        "train_config.batch_size=6",
        f"train_config.fine_tune_checkpoint={tmp_path}/nothing/ckpt-1",
        "model.ssd.anchor_generator.multiscale_anchor_generator.max_level=6",
    ]
    problems = problems_of(ZOO, overrides, num_replicas=4)
    fields = [p.split(":")[0] for p in problems]
    assert fields == [
        "model.ssd.anchor_generator.multiscale_anchor_generator.max_level",
        "eval_input_reader[0].label_map_path",
        "model.ssd.num_classes",
        "train_config.batch_size",
        "train_input_reader.tf_record_input_reader.input_path",
        "train_config.fine_tune_checkpoint",
    ]
    assert "id 1 of 'b' is already used by 'a'" in problems[1]
    assert "5 but train_input_reader.label_map_path has 3 classes" in problems[2]
    assert "use a multiple of 4, e.g. 4" in problems[3]
    with pytest.raises(PreflightError) as error:
        prepare(ZOO, overrides, checks=Checks(Purpose.TRAIN, num_replicas=4))
    lines = str(error.value).splitlines()
    assert "6 problem(s)" in lines[0] and len(lines) == 7


def test_tpu_rules_need_static_shapes(data_dir):
    overrides = zoo_overrides(data_dir) + [
        "model.ssd.image_resizer={keep_aspect_ratio_resizer {min_dimension: 320 max_dimension: 320}}",
        "train_config.max_number_of_boxes=0"]
    assert problems_of(ZOO, overrides) == []
    problems = problems_of(ZOO, overrides, num_replicas=8, use_tpu=True)
    assert [p.split(":")[0] for p in problems] == [
        "model.ssd.image_resizer.keep_aspect_ratio_resizer.pad_to_max_dimension",
        "train_config.max_number_of_boxes"]


def test_an_object_detection_api_checkpoint_is_recognised(data_dir, tmp_path):
    import tensorflow as tf

    prefix = tf.train.Checkpoint(model=tf.train.Checkpoint(_feature_extractor=tf.Variable(1.0))).write(
        str(tmp_path / "odapi" / "ckpt-0"))
    problems = problems_of(ZOO, zoo_overrides(data_dir) + [f"train_config.fine_tune_checkpoint={prefix}"])
    assert len(problems) == 1 and "Object Detection API checkpoint" in problems[0]


def test_relative_paths_resolve_beside_the_config(data_dir, tmp_path):
    shutil.copy(os.path.join(TESTDATA, "tiny_pipeline.config"), data_dir / "pipeline.config")
    assert problems_of(str(data_dir / "pipeline.config"), []) == []


def test_eval_needs_only_the_eval_inputs(data_dir):
    overrides = zoo_overrides(data_dir) + ["train_input_reader.tf_record_input_reader.input_path=nowhere-*"]
    assert problems_of(ZOO, overrides, purpose=Purpose.EVAL) == []
    assert len(problems_of(ZOO, overrides, purpose=Purpose.TRAIN)) == 1


# ---- mapping ---------------------------------------------------------------------------------

def test_zoo_config_maps_onto_model_garden(data_dir):
    prepared = prepare(ZOO, zoo_overrides(data_dir), checks=Checks(Purpose.TRAIN))
    task = prepared.experiment.task
    model = task.model
    assert prepared.num_classes == 3 and model.num_classes == 4  # + background
    assert model.input_size == [320, 320, 3]
    assert (model.backbone.type, model.backbone.mobilenet.model_id) == ("mobilenet", "MobileNetV2")
    assert (model.min_level, model.max_level) == (3, 7)
    assert (model.decoder.fpn.num_filters, model.decoder.fpn.use_separable_conv) == (128, True)
    assert (model.head.num_convs, model.head.num_filters, model.head.use_separable_conv) == (4, 128, True)
    assert (model.anchor.num_scales, model.anchor.anchor_size) == (2, 4.0)
    assert model.anchor.aspect_ratios == [1.0, 2.0, 0.5]
    generator = model.detection_generator
    assert generator.box_coder_weights == [10.0, 10.0, 5.0, 5.0]
    assert generator.nms_iou_threshold == pytest.approx(0.6)
    assert generator.max_num_detections == 100 and generator.nms_version == "batched"
    assert generator.tflite_post_processing.y_scale == 10.0
    assert (model.norm_activation.activation, model.norm_activation.norm_momentum) == ("relu6", pytest.approx(0.997))
    assert task.losses.focal_loss_gamma == 2.0 and task.losses.huber_loss_delta == 1.0
    assert task.losses.box_loss_weight == 1.0  # normalize_loc_loss_by_codesize: MG averages coordinates too
    assert task.losses.l2_weight_decay == pytest.approx(4e-5)
    assert task.train_data.global_batch_size == 128
    assert task.train_data.parser.aug_rand_hflip and not task.train_data.parser.keep_aspect_ratio
    optimizer = prepared.experiment.trainer.optimizer_config
    assert optimizer.optimizer.sgd.momentum == pytest.approx(0.9)
    assert optimizer.learning_rate.cosine.offset == 1000 and optimizer.learning_rate.cosine.decay_steps == 49000
    assert optimizer.warmup.linear.warmup_learning_rate == pytest.approx(0.026666)
    assert prepared.experiment.trainer.train_steps == 50000
    # The resolved config records the class count taken from the label map.
    assert prepared.pipeline.config.model.ssd.num_classes == 3


def test_every_set_field_is_accounted_for(data_dir):
    prepared = prepare(ZOO, zoo_overrides(data_dir), checks=Checks(Purpose.TRAIN))
    report = prepared.report
    warned = {item.path for item in report.not_honoured}
    assert warned == {
        "model.ssd.feature_extractor.conv_hyperparams.initializer",
        "model.ssd.box_predictor.weight_shared_convolutional_box_predictor.conv_hyperparams.initializer",
        "model.ssd.box_predictor.weight_shared_convolutional_box_predictor.share_prediction_tower",
        "train_config.data_augmentation_options[1].random_crop_image",
    }
    from od_tools.config.ledger import set_field_paths

    leaves = set(set_field_paths(prepared.pipeline.config))
    covered = set(report.honoured) | set(report.no_effect)
    assert {leaf for leaf in leaves if leaf not in covered and not any(
        leaf.startswith(w) for w in warned)} == set()
    assert "model.ssd.image_resizer.fixed_shape_resizer.height" in report.honoured
    assert "train_config.sync_replicas" in report.no_effect
    assert report.warning("zoo.config").count("\n") == 4  # one warning: a header and 4 lines


def test_strict_turns_the_warning_into_errors(data_dir):
    with pytest.raises(PreflightError) as error:
        prepare(ZOO, zoo_overrides(data_dir), checks=Checks(Purpose.TRAIN), strict=True)
    assert "4 problem(s)" in str(error.value)
    assert "random_crop_image" in str(error.value)


def test_unmapped_fields_are_never_silent(data_dir):
    prepared = prepare(ZOO, zoo_overrides(data_dir) + ["train_config.summarize_gradients=true",
                                                      "graph_rewriter.quantization.delay=100"],
                       checks=Checks(Purpose.TRAIN))
    warned = {item.path for item in prepared.report.not_honoured}
    assert {"train_config.summarize_gradients", "graph_rewriter"} <= warned


def test_loss_weights_keep_the_od_api_balance(data_dir):
    overrides = zoo_overrides(data_dir) + [
        "model.ssd.loss.classification_loss={weighted_sigmoid {}}",
        "model.ssd.loss.classification_weight=2.0",
        "model.ssd.loss.localization_weight=3.0",
        "model.ssd.normalize_loc_loss_by_codesize=false"]
    losses = prepare(ZOO, overrides, checks=Checks(Purpose.TRAIN)).experiment.task.losses
    # Sigmoid CE is 2x focal(gamma 0, alpha 0.5); OD API sums 4 box coordinates, MG averages them.
    assert (losses.focal_loss_gamma, losses.focal_loss_alpha) == (0.0, 0.5)
    assert losses.loss_weight == pytest.approx(4.0)
    assert losses.loss_weight * losses.box_loss_weight == pytest.approx(4 * 3.0)


def test_demo_config_is_fully_honoured(data_dir):
    demo = os.path.join(os.path.dirname(__file__), "..", "..", "od_tools", "demo", "pipeline.config")
    overrides = zoo_overrides(data_dir)[:4]
    prepared = prepare(demo, overrides, checks=Checks(Purpose.TRAIN), strict=True)
    model = prepared.experiment.task.model
    assert model.input_size == [256, 256, 3] and model.backbone.mobilenet.filter_size_scale == 0.5
    assert (model.min_level, model.max_level, model.decoder.fpn.num_filters) == (3, 6, 64)
    assert model.detection_generator.box_coder_weights is None
    assert prepared.experiment.task.losses.box_loss_weight == 50

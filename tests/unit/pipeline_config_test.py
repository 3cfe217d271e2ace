"""pipeline.config on the OD API's own schema: parsing, --config_override and --override, TF1
translation, preflight rules, checkpoint locations."""

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
    apply_config_override,
    apply_overrides,
    load_pipeline,
    parse_pipeline_text,
    preflight,
    prepare,
    read_pipeline_config,
)
from od_tools.common.errors import UserError
from od_tools.config import architecture, checkpoints

TESTDATA = os.path.join(os.path.dirname(__file__), "..", "testdata")
ZOO = os.path.join(TESTDATA, "ssd_mobilenet_v2_fpnlite_320x320.config")
ZOO_CONFIGS = ("ssd_mobilenet_v2_fpnlite_320x320", "ssd_mobilenet_v2_320x320", "ssd_mobilenet_v1_fpn_640x640",
               "ssd_resnet50_v1_fpn_640x640", "ssd_efficientdet_d0_512x512", "centernet_mobilenetv2_fpn_512x512")
TF1 = os.path.join(TESTDATA, "ssd_mobilenet_v1_quantized_300x300_tf1.config")


def config_path(name: str) -> str:
    return os.path.join(TESTDATA, f"{name}.config")


@pytest.fixture
def data_dir(tmp_path):
    """A label map with 3 classes and (empty) files for the input globs to match."""
    (tmp_path / "label_map.pbtxt").write_text(
        "item { id: 1 name: 'a' }\nitem { id: 2 name: 'b' }\nitem { id: 3 name: 'c' }\n")
    for name in ("train.tfrecord-00000-of-00002", "train.tfrecord-00001-of-00002", "val.tfrecord-00000-of-00001"):
        (tmp_path / name).write_bytes(b"")
    return tmp_path


def data_overrides(folder, kind: str = "ssd") -> list[str]:
    """The edits every zoo config needs: data paths, no pretrained checkpoint, classes from the labels."""
    return [
        f"train_input_reader.label_map_path={folder}/label_map.pbtxt",
        f"train_input_reader.tf_record_input_reader.input_path={folder}/train.tfrecord-*",
        f"eval_input_reader.label_map_path={folder}/label_map.pbtxt",
        f"eval_input_reader.tf_record_input_reader.input_path={folder}/val.tfrecord-*",
        "train_config.fine_tune_checkpoint=",
        f"model.{kind}.num_classes=0",
    ]


def problems_of(path: str, overrides, **checks) -> list[str]:
    pipeline = load_pipeline(path, overrides)
    problems, _ = preflight(pipeline, Checks(checks.pop("purpose", Purpose.TRAIN), **checks))
    return [str(p) for p in problems]


# ---- parsing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ZOO_CONFIGS)
def test_every_zoo_shaped_config_parses_and_validates_once_its_paths_are_set(name, data_dir):
    kind = "center_net" if name.startswith("centernet") else "ssd"
    prepared = prepare(config_path(name), data_overrides(data_dir, kind), checks=Checks(Purpose.TRAIN))
    assert prepared.num_classes == 3 and prepared.notes == ()
    assert prepared.pipeline.train_input_paths == [f"{data_dir}/train.tfrecord-*"]


def test_a_byte_order_mark_and_windows_line_ends_parse(tmp_path):
    text = open(ZOO, encoding="utf-8").read()
    path = tmp_path / "windows.config"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    assert read_pipeline_config(str(path)) == read_pipeline_config(ZOO)


def test_misspelt_field_names_line_and_suggestion():
    with pytest.raises(PipelineConfigError) as error:
        parse_pipeline_text("model {\n  ssd {\n    num_clases: 3\n  }\n}\n", "p.config")
    message = str(error.value)
    assert message.startswith("p.config:3:") and "did you mean 'num_classes'" in message and "\n" not in message


def test_fields_of_every_family_are_known():
    """What a hand-written schema lacked: EfficientDet's bifpn, CenterNet's blocks."""
    config = read_pipeline_config(config_path("ssd_efficientdet_d0_512x512"))
    assert config.model.ssd.feature_extractor.bifpn.num_filters == 64
    config = read_pipeline_config(config_path("centernet_mobilenetv2_fpn_512x512"))
    assert config.model.center_net.object_center_params.max_box_predictions == 20


def test_a_config_without_a_model_says_so():
    with pytest.raises(PipelineConfigError) as error:
        parse_pipeline_text("train_config { batch_size: 2 }", "x.config")
    assert "no model { ... } block" in str(error.value)


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
    ("model.ssd.post_processing.score_converter=TANH", "takes one of IDENTITY, SIGMOID, SOFTMAX"),
    ("train_config.batch_size.x=1", "train_config.batch_size is a non-negative integer, not a block"),
    ("train_config.batch_size", "expected path.to.field=value"),
    ("train_config.data_augmentation_options[5].random_horizontal_flip={}", "does not exist (2 entries)"),
])
def test_bad_overrides_say_what_is_wrong(spec, expected):
    with pytest.raises(OverrideError) as error:
        apply_overrides(load_pipeline(ZOO).config, [spec])
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_config_override_merges_text_as_the_od_api_exporters_do():
    config = apply_config_override(load_pipeline(ZOO).config,
                                   "model { ssd { num_classes: 2 } } train_config { batch_size: 8 }")
    assert (config.model.ssd.num_classes, config.train_config.batch_size) == (2, 8)
    assert config.model.ssd.feature_extractor.type == "ssd_mobilenet_v2_fpn_keras"  # the rest is kept
    with pytest.raises(PipelineConfigError) as error:
        apply_config_override(config, "model { ssd { num_clases: 2 } }")
    assert str(error.value).startswith("--config_override: ")


# ---- preflight: sizes ------------------------------------------------------------------------

def test_the_classic_ssd_at_300_passes(data_dir):
    assert problems_of(config_path("ssd_mobilenet_v2_320x320"), data_overrides(data_dir)) == []


def size_overrides(size: int) -> list[str]:
    return [f"model.ssd.image_resizer.fixed_shape_resizer.height={size}",
            f"model.ssd.image_resizer.fixed_shape_resizer.width={size}"]


def test_an_fpn_at_300_is_caught_with_the_sizes_that_work(data_dir):
    problems = problems_of(config_path("ssd_mobilenet_v1_fpn_640x640"), data_overrides(data_dir) + size_overrides(300))
    assert len(problems) == 2
    assert problems[0].startswith("model.ssd.image_resizer.fixed_shape_resizer.height: 300 is not divisible by 2^5")
    assert "use 288 or 320" in problems[0]


@pytest.mark.parametrize("fix", ["model.ssd.feature_extractor.pad_to_multiple=32",
                                 "model.ssd.feature_extractor.use_explicit_padding=true"])
def test_an_fpn_at_300_builds_with_padding(data_dir, fix):
    overrides = data_overrides(data_dir) + size_overrides(300) + [fix]
    assert problems_of(config_path("ssd_mobilenet_v1_fpn_640x640"), overrides) == []


def test_bifpn_sizes_must_divide_by_its_top_level(data_dir):
    config = config_path("ssd_efficientdet_d0_512x512")
    resizer = "model.ssd.image_resizer={fixed_shape_resizer {height: 320 width: 384}}"
    problems = problems_of(config, data_overrides(data_dir) + [resizer])
    assert problems == ["model.ssd.image_resizer.fixed_shape_resizer.height: 320 is not a multiple of 2^7 = 128, "
                        "so the BiFPN's levels 3-7 would not line up; use 256 or 384"]


def test_fpn_size_rule_follows_the_merged_levels():
    # Levels above the backbone's top (5) are strided convs: 320 works up to max_level 7.
    assert architecture.fpn_levels_line_up(320, 3, 7)
    assert not architecture.fpn_levels_line_up(300, 3, 7)
    assert architecture.fpn_levels_line_up(300, 3, 4)  # ceil(300/8) = 38 = 2 * ceil(300/16)
    assert not architecture.fpn_levels_line_up(336, 3, 5)
    assert architecture.nearest_fpn_sizes(300, 7) == (288, 320)
    assert architecture.padded_size(300, 32) == 320 and architecture.padded_size(300, 0) == 300


def test_export_needs_a_fixed_input_size(data_dir):
    problems = problems_of(config_path("ssd_efficientdet_d0_512x512"), data_overrides(data_dir),
                           purpose=Purpose.EXPORT)
    assert problems == ["model.ssd.image_resizer: keep_aspect_ratio_resizer gives no fixed input size, which a TFLite "
                        "model needs; use fixed_shape_resizer { height: 320 width: 320 }"]


# ---- preflight: TF1 configs and extractors ----------------------------------------------------

def tf1_overrides(folder) -> list[str]:
    return data_overrides(folder) + ["train_config.from_detection_checkpoint=false"]


def test_a_tf1_config_runs_as_its_keras_twin_with_notes(data_dir):
    prepared = prepare(TF1, tf1_overrides(data_dir), checks=Checks(Purpose.TRAIN))
    assert prepared.config.model.ssd.feature_extractor.type == "ssd_mobilenet_v1_keras"
    assert len(prepared.notes) == 2
    assert prepared.notes[0].startswith("model.ssd.feature_extractor.type: 'ssd_mobilenet_v1' is the TF1")
    assert "--quantization=int8" in prepared.notes[1]
    with pytest.raises(PreflightError) as error:
        prepare(TF1, tf1_overrides(data_dir), checks=Checks(Purpose.TRAIN), strict=True)
    assert "2 problem(s)" in str(error.value) and "(--strict)" in str(error.value)


def test_the_walkthroughs_tf1_faster_rcnn_runs_as_its_keras_twin(data_dir):
    config = config_path("faster_rcnn_resnet101_coco_tf1")
    overrides = data_overrides(data_dir, "faster_rcnn") + ["train_config.from_detection_checkpoint=false"]
    prepared = prepare(config, overrides, checks=Checks(Purpose.TRAIN))
    assert prepared.config.model.faster_rcnn.feature_extractor.type == "faster_rcnn_resnet101_keras"
    assert prepared.notes[0].startswith("model.faster_rcnn.feature_extractor.type: 'faster_rcnn_resnet101' is the TF1")


def test_the_walkthroughs_tf1_atrous_mask_rcnn_names_the_tf2_config_to_start_from(data_dir):
    config = config_path("mask_rcnn_resnet50_atrous_coco_tf1")
    overrides = data_overrides(data_dir, "faster_rcnn") + ["train_config.from_detection_checkpoint=false"]
    with pytest.raises(PreflightError) as error:
        prepare(config, overrides, checks=Checks(Purpose.TRAIN))
    assert "model.faster_rcnn.feature_extractor.first_stage_features_stride: 8: the TF2 'faster_rcnn_resnet50_keras' " \
           "extractor builds only 16; use 16; TF1's atrous configs (stride 8) have no TF2 twin: start from the TF2 " \
           "zoo's mask_rcnn_inception_resnet_v2_1024x1024_coco17_gpu-8 config" in str(error.value)
    assert "1 problem(s)" in str(error.value)


def test_a_tf1_only_extractor_names_the_nearest_tf2_config(data_dir):
    problems = problems_of(TF1, tf1_overrides(data_dir) + ["model.ssd.feature_extractor.type=ssd_mobilenet_v3_large"])
    assert problems == ["model.ssd.feature_extractor.type: 'ssd_mobilenet_v3_large' is a TF1-only (slim) feature "
                        "extractor with no TensorFlow 2 implementation in the Object Detection API; start from the TF2 "
                        "model zoo's ssd_mobilenet_v2_fpnlite_320x320_coco17_tpu-8 config"]


def test_an_unknown_extractor_gets_a_suggestion(data_dir):
    problems = problems_of(ZOO, data_overrides(data_dir) + ["model.ssd.feature_extractor.type=ssd_mobilenet_v2_fpn_kera"])
    assert len(problems) == 1 and "did you mean 'ssd_mobilenet_v2_fpn_keras'?" in problems[0]


def test_faster_rcnn_trains_but_does_not_export_to_tflite(data_dir, tmp_path):
    text = """model { faster_rcnn { num_classes: 3 image_resizer { fixed_shape_resizer { height: 320 width: 320 } }
      feature_extractor { type: "faster_rcnn_resnet50_keras" } } }
      train_config { batch_size: 2 num_steps: 10 optimizer { momentum_optimizer { learning_rate {
      constant_learning_rate { learning_rate: 0.01 } } } } }"""
    path = tmp_path / "frcnn.config"
    path.write_text(text)
    overrides = data_overrides(data_dir, "faster_rcnn")[:5]
    assert problems_of(str(path), overrides) == []
    problems = problems_of(str(path), overrides, purpose=Purpose.EXPORT)
    assert len(problems) == 1 and problems[0].startswith(
        "model.faster_rcnn: the Object Detection API exports only SSD and CenterNet models to TFLite "
        "(export_tflite_graph_lib_tf2); export a model { ssd { ... } } or center_net config to TFLite; serve this "
        "one as a SavedModel: ./bazelw run //od_tools:export_saved_model -- --pipeline_config_path=")
    assert problems_of(str(path), overrides, purpose=Purpose.SERVE) == []


TWO_STAGE = ("faster_rcnn_resnet50_v1_640x640", "mask_rcnn_inception_resnet_v2_1024x1024")


@pytest.mark.parametrize("name", TWO_STAGE)
def test_two_stage_zoo_configs_validate_unchanged_but_for_data_paths(name, data_dir):
    for purpose in (Purpose.TRAIN, Purpose.EVAL, Purpose.SERVE):
        assert problems_of(config_path(name), data_overrides(data_dir, "faster_rcnn"), purpose=purpose) == []


MASK_RCNN = config_path("mask_rcnn_inception_resnet_v2_1024x1024")
FRCNN = "model.faster_rcnn"


@pytest.mark.parametrize("config, override, expected", [
    (MASK_RCNN, "train_input_reader.load_instance_masks=false",
     "train_input_reader.load_instance_masks: false, but the model predicts instance masks (Mask R-CNN) and needs "
     "them in its input; set load_instance_masks: true and mask_type: PNG_MASKS, with records written by "
     "create_tf_record --include_masks"),
    (MASK_RCNN, "eval_input_reader[0].load_instance_masks=false", "eval_input_reader[0].load_instance_masks: false"),
    (MASK_RCNN, f"{FRCNN}.second_stage_box_predictor.mask_rcnn_box_predictor.mask_height=0",
     f"{FRCNN}.second_stage_box_predictor.mask_rcnn_box_predictor.mask_height: 0 is not a mask size"),
    (config_path("faster_rcnn_resnet50_v1_640x640"), f"{FRCNN}.second_stage_batch_size=400",
     f"{FRCNN}.second_stage_batch_size: 400 is above first_stage_max_proposals 300: the second stage samples its "
     "batch from the proposals; use at most 300, or raise first_stage_max_proposals"),
    (config_path("faster_rcnn_resnet50_v1_640x640"), f"{FRCNN}.image_resizer.keep_aspect_ratio_resizer.min_dimension=800",
     f"{FRCNN}.image_resizer.keep_aspect_ratio_resizer.min_dimension: 800 is above max_dimension 640"),
    (config_path("faster_rcnn_resnet50_v1_640x640"), f"{FRCNN}.feature_extractor.first_stage_features_stride=8",
     f"{FRCNN}.feature_extractor.first_stage_features_stride: 8: the TF2 'faster_rcnn_resnet50_keras' extractor builds "
     "only 16; use 16; TF1's atrous configs (stride 8) have no TF2 twin: start from the TF2 zoo's "
     "faster_rcnn_resnet50_v1_640x640_coco17_tpu-8 config"),
])
def test_two_stage_mistakes_are_found_before_training(config, override, expected, data_dir):
    problems = problems_of(config, data_overrides(data_dir, "faster_rcnn") + [override])
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_architecture_tables_match_what_the_od_api_builds():
    from object_detection.builders import model_builder

    assert architecture.TF2_SSD_EXTRACTORS == set(model_builder.SSD_KERAS_FEATURE_EXTRACTOR_CLASS_MAP)
    assert architecture.TF2_FASTER_RCNN_EXTRACTORS == set(model_builder.FASTER_RCNN_KERAS_FEATURE_EXTRACTOR_CLASS_MAP)
    assert architecture.TF2_CENTER_NET_EXTRACTORS == set(model_builder.CENTER_NET_EXTRACTOR_FUNCTION_MAP)
    tf2 = architecture.TF2_SSD_EXTRACTORS | architecture.TF2_FASTER_RCNN_EXTRACTORS
    assert set(architecture.TF1_TWINS.values()) <= tf2
    assert not (set(architecture.TF1_TWINS) | set(architecture.TF1_ONLY)) & tf2


# ---- preflight: data, classes, training -------------------------------------------------------

def test_all_problems_are_reported_at_once(data_dir, tmp_path):
    (tmp_path / "bad_labels.pbtxt").write_text("item { id: 1 name: 'a' }\nitem { id: 1 name: 'b' }\n")
    overrides = data_overrides(data_dir) + [
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


def test_zoo_placeholders_are_named(data_dir):
    problems = problems_of(ZOO, [])
    assert {p.split(":")[0] for p in problems} == {
        "train_input_reader.label_map_path", "eval_input_reader[0].label_map_path",
        "train_input_reader.tf_record_input_reader.input_path",
        "eval_input_reader[0].tf_record_input_reader.input_path", "train_config.fine_tune_checkpoint"}
    assert all("still PATH_TO_BE_CONFIGURED" in p for p in problems)


def test_tpu_rules_need_static_shapes(data_dir):
    overrides = data_overrides(data_dir) + [
        "model.ssd.image_resizer={keep_aspect_ratio_resizer {min_dimension: 320 max_dimension: 320}}",
        "train_config.max_number_of_boxes=0"]
    assert problems_of(ZOO, overrides) == []
    problems = problems_of(ZOO, overrides, num_replicas=8, use_tpu=True)
    assert [p.split(":")[0] for p in problems] == [
        "model.ssd.image_resizer.keep_aspect_ratio_resizer.pad_to_max_dimension",
        "train_config.max_number_of_boxes"]


def test_a_tf1_checkpoint_is_refused(data_dir, tmp_path):
    import tensorflow as tf

    with tf.Graph().as_default():
        variable = tf.compat.v1.get_variable("FeatureExtractor/w", [2])
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            prefix = tf.compat.v1.train.Saver([variable]).save(session, str(tmp_path / "tf1" / "model.ckpt"))
    problems = problems_of(ZOO, data_overrides(data_dir) + [f"train_config.fine_tune_checkpoint={prefix}"])
    assert len(problems) == 1 and "is a TF1 (name-based) checkpoint" in problems[0]


def test_relative_paths_resolve_beside_the_config(data_dir):
    shutil.copy(os.path.join(TESTDATA, "tiny_pipeline.config"), data_dir / "pipeline.config")
    assert problems_of(str(data_dir / "pipeline.config"), []) == []


def test_eval_needs_only_the_eval_inputs(data_dir):
    overrides = data_overrides(data_dir) + ["train_input_reader.tf_record_input_reader.input_path=nowhere-*"]
    assert problems_of(ZOO, overrides, purpose=Purpose.EVAL) == []
    assert len(problems_of(ZOO, overrides, purpose=Purpose.TRAIN)) == 1


def test_the_resolved_config_is_what_runs(data_dir):
    prepared = prepare(ZOO, data_overrides(data_dir), checks=Checks(Purpose.TRAIN))
    config = prepared.config
    assert config.model.ssd.num_classes == 3  # from the label map
    assert config.train_input_reader.label_map_path == f"{data_dir}/label_map.pbtxt"
    assert list(config.eval_input_reader[0].tf_record_input_reader.input_path) == [f"{data_dir}/val.tfrecord-*"]


def test_the_demo_config_validates_strictly(data_dir):
    demo = os.path.join(os.path.dirname(__file__), "..", "..", "od_tools", "demo", "pipeline.config")
    prepared = prepare(demo, data_overrides(data_dir)[:4], checks=Checks(Purpose.TRAIN), strict=True)
    assert prepared.config.model.ssd.feature_extractor.type == "ssd_mobilenet_v2_fpn_keras"


# ---- checkpoint locations ---------------------------------------------------------------------

def touch_checkpoint(prefix) -> None:
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    for suffix in (".index", ".data-00000-of-00001"):
        open(f"{prefix}{suffix}", "wb").close()


def test_checkpoints_are_found_the_ways_users_name_them(tmp_path):
    # A model_main_tf2 model_dir: its state file names the newest checkpoint.
    model_dir = tmp_path / "model_dir"
    touch_checkpoint(model_dir / "ckpt-3")
    (model_dir / "checkpoint").write_text('model_checkpoint_path: "ckpt-3"\n')
    (model_dir / "pipeline.config").write_text("")
    assert checkpoints.locate(str(model_dir)) == checkpoints.Located(str(model_dir / "ckpt-3"),
                                                                       str(model_dir / "pipeline.config"))
    # A model-zoo download: checkpoint/ckpt-0 and the pipeline.config above it.
    zoo = tmp_path / "zoo"
    touch_checkpoint(zoo / "checkpoint" / "ckpt-0")
    (zoo / "checkpoint" / "checkpoint").write_text('model_checkpoint_path: "ckpt-0"\n')
    (zoo / "pipeline.config").write_text("")
    expected = checkpoints.Located(str(zoo / "checkpoint" / "ckpt-0"), str(zoo / "pipeline.config"))
    for path in (zoo, zoo / "checkpoint", zoo / "checkpoint" / "ckpt-0"):
        assert checkpoints.locate(str(path)) == expected
    assert checkpoints.locate(str(tmp_path / "nothing")) is None
    with pytest.raises(checkpoints.CheckpointNotFound) as error:
        checkpoints.resolve(str(tmp_path), "--trained_checkpoint_dir")
    assert str(error.value).startswith(f"--trained_checkpoint_dir {tmp_path}: no checkpoint in it")


def test_the_pipeline_config_is_the_one_given_else_the_one_beside_the_checkpoint():
    beside = checkpoints.Located("zoo/checkpoint/ckpt-0", "zoo/pipeline.config")
    assert beside.config_path("mine.config", "--model zoo") == "mine.config"
    assert beside.config_path(None, "--model zoo") == "zoo/pipeline.config"
    with pytest.raises(UserError) as error:
        checkpoints.Located("run/ckpt-3", "").config_path("", "--trained_checkpoint_dir run")
    assert str(error.value) == ("--trained_checkpoint_dir run: no pipeline.config beside the checkpoint; pass "
                                "--pipeline_config_path")


def test_inputs_below_the_extractors_minimum_are_caught(data_dir):
    problems = problems_of(config_path("ssd_resnet50_v1_fpn_640x640"), data_overrides(data_dir) + size_overrides(128))
    assert problems[0] == ("model.ssd.image_resizer.fixed_shape_resizer.height: 128 is below the 129 pixels "
                           "ssd_resnet50_v1_fpn_keras takes at least; use 160 or more")
    assert problems_of(config_path("ssd_resnet50_v1_fpn_640x640"), data_overrides(data_dir) + size_overrides(160)) == []

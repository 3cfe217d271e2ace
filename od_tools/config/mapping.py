"""pipeline.config -> Model Garden `ExperimentConfig` (RetinaNet on a MobileNet with an FPN).

The model itself is then built by Model Garden's own factories from this config, for training,
evaluation and export alike, so no code re-derives model settings on its own.

Each OD API field is mapped onto its Model Garden counterpart where one exists; every field is
accounted for in a `Ledger` (honoured, no effect, or not honoured with a reason). The mapping is
tolerant: invalid values get a fallback here because preflight reports them, so both run on any
config and all problems can be reported at once.
"""

from __future__ import annotations

import dataclasses
import math

from official.core import config_definitions as cfg
from official.modeling import optimization
from official.vision.configs import backbones, common, decoders
from official.vision.configs import retinanet as rn

from od_tools.config import architecture
from od_tools.config.ledger import Ledger, MappingReport
from od_tools.config.pipeline import Pipeline
from od_tools.protos import model_pb2, pipeline_pb2

# Model Garden's RetinaNet head starts class logits at -log((1 - 0.01) / 0.01), a 1% prior.
MODEL_GARDEN_CLASS_BIAS_INIT = -math.log((1 - 0.01) / 0.01)

_ACTIVATIONS = {
    model_pb2.Hyperparams.RELU: "relu",
    model_pb2.Hyperparams.RELU_6: "relu6",
    model_pb2.Hyperparams.SWISH: "swish",
}

# TF1 input-queue and replica knobs: tf.data autotuning and tf.distribute replace them.
_TRAIN_NO_EFFECT = (
    "sync_replicas", "startup_delay_steps", "replicas_to_aggregate", "batch_queue_capacity",
    "num_batch_queue_threads", "prefetch_queue_capacity", "unpad_groundtruth_tensors",
    "fine_tune_checkpoint_version", "load_all_detection_checkpoint_vars",
    "run_fine_tune_checkpoint_dummy_computation",
)
_READER_NO_EFFECT = (
    "name", "filenames_shuffle_buffer_size", "num_readers", "num_parallel_batches",
    "num_prefetch_batches", "queue_capacity", "min_after_dequeue", "read_block_length",
    "prefetch_size", "num_parallel_map_calls", "use_display_name", "include_source_id",
    "mask_type", "frame_index",
)
_READER_OFF_BY_DEFAULT = (
    "load_multiclass_scores", "load_instance_masks", "load_context_features",
    "load_context_image_ids", "load_keypoint_depth_features", "expand_labels_hierarchy",
    "load_dense_pose", "load_track_id",
)
_EVAL_NO_EFFECT = (
    "eval_interval_secs", "max_evals", "save_graph", "eval_master", "export_path",
    "retain_original_images", "keep_image_id_for_visualization_export", "force_no_resize",
    "use_dummy_loss_in_eval", "retain_original_image_additional_channels",
)
_EVAL_HONOURED = (
    "batch_size", "num_examples", "num_visualizations", "min_score_threshold",
    "max_num_boxes_to_visualize", "visualization_export_dir", "include_metrics_per_category",
    "skip_scores", "skip_labels", "visualize_groundtruth_boxes",
    "groundtruth_box_visualization_color",
)


@dataclasses.dataclass(frozen=True)
class Mapped:
    experiment: cfg.ExperimentConfig
    report: MappingReport


@dataclasses.dataclass(frozen=True)
class _Norm:
    """The conv_hyperparams settings Model Garden applies network-wide."""

    activation: str
    use_sync_bn: bool
    momentum: float
    epsilon: float
    l2: float


def _norm(hp: model_pb2.Hyperparams, path: str, L: Ledger) -> _Norm:
    l2 = 0.0
    regularizer = hp.regularizer.WhichOneof("regularizer_oneof")
    if regularizer == "l2_regularizer":
        l2 = hp.regularizer.l2_regularizer.weight
        L.honour(f"{path}.regularizer.l2_regularizer")
    elif regularizer == "l1_regularizer":
        L.warn(f"{path}.regularizer.l1_regularizer",
               "Model Garden offers L2 weight decay only; no weight decay is applied")
    if hp.HasField("initializer"):
        L.warn(f"{path}.initializer",
               "Model Garden initialises each layer its own way (head convs: normal, stddev 0.01)")
    activation = _ACTIVATIONS.get(hp.activation, "relu")
    if hp.activation == model_pb2.Hyperparams.NONE:
        L.warn(f"{path}.activation", "NONE is not available; FPN and head use relu")
    else:
        L.honour(f"{path}.activation")
    momentum, epsilon, sync = 0.99, 0.001, False
    normalizer = hp.WhichOneof("normalizer_oneof")
    if normalizer in ("batch_norm", "sync_batch_norm"):
        bn = getattr(hp, normalizer)
        momentum, epsilon, sync = bn.decay, bn.epsilon, normalizer == "sync_batch_norm"
        L.honour(f"{path}.{normalizer}.decay", f"{path}.{normalizer}.epsilon")
        L.warn_if(not bn.scale, f"{path}.{normalizer}.scale",
                  "Model Garden's batch norm always learns a scale (gamma)")
        L.warn_if(not bn.center, f"{path}.{normalizer}.center",
                  "Model Garden's batch norm always learns an offset (beta)")
        L.warn_if(not bn.train, f"{path}.{normalizer}.train",
                  "batch norm statistics are always trained")
    elif normalizer == "group_norm":
        L.warn(f"{path}.group_norm", "group norm is not available; batch norm is used")
    else:
        L.warn(path, "no normalizer given; Model Garden always uses batch norm")
    L.warn_if(hp.regularize_depthwise, f"{path}.regularize_depthwise",
              "depthwise kernels are not regularized")
    L.warn_if(hp.force_use_bias, f"{path}.force_use_bias", "convs before batch norm have no bias")
    L.warn_if(hp.op != model_pb2.Hyperparams.CONV, f"{path}.op", "only CONV hyperparams apply")
    return _Norm(activation, sync, momentum, epsilon, l2)


def _input_size(ssd: model_pb2.Ssd, L: Ledger) -> tuple[list[int], bool]:
    """[height, width, 3] and whether resizing keeps the aspect ratio (padding the rest)."""
    p = "model.ssd.image_resizer"
    resizer = ssd.image_resizer
    kind = resizer.WhichOneof("image_resizer_oneof")
    if kind == "fixed_shape_resizer":
        r = resizer.fixed_shape_resizer
        L.honour(f"{p}.fixed_shape_resizer.height", f"{p}.fixed_shape_resizer.width")
        size, keep_aspect = [r.height, r.width], False
    elif kind == "keep_aspect_ratio_resizer":
        r = resizer.keep_aspect_ratio_resizer
        q = f"{p}.keep_aspect_ratio_resizer"
        L.honour(f"{q}.max_dimension")
        L.warn_if(r.min_dimension != r.max_dimension, f"{q}.min_dimension",
                  f"images are scaled to fit {r.max_dimension}x{r.max_dimension} "
                  "(the longer side, not the shorter one, sets the scale)")
        L.warn_if(not r.pad_to_max_dimension, f"{q}.pad_to_max_dimension",
                  f"images are always padded to {r.max_dimension}x{r.max_dimension} (static shapes)")
        L.warn_if(len(r.per_channel_pad_value) > 0, f"{q}.per_channel_pad_value",
                  "padding is zero after mean/stddev normalization")
        size, keep_aspect = [r.max_dimension, r.max_dimension], True
    else:
        return [320, 320, 3], False  # preflight reports the resizer
    L.warn_if(r.resize_method != model_pb2.BILINEAR, f"{p}.{kind}.resize_method",
              "images are resized bilinearly")
    L.warn_if(r.convert_to_grayscale, f"{p}.{kind}.convert_to_grayscale",
              "images stay RGB")
    return size + [3], keep_aspect


def _levels(ssd: model_pb2.Ssd, L: Ledger) -> tuple[int, int, int]:
    """(min_level, max_level, FPN filters)."""
    fe = ssd.feature_extractor
    p = "model.ssd.feature_extractor"
    if fe.HasField("fpn"):
        L.honour(f"{p}.fpn")
        return fe.fpn.min_level, fe.fpn.max_level, fe.fpn.additional_layer_depth
    defaults = model_pb2.FeaturePyramidNetworks()
    L.warn(f"{p}.type", f"'{fe.type}' has no FPN; Model Garden's RetinaNet needs one, so an FPN "
           f"with levels {defaults.min_level}-{defaults.max_level} and "
           f"{defaults.additional_layer_depth} filters replaces the SSD extra layers "
           f"(set {p}.fpn to choose)")
    return defaults.min_level, defaults.max_level, defaults.additional_layer_depth


def _backbone(ssd: model_pb2.Ssd, L: Ledger) -> backbones.Backbone:
    fe = ssd.feature_extractor
    p = "model.ssd.feature_extractor"
    extractor = architecture.feature_extractor(fe.type)
    model_id = extractor.model_id if extractor else "MobileNetV2"
    if extractor:
        L.honour(f"{p}.type")
    L.honour(f"{p}.depth_multiplier", f"{p}.pad_to_multiple", f"{p}.use_depthwise")
    L.warn_if(fe.depth_multiplier < 1 and fe.min_depth not in (0, 8), f"{p}.min_depth",
              "Model Garden's MobileNets keep at least 8 channels per layer")
    L.warn_if(fe.use_explicit_padding, f"{p}.use_explicit_padding", "convs use SAME padding")
    L.no_effect(f"{p}.override_base_feature_extractor_hyperparams",
                f"{p}.replace_preprocessor_with_placeholder", f"{p}.num_layers")
    return backbones.Backbone(type="mobilenet", mobilenet=backbones.MobileNet(
        model_id=model_id, filter_size_scale=fe.depth_multiplier or 1.0))


def _anchors(ssd: model_pb2.Ssd, input_size: list[int], min_level: int, L: Ledger) -> rn.Anchor:
    p = "model.ssd.anchor_generator"
    kind = ssd.anchor_generator.WhichOneof("anchor_generator_oneof")
    if kind == "multiscale_anchor_generator":
        a = ssd.anchor_generator.multiscale_anchor_generator
        L.honour(f"{p}.{kind}")
        L.no_effect(f"{p}.{kind}.normalize_coordinates")
        return rn.Anchor(num_scales=a.scales_per_octave,
                         aspect_ratios=list(a.aspect_ratios) or [1.0, 2.0, 0.5],
                         anchor_size=a.anchor_scale)
    if kind == "ssd_anchor_generator":
        a = ssd.anchor_generator.ssd_anchor_generator
        # Keep the SSD's smallest anchor (min_scale of the image) at the finest FPN level.
        size = a.min_scale * min(input_size[:2]) / 2 ** min_level
        ratios = [r for r in a.aspect_ratios] or [1.0, 2.0, 0.5]
        L.warn(f"{p}.{kind}", "SSD anchors become multiscale anchors (2 scales per octave, "
               f"anchor_size {size:.2f} so the smallest matches min_scale, aspect_ratios "
               f"{ratios}); use multiscale_anchor_generator to choose")
        return rn.Anchor(num_scales=2, aspect_ratios=ratios, anchor_size=size)
    if kind:
        L.warn(f"{p}.{kind}", "only multiscale_anchor_generator is available; Model Garden's "
               "default anchors are used (3 scales, aspect ratios 0.5/1/2, anchor_size 4)")
    return rn.Anchor(num_scales=3, aspect_ratios=[0.5, 1.0, 2.0], anchor_size=4.0)


def _box_coder_weights(ssd: model_pb2.Ssd, L: Ledger) -> list[float] | None:
    p = "model.ssd.box_coder"
    kind = ssd.box_coder.WhichOneof("box_coder_oneof")
    if kind == "faster_rcnn_box_coder":
        c = ssd.box_coder.faster_rcnn_box_coder
        L.honour(f"{p}.{kind}")
        weights = [c.y_scale, c.x_scale, c.height_scale, c.width_scale]
        return None if weights == [1.0, 1.0, 1.0, 1.0] else weights
    if kind:
        L.warn(f"{p}.{kind}", "only faster_rcnn_box_coder is available; boxes are encoded "
               "without scaling")
        return None
    # The OD API's SSD builder requires a box coder; its default is faster_rcnn_box_coder.
    return [10.0, 10.0, 5.0, 5.0]


def _head(ssd: model_pb2.Ssd, fpn_filters: int, L: Ledger) -> tuple[rn.RetinaNetHead, model_pb2.Hyperparams | None]:
    p = "model.ssd.box_predictor"
    kind = ssd.box_predictor.WhichOneof("box_predictor_oneof")
    if kind is None:
        return rn.RetinaNetHead(num_convs=4, num_filters=fpn_filters), None
    b = getattr(ssd.box_predictor, kind)
    q = f"{p}.{kind}"
    L.honour(f"{q}.num_layers_before_predictor", f"{q}.use_depthwise")
    L.warn_if(b.kernel_size != 3, f"{q}.kernel_size", "head convs are 3x3")
    L.warn_if(b.box_code_size != 4, f"{q}.box_code_size", "boxes are coded with 4 numbers")
    L.warn_if(abs(b.class_prediction_bias_init - MODEL_GARDEN_CLASS_BIAS_INIT) > 0.01,
              f"{q}.class_prediction_bias_init",
              f"class logits start at {MODEL_GARDEN_CLASS_BIAS_INIT:.2f} (a 1% prior)")
    L.warn_if(b.use_dropout, f"{q}.use_dropout", "the head has no dropout")
    L.no_effect(f"{q}.dropout_keep_probability")
    L.warn_if(b.HasField("box_encodings_clip_range"), f"{q}.box_encodings_clip_range",
              "box encodings are not clipped")
    if kind == "weight_shared_convolutional_box_predictor":
        L.honour(f"{q}.depth")
        L.warn_if(b.share_prediction_tower, f"{q}.share_prediction_tower",
                  "Model Garden keeps separate class and box towers (each shared across levels)")
        L.warn_if(b.score_converter != b.IDENTITY, f"{q}.score_converter",
                  "scores are converted by post_processing.score_converter only")
        head = rn.RetinaNetHead(num_convs=b.num_layers_before_predictor,
                                num_filters=b.depth or fpn_filters,
                                use_separable_conv=b.use_depthwise, share_level_convs=True)
    else:
        L.warn_if(b.min_depth or b.max_depth, f"{q}.min_depth",
                  f"head convs have the FPN's {fpn_filters} filters")
        L.no_effect(f"{q}.max_depth")
        L.warn_if(b.apply_sigmoid_to_scores, f"{q}.apply_sigmoid_to_scores",
                  "scores are converted by post_processing.score_converter only")
        head = rn.RetinaNetHead(num_convs=b.num_layers_before_predictor, num_filters=fpn_filters,
                                use_separable_conv=b.use_depthwise, share_level_convs=False)
    return head, b.conv_hyperparams if b.HasField("conv_hyperparams") else None


def _detection_generator(ssd: model_pb2.Ssd, box_coder_weights, L: Ledger) -> rn.DetectionGenerator:
    p = "model.ssd.post_processing"
    post = ssd.post_processing
    nms = post.batch_non_max_suppression
    q = f"{p}.batch_non_max_suppression"
    L.honour(f"{q}.score_threshold", f"{q}.iou_threshold", f"{q}.max_total_detections",
             f"{q}.use_class_agnostic_nms", f"{q}.use_cpu_nms", f"{q}.max_classes_per_detection",
             f"{q}.soft_nms_sigma")
    L.warn_if(nms.max_detections_per_class < nms.max_total_detections,
              f"{q}.max_detections_per_class",
              f"each class keeps up to max_total_detections ({nms.max_total_detections}) boxes")
    L.no_effect(f"{q}.use_static_shapes", f"{q}.use_partitioned_nms", f"{q}.use_combined_nms",
                f"{q}.change_coordinate_frame", f"{q}.use_hard_nms")
    L.warn_if(post.score_converter != post.SIGMOID, f"{p}.score_converter",
              "Model Garden's RetinaNet scores classes with a sigmoid")
    L.warn_if(post.logit_scale != 1.0, f"{p}.logit_scale", "logits are not scaled")
    soft = nms.soft_nms_sigma > 0
    scales = box_coder_weights or [1.0, 1.0, 1.0, 1.0]
    tflite = common.TFLitePostProcessingConfig(
        max_detections=nms.max_total_detections,
        max_classes_per_detection=nms.max_classes_per_detection,
        use_regular_nms=False,
        nms_score_threshold=nms.score_threshold,
        nms_iou_threshold=nms.iou_threshold,
        detections_per_class=nms.max_detections_per_class,
        y_scale=scales[0], x_scale=scales[1], h_scale=scales[2], w_scale=scales[3])
    # Model Garden's 'batched' NMS (tf.image.combined_non_max_suppression) is the OD API's
    # per-class NMS and ~50x faster on CPU than its default 'v2' with 5000 candidates per class;
    # 'v2' is kept for class-agnostic NMS, 'v1' for soft NMS, which only they implement.
    version = "v1" if soft else ("v2" if nms.use_class_agnostic_nms else "batched")
    return rn.DetectionGenerator(
        pre_nms_top_k=1000,
        pre_nms_score_threshold=nms.score_threshold,
        nms_iou_threshold=nms.iou_threshold,
        max_num_detections=nms.max_total_detections,
        nms_version=version,
        soft_nms_sigma=nms.soft_nms_sigma if soft else None,
        use_cpu_nms=nms.use_cpu_nms,
        use_class_agnostic_nms=nms.use_class_agnostic_nms,
        box_coder_weights=box_coder_weights,
        tflite_post_processing=tflite)


def _losses(ssd: model_pb2.Ssd, l2: float, L: Ledger) -> rn.Losses:
    """OD API loss weights as Model Garden's `loss_weight * (cls + box_loss_weight * box)`."""
    p = "model.ssd.loss"
    loss = ssd.loss
    L.honour(f"{p}.classification_weight", f"{p}.localization_weight",
             "model.ssd.normalize_loc_loss_by_codesize")
    gamma, alpha, cls_factor = 2.0, 0.25, 1.0
    cls_kind = loss.classification_loss.WhichOneof("classification_loss")
    if cls_kind == "weighted_sigmoid_focal":
        focal = loss.classification_loss.weighted_sigmoid_focal
        gamma = focal.gamma
        L.honour(f"{p}.classification_loss.{cls_kind}", f"{p}.classification_loss.{cls_kind}.gamma")
        L.no_effect(f"{p}.classification_loss.{cls_kind}.anchorwise_output")
        if focal.HasField("alpha"):
            alpha = focal.alpha
            L.honour(f"{p}.classification_loss.{cls_kind}.alpha")
        else:
            L.warn(f"{p}.classification_loss.{cls_kind}.alpha",
                   "unset (no class balancing) is not available; alpha 0.25 is used")
    elif cls_kind == "weighted_sigmoid":
        # Focal loss with gamma 0 and alpha 0.5 is half the sigmoid cross-entropy.
        gamma, alpha, cls_factor = 0.0, 0.5, 2.0
        L.honour(f"{p}.classification_loss.{cls_kind}")
    else:
        L.warn(f"{p}.classification_loss" + (f".{cls_kind}" if cls_kind else ""),
               "Model Garden's RetinaNet trains with sigmoid focal loss (gamma 2, alpha 0.25)")
    delta, loc_factor = 0.1, 1.0
    loc_kind = loss.localization_loss.WhichOneof("localization_loss")
    if loc_kind == "weighted_smooth_l1":
        delta = loss.localization_loss.weighted_smooth_l1.delta
        L.honour(f"{p}.localization_loss.{loc_kind}")
        L.no_effect(f"{p}.localization_loss.{loc_kind}.anchorwise_output")
    else:
        L.warn(f"{p}.localization_loss" + (f".{loc_kind}" if loc_kind else ""),
               "Model Garden's RetinaNet trains boxes with a smooth L1 (Huber) loss, delta 0.1")
    # Model Garden averages the box loss over the 4 coordinates; the OD API sums them unless
    # normalize_loc_loss_by_codesize.
    if not ssd.normalize_loc_loss_by_codesize:
        loc_factor = 4.0
    cls_weight = loss.classification_weight or 1.0
    for name in ("hard_example_miner", "random_example_sampler", "equalization_loss"):
        if loss.HasField(name):
            L.warn(f"{p}.{name}", "not available: focal loss weighs all anchors")
    L.warn_if(loss.expected_loss_weights != loss.NONE, f"{p}.expected_loss_weights",
              "anchors are not reweighted")
    L.no_effect(f"{p}.min_num_negative_samples", f"{p}.desired_negative_sampling_ratio")
    return rn.Losses(
        loss_weight=cls_factor * cls_weight,
        focal_loss_alpha=alpha,
        focal_loss_gamma=gamma,
        huber_loss_delta=delta,
        box_loss_weight=loc_factor * loss.localization_weight / (cls_factor * cls_weight),
        l2_weight_decay=l2)


def _ssd_flags(ssd: model_pb2.Ssd, L: Ledger) -> None:
    """Top-level Ssd switches: what Model Garden always does, or cannot do."""
    p = "model.ssd"
    L.warn_if(not ssd.normalize_loss_by_num_matches, f"{p}.normalize_loss_by_num_matches",
              "losses are always divided by the number of matched anchors")
    L.no_effect(f"{p}.encode_background_as_zeros", f"{p}.inplace_batchnorm_update",
                f"{p}.return_raw_detections_during_predict")
    L.warn_if(ssd.freeze_batchnorm, f"{p}.freeze_batchnorm", "batch norm is always trained")
    L.warn_if(not ssd.add_background_class or ssd.explicit_background_class,
              f"{p}.add_background_class", "Model Garden always adds a background class")
    L.no_effect(f"{p}.explicit_background_class")
    L.warn_if(ssd.negative_class_weight != 1.0, f"{p}.negative_class_weight",
              "negatives are weighted by the focal loss only")
    L.warn_if(ssd.use_confidences_as_targets, f"{p}.use_confidences_as_targets",
              "targets are one-hot classes")
    L.warn_if(ssd.implicit_example_weight != 1.0, f"{p}.implicit_example_weight",
              "every example weighs 1")
    if ssd.HasField("mask_head_config"):
        L.warn(f"{p}.mask_head_config", "instance masks are not predicted")


def _matcher(ssd: model_pb2.Ssd, L: Ledger) -> tuple[float, float]:
    p = "model.ssd.matcher"
    kind = ssd.matcher.WhichOneof("matcher_oneof")
    if kind != "argmax_matcher":
        if kind:
            L.warn(f"{p}.{kind}", "anchors are matched by Model Garden's argmax matcher (IoU 0.5)")
        return 0.5, 0.5
    m = ssd.matcher.argmax_matcher
    q = f"{p}.argmax_matcher"
    L.honour(f"{q}.matched_threshold", f"{q}.unmatched_threshold")
    L.warn_if(m.ignore_thresholds, f"{q}.ignore_thresholds", "thresholds are always applied")
    L.warn_if(not m.negatives_lower_than_unmatched, f"{q}.negatives_lower_than_unmatched",
              "anchors below unmatched_threshold are negatives, between the thresholds ignored")
    L.warn_if(not m.force_match_for_each_row, f"{q}.force_match_for_each_row",
              "every box is always matched to its best anchor")
    L.no_effect(f"{q}.use_matmul_gather")
    similarity = ssd.similarity_calculator.WhichOneof("region_similarity")
    L.warn_if(similarity not in (None, "iou_similarity"), f"model.ssd.similarity_calculator.{similarity}",
              "anchors are matched by IoU")
    L.honour("model.ssd.similarity_calculator.iou_similarity")
    return m.matched_threshold, m.unmatched_threshold


def _model(pipeline: Pipeline, num_classes: int, L: Ledger):
    ssd = pipeline.ssd
    L.honour("model.ssd.num_classes")
    input_size, keep_aspect = _input_size(ssd, L)
    min_level, max_level, fpn_filters = _levels(ssd, L)
    backbone = _backbone(ssd, L)
    norm = _norm(ssd.feature_extractor.conv_hyperparams, "model.ssd.feature_extractor.conv_hyperparams", L)
    head, head_hp = _head(ssd, fpn_filters, L)
    if head_hp is not None:
        kind = ssd.box_predictor.WhichOneof("box_predictor_oneof")
        path = f"model.ssd.box_predictor.{kind}.conv_hyperparams"
        head_norm = _norm(head_hp, path, L)
        differing = [f.name for f in dataclasses.fields(_Norm)
                     if getattr(head_norm, f.name) != getattr(norm, f.name)]
        if differing:
            L.warn(path, f"Model Garden applies one setting network-wide; "
                   f"feature_extractor.conv_hyperparams' {', '.join(differing)} is used for the head")
    box_coder_weights = _box_coder_weights(ssd, L)
    _ssd_flags(ssd, L)
    match, unmatched = _matcher(ssd, L)
    model = rn.RetinaNet(
        num_classes=num_classes + 1,  # Model Garden counts the background class 0
        input_size=input_size,
        min_level=min_level,
        max_level=max_level,
        anchor=_anchors(ssd, input_size, min_level, L),
        backbone=backbone,
        decoder=decoders.Decoder(type="fpn", fpn=decoders.FPN(
            num_filters=fpn_filters, use_separable_conv=ssd.feature_extractor.use_depthwise)),
        head=head,
        detection_generator=_detection_generator(ssd, box_coder_weights, L),
        norm_activation=common.NormActivation(
            activation=norm.activation, use_sync_bn=norm.use_sync_bn,
            norm_momentum=norm.momentum, norm_epsilon=norm.epsilon))
    return model, keep_aspect, (match, unmatched), _losses(ssd, norm.l2, L)


def _learning_rate(lr: pipeline_pb2.LearningRate, path: str, L: Ledger) -> dict:
    """OD API schedules as Model Garden `learning_rate` (+ `warmup`) configs."""
    kind = lr.WhichOneof("learning_rate")
    p = f"{path}.{kind}"
    if kind == "cosine_decay_learning_rate":
        c = lr.cosine_decay_learning_rate
        L.honour(p)
        if c.hold_base_rate_steps:
            L.warn(f"{p}.hold_base_rate_steps", "approximated: the cosine starts after warmup + hold "
                   "steps but dips slightly (<1%) below the base rate during the hold")
        offset = c.warmup_steps + c.hold_base_rate_steps
        config = {"learning_rate": {"type": "cosine", "cosine": {
            "initial_learning_rate": c.learning_rate_base,
            "decay_steps": max(1, c.total_steps - offset), "offset": offset}}}
        if c.warmup_steps:
            config["warmup"] = {"type": "linear", "linear": {
                "warmup_steps": c.warmup_steps, "warmup_learning_rate": c.warmup_learning_rate}}
        return config
    if kind == "exponential_decay_learning_rate":
        e = lr.exponential_decay_learning_rate
        L.honour(f"{p}.initial_learning_rate", f"{p}.decay_steps", f"{p}.decay_factor", f"{p}.staircase")
        L.warn_if(e.burnin_steps > 0, f"{p}.burnin_steps",
                  "approximated by a linear warmup from burnin_learning_rate")
        L.no_effect(f"{p}.burnin_learning_rate")
        L.warn_if(e.min_learning_rate > 0, f"{p}.min_learning_rate",
                  "the rate is not clamped from below")
        config = {"learning_rate": {"type": "exponential", "exponential": {
            "initial_learning_rate": e.initial_learning_rate, "decay_steps": e.decay_steps,
            "decay_rate": e.decay_factor, "staircase": e.staircase}}}
        if e.burnin_steps:
            config["warmup"] = {"type": "linear", "linear": {
                "warmup_steps": e.burnin_steps, "warmup_learning_rate": e.burnin_learning_rate}}
        return config
    if kind == "manual_step_learning_rate":
        m = lr.manual_step_learning_rate
        L.honour(p)
        steps = [s.step for s in m.schedule]
        rates = [m.initial_learning_rate] + [s.learning_rate for s in m.schedule]
        if not steps:
            return {"learning_rate": {"type": "constant", "constant": {"learning_rate": rates[0]}}}
        # The OD API switches at step == boundary; Keras' piecewise schedule one step later.
        config = {"learning_rate": {"type": "stepwise", "stepwise": {
            "boundaries": [max(0, s - 1) for s in steps], "values": rates}}}
        if m.warmup:
            config["warmup"] = {"type": "linear", "linear": {
                "warmup_steps": steps[0], "warmup_learning_rate": m.initial_learning_rate}}
        return config
    if kind == "constant_learning_rate":
        L.honour(p)
        return {"learning_rate": {"type": "constant", "constant": {
            "learning_rate": lr.constant_learning_rate.learning_rate}}}
    return {"learning_rate": {"type": "constant", "constant": {"learning_rate": 0.002}}}


def _optimization(train: pipeline_pb2.TrainConfig, L: Ledger) -> optimization.OptimizationConfig:
    p = "train_config.optimizer"
    opt = train.optimizer
    kind = opt.WhichOneof("optimizer")
    if kind == "momentum_optimizer":
        o = opt.momentum_optimizer
        optimizer = {"type": "sgd", "sgd": {"momentum": o.momentum_optimizer_value}}
        L.honour(f"{p}.{kind}.momentum_optimizer_value")
    elif kind == "adam_optimizer":
        o = opt.adam_optimizer
        optimizer = {"type": "adam", "adam": {"epsilon": o.epsilon}}
        L.honour(f"{p}.{kind}.epsilon")
    elif kind == "rms_prop_optimizer":
        o = opt.rms_prop_optimizer
        optimizer = {"type": "rmsprop", "rmsprop": {
            "rho": o.decay, "momentum": o.momentum_optimizer_value, "epsilon": o.epsilon}}
        L.honour(f"{p}.{kind}.decay", f"{p}.{kind}.momentum_optimizer_value", f"{p}.{kind}.epsilon")
    else:
        return optimization.OptimizationConfig({"optimizer": {"type": "sgd", "sgd": {"momentum": 0.9}},
                                                "learning_rate": {"type": "constant"}})
    if train.gradient_clipping_by_norm > 0:
        optimizer[optimizer["type"]]["global_clipnorm"] = train.gradient_clipping_by_norm
    L.honour("train_config.gradient_clipping_by_norm")
    L.warn_if(opt.use_moving_average, f"{p}.use_moving_average",
              "weights are not averaged: the raw weights are evaluated and exported")
    L.no_effect(f"{p}.moving_average_decay")
    return optimization.OptimizationConfig(
        {"optimizer": optimizer, **_learning_rate(o.learning_rate, f"{p}.{kind}.learning_rate", L)})


def _augmentation(train: pipeline_pb2.TrainConfig, input_size: list[int], L: Ledger) -> dict:
    """data_augmentation_options as Model Garden RetinaNet `Parser` settings."""
    parser: dict = {}
    for index, step in enumerate(train.data_augmentation_options):
        kind = step.WhichOneof("preprocessing_step")
        p = f"train_config.data_augmentation_options[{index}].{kind}"
        op = getattr(step, kind) if kind else None
        if kind == "random_horizontal_flip":
            parser["aug_rand_hflip"] = True
            L.honour(p)
            L.warn_if(op.probability != 0.5, f"{p}.probability", "images are flipped with probability 0.5")
            L.warn_if(len(op.keypoint_flip_permutation) > 0, f"{p}.keypoint_flip_permutation",
                      "keypoints are not supported")
        elif kind in ("random_image_scale", "random_scale_crop_and_pad_to_square"):
            low, high = ((op.min_scale_ratio, op.max_scale_ratio) if kind == "random_image_scale"
                         else (op.scale_min, op.scale_max))
            parser.update(aug_scale_min=low, aug_scale_max=high)
            L.honour(p)
            if kind == "random_scale_crop_and_pad_to_square":
                L.warn_if(op.output_size != input_size[0], f"{p}.output_size",
                          "the crop is the model's input size")
        elif kind == "ssd_random_crop" and "aug_type" not in parser:
            parser["aug_type"] = _ssd_random_crop(op, p, L)
        elif kind == "random_jpeg_quality":
            parser["aug_rand_jpeg"] = {"min_quality": op.min_jpeg_quality, "max_quality": op.max_jpeg_quality,
                                       "prob_to_apply": 1.0 - op.random_coef}
            L.honour(p)
        elif kind == "autoaugment_image" and "aug_type" not in parser:
            parser["aug_type"] = {"type": "autoaug", "autoaug": {"augmentation_name": op.policy_name}}
            L.honour(p)
        elif kind in ("ssd_random_crop", "autoaugment_image"):
            L.warn(p, "Model Garden applies one of ssd_random_crop/autoaugment_image; the first is used")
        else:
            L.warn(p, "not available in Model Garden's RetinaNet input pipeline (it offers "
                   "random_horizontal_flip, random_image_scale / random_scale_crop_and_pad_to_square, "
                   "ssd_random_crop, random_jpeg_quality and autoaugment_image); skipped")
    return parser


def _ssd_random_crop(op, path: str, L: Ledger) -> dict | None:
    L.honour(path)
    if not op.operations:
        return {"type": "ssd_random_crop"}  # the OD API's and Model Garden's default seven crops
    params = [{"min_object_covered": o.min_object_covered, "min_box_overlap": o.overlap_thresh,
               "prob_to_apply": 1.0 - o.random_coef} for o in op.operations]
    aspect = (min(o.min_aspect_ratio for o in op.operations), max(o.max_aspect_ratio for o in op.operations))
    area = (min(o.min_area for o in op.operations), max(o.max_area for o in op.operations))
    if len({(o.min_aspect_ratio, o.max_aspect_ratio, o.min_area, o.max_area) for o in op.operations}) > 1:
        L.warn(f"{path}.operations", f"one aspect-ratio range {aspect} and area range {area} "
               "serve all crop operations")
    L.warn_if(any(not o.clip_boxes for o in op.operations), f"{path}.operations.clip_boxes",
              "boxes are always clipped to the crop")
    return {"type": "ssd_random_crop", "ssd_random_crop": {
        "ssd_random_crop_params": params, "aspect_ratio_range": aspect, "area_range": area}}


def _reader(reader: pipeline_pb2.InputReader, path: str, is_training: bool, L: Ledger) -> None:
    L.honour(f"{path}.label_map_path", f"{path}.tf_record_input_reader.input_path",
             f"{path}.max_number_of_boxes")
    L.no_effect(*(f"{path}.{name}" for name in _READER_NO_EFFECT))
    for name in _READER_OFF_BY_DEFAULT:
        L.warn_if(getattr(reader, name), f"{path}.{name}", "not supported; only boxes and classes are read")
    L.warn_if(reader.num_additional_channels > 0, f"{path}.num_additional_channels", "images are RGB")
    L.warn_if(reader.num_keypoints > 0 or len(reader.keypoint_type_weight) > 0, f"{path}.num_keypoints",
              "keypoints are not supported")
    L.no_effect(f"{path}.keypoint_type_weight")
    L.warn_if(reader.input_type == reader.TF_SEQUENCE_EXAMPLE, f"{path}.input_type",
              "only tf.Example records are read")
    L.warn_if(reader.WhichOneof("input_reader") == "external_input_reader", f"{path}.external_input_reader",
              "only tf_record_input_reader is supported")
    if is_training:
        L.honour(f"{path}.shuffle", f"{path}.shuffle_buffer_size")
        L.warn_if(reader.num_epochs > 0, f"{path}.num_epochs",
                  "training repeats the data until train_config.num_steps")
        L.warn_if(reader.sample_1_of_n_examples > 1, f"{path}.sample_1_of_n_examples",
                  "training reads every example")
    else:
        L.honour(f"{path}.sample_1_of_n_examples")
        L.no_effect(f"{path}.shuffle", f"{path}.shuffle_buffer_size", f"{path}.num_epochs")


def _eval_config(ev: pipeline_pb2.EvalConfig, L: Ledger) -> None:
    p = "eval_config"
    L.honour(*(f"{p}.{name}" for name in _EVAL_HONOURED))
    L.no_effect(*(f"{p}.{name}" for name in _EVAL_NO_EFFECT))
    for index, metric in enumerate(ev.metrics_set):
        L.warn_if(metric != "coco_detection_metrics", f"{p}.metrics_set[{index}]",
                  f"'{metric}' is not computed; COCO detection metrics are")
    if ev.metrics_set:
        L.honour(f"{p}.metrics_set")
    L.warn_if(ev.use_moving_averages, f"{p}.use_moving_averages", "weights are not averaged")
    L.warn_if(ev.all_metrics_per_category, f"{p}.all_metrics_per_category",
              "per-category results are AP only")
    L.warn_if(ev.ignore_groundtruth, f"{p}.ignore_groundtruth", "evaluation needs the ground truth")
    L.warn_if(ev.eval_instance_masks, f"{p}.eval_instance_masks", "masks are not predicted")
    L.warn_if(ev.recall_lower_bound != 0.0 or ev.recall_upper_bound != 1.0, f"{p}.recall_lower_bound",
              "COCO metrics use the full recall range")
    L.no_effect(f"{p}.recall_upper_bound")
    L.warn_if(len(ev.keypoint_edge) > 0, f"{p}.keypoint_edge", "keypoints are not supported")
    L.warn_if(ev.skip_predictions_for_unlabeled_class, f"{p}.skip_predictions_for_unlabeled_class",
              "every prediction is evaluated")


def _train_config(train: pipeline_pb2.TrainConfig, use_tpu: bool, L: Ledger) -> None:
    p = "train_config"
    L.honour(f"{p}.batch_size", f"{p}.num_steps", f"{p}.fine_tune_checkpoint",
             f"{p}.fine_tune_checkpoint_type", f"{p}.from_detection_checkpoint",
             f"{p}.keep_checkpoint_every_n_hours", f"{p}.max_number_of_boxes",
             f"{p}.add_regularization_loss")
    L.no_effect(*(f"{p}.{name}" for name in _TRAIN_NO_EFFECT))
    L.warn_if(train.use_bfloat16 and not use_tpu, f"{p}.use_bfloat16",
              "bfloat16 applies on TPU only; this run trains in float32")
    for name in ("merge_multiple_label_boxes", "use_multiclass_scores", "retain_original_images",
                 "summarize_gradients"):
        L.warn_if(getattr(train, name), f"{p}.{name}", "not supported")
    L.warn_if(train.bias_grad_multiplier != 0, f"{p}.bias_grad_multiplier", "bias gradients are not scaled")
    L.warn_if(len(train.freeze_variables) > 0, f"{p}.freeze_variables",
              "variables are not frozen by name (all layers train)")
    L.warn_if(len(train.update_trainable_variables) > 0, f"{p}.update_trainable_variables",
              "all variables train")


def fine_tune_modules(train: pipeline_pb2.TrainConfig) -> str:
    """'all' or 'backbone': what fine_tune_checkpoint restores, as in the OD API's TF2 trainer."""
    kind = train.fine_tune_checkpoint_type or (
        "detection" if train.from_detection_checkpoint else "classification")
    return "backbone" if kind == "classification" else "all"


def to_experiment(pipeline: Pipeline, num_classes: int, *, use_tpu: bool = False, seed: int | None = None,
                  deterministic: bool = False) -> Mapped:
    """The Model Garden experiment a pipeline.config describes, and what became of each field.

    `num_classes` are the foreground classes (from the config or the label map); input paths
    are resolved the way `Pipeline.resolve` does.
    """
    L = Ledger(pipeline.config)
    c = pipeline.config
    model, keep_aspect, (match, unmatched), losses = _model(pipeline, num_classes, L)
    train = c.train_config
    _train_config(train, use_tpu, L)
    if not train.add_regularization_loss:
        losses.l2_weight_decay = 0.0
    parser = _augmentation(train, model.input_size, L)
    max_boxes = (train.max_number_of_boxes if train.HasField("max_number_of_boxes")
                 else c.train_input_reader.max_number_of_boxes)
    _reader(c.train_input_reader, "train_input_reader", True, L)
    for index in range(len(c.eval_input_reader)):
        if index == 0:
            _reader(c.eval_input_reader[0], "eval_input_reader[0]", False, L)
        else:
            L.warn(f"eval_input_reader[{index}]", "only the first eval_input_reader is evaluated")
    _eval_config(c.eval_config, L)
    if c.HasField("graph_rewriter"):
        L.warn("graph_rewriter", "quantization-aware training is not available; export quantizes "
               "after training instead")
    dtype = "bfloat16" if train.use_bfloat16 and use_tpu else "float32"
    reader = c.train_input_reader
    train_data = rn.DataConfig(
        input_path=pipeline.train_input_paths,
        is_training=True,
        global_batch_size=train.batch_size,
        dtype=dtype,
        shuffle_buffer_size=reader.shuffle_buffer_size if reader.shuffle else 1,
        seed=seed,
        deterministic=deterministic or None,
        parser=rn.Parser(match_threshold=match, unmatched_threshold=unmatched, max_num_instances=max_boxes,
                         keep_aspect_ratio=keep_aspect, pad=False, **parser))
    validation_data = rn.DataConfig(
        input_path=pipeline.eval_input_paths,
        is_training=False,
        global_batch_size=c.eval_config.batch_size or 1,
        dtype=dtype,
        drop_remainder=False,
        parser=rn.Parser(match_threshold=match, unmatched_threshold=unmatched, max_num_instances=max_boxes,
                         keep_aspect_ratio=keep_aspect, pad=False))
    task = rn.RetinaNetTask(
        model=model,
        train_data=train_data,
        validation_data=validation_data,
        losses=losses,
        init_checkpoint=pipeline.resolve(train.fine_tune_checkpoint) or None,
        init_checkpoint_modules=fine_tune_modules(train),
        per_category_metrics=c.eval_config.include_metrics_per_category,
        max_num_eval_detections=model.detection_generator.max_num_detections)
    experiment = cfg.ExperimentConfig(
        task=task,
        trainer=cfg.TrainerConfig(train_steps=train.num_steps,
                                  optimizer_config=_optimization(train, L)),
        runtime=cfg.RuntimeConfig(mixed_precision_dtype=dtype if dtype == "bfloat16" else None),
        restrictions=["task.train_data.is_training != None",
                      "task.validation_data.is_training != None"])
    experiment.validate()
    return Mapped(experiment, L.report())

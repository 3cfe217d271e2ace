"""TF1 pipeline.configs (samples/configs, the TPU tutorial's) on the TF2 engine.

The TF1 Object Detection API built its feature extractors with slim and tf.contrib, which TF2
does not have. Where the OD API has a Keras twin of an extractor (same network, same config
fields), the config runs with the type renamed and one line saying so; TF1-only extractors are
refused by preflight, naming the nearest TF2 zoo config. TF1's quantization-aware training
(`graph_rewriter { quantization }`) has no TF2 counterpart in the OD API: the note points at
the full-integer export, which quantizes after training.
"""

from __future__ import annotations

from object_detection.protos import train_pb2

from od_tools.config import architecture
from od_tools.config.pipeline import PipelineProto, meta_architecture, model_block


def translate(config: PipelineProto) -> tuple[PipelineProto, list[str]]:
    """A copy of `config` with TF1 extractor types renamed to their Keras twins, and the notes."""
    result = PipelineProto()
    result.CopyFrom(config)
    notes: list[str] = []
    kind = meta_architecture(result)
    if kind in ("ssd", "faster_rcnn"):
        extractor = model_block(result).feature_extractor
        twin = architecture.TF1_TWINS.get(extractor.type)
        if twin:
            notes.append(f"model.{kind}.feature_extractor.type: '{extractor.type}' is the TF1 (slim) extractor; "
                         f"training its TF2 Keras twin '{twin}', the same network")
            extractor.type = twin
    train = result.train_config
    if train.fine_tune_checkpoint and train.fine_tune_checkpoint_version != train_pb2.V2:
        # V1 (name-based) is the field's TF1 default; the TF2 loop restores only V2 (object-based)
        # checkpoints, and preflight refuses a checkpoint that is not one.
        if train.HasField("fine_tune_checkpoint_version"):
            notes.append("train_config.fine_tune_checkpoint_version: V1 is TF1's name-based format; the TF2 loop "
                         "restores the checkpoint as V2 (object-based)")
        train.fine_tune_checkpoint_version = train_pb2.V2
    if result.HasField("graph_rewriter") and result.graph_rewriter.HasField("quantization"):
        notes.append("graph_rewriter.quantization: TF1 quantization-aware training does not exist on TF2 and is "
                     "skipped; export with --quantization=int8 for a full-integer model calibrated after training")
    return result, notes

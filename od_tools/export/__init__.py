"""Export of trained detectors: SavedModels, TFLite with the detection op, metadata, parity.

    from od_tools import config
    from od_tools.export import ExportOptions, Quantization, export_detector
    prepared = config.prepare("model_dir/pipeline.config", checks=config.Checks(config.Purpose.EXPORT))
    report = export_detector(prepared, "model_dir/ckpt-6", prepared.label_map, "exported/",
                             ExportOptions(quantizations=(Quantization.FLOAT32, Quantization.INT8)))

(`od_tools.api.export_tflite` does this from a model_dir and adds the Android assets.)

Names are imported on first use, so light modules of this package (the latency probe that runs
apart from TensorFlow) can be imported without loading TensorFlow.
"""

import importlib

_EXPORTS = {
    "ExportOptions": "od_tools.export.exporter",
    "ParityError": "od_tools.export.exporter",
    "export_detector": "od_tools.export.exporter",
    "tflite_file_name": "od_tools.export.report",
    "Quantization": "od_tools.export.convert",
    "parse_quantizations": "od_tools.export.convert",
    "ExportReport": "od_tools.export.report",
    "export_saved_model": "od_tools.export.saved_model",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'od_tools.export' has no attribute {name!r}")

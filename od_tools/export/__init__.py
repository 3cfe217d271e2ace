"""Export of trained detectors: SavedModels, TFLite with the detection op, metadata, parity.

    from od_tools.export import ExportOptions, Quantization, export_detector
    report = export_detector(experiment_config, "model_dir/", label_map, "exported/",
                             ExportOptions(quantizations=(Quantization.FLOAT32, Quantization.INT8)))
"""

from od_tools.export.convert import Quantization, parse_quantizations
from od_tools.export.exporter import ExportOptions, ParityError, export_detector, tflite_file_name
from od_tools.export.report import ExportReport

__all__ = ["ExportOptions", "ExportReport", "ParityError", "Quantization", "export_detector",
           "parse_quantizations", "tflite_file_name"]

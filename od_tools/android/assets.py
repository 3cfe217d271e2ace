"""The Android assets of an export: detect.tflite, labelmap.txt and model_card.json in one folder.

The folder is what an app's `src/main/assets` needs; it is written atomically and every file is
checked against the export report's sha256, so a stale or mixed-up model cannot be packaged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from od_tools.android.model_card import MODEL_CARD_FILE, MODEL_FILE, build_model_card
from od_tools.label_map import ANDROID_LABELS_FILE
from od_tools.common.errors import UserError
from od_tools.common.files import atomic_dir, sha256

if TYPE_CHECKING:  # the installer verifies packaged assets and starts without TensorFlow, which the report loads
    from od_tools.export.report import ExportReport

EXPORT_ASSETS_DIR = "android"  # the folder of an export that holds its Android assets
# Integer models first (smallest, fastest; uint8 is a TF1 graph converted as TOCO did), then float.
DEFAULT_QUANTIZATION_ORDER = ("int8", "uint8", "float32", "float16", "dynamic_range")


def choose_quantization(report: ExportReport, wanted: str | None) -> str:
    """`wanted` if exported; else int8 when present (smallest, fastest), else the first one."""
    exported = [m.quantization for m in report.models]
    if wanted:
        if wanted not in exported:
            raise UserError(f"--android_quantization={wanted} was not exported (exported: {', '.join(exported)})")
        return wanted
    return next(q for q in DEFAULT_QUANTIZATION_ORDER + tuple(exported) if q in exported)


def assets_from_export(export_dir: Path, quantization: str | None = None) -> dict[str, bytes]:
    """File name -> bytes of the assets for the chosen model of an export."""
    from od_tools.export.report import read_report

    report = read_report(export_dir)
    chosen = choose_quantization(report, quantization)
    model = report.model(chosen).read_model(export_dir)
    labels = (export_dir / ANDROID_LABELS_FILE).read_bytes()
    card = build_model_card(report, chosen, model, labels)
    return {MODEL_FILE: model, ANDROID_LABELS_FILE: labels,
            MODEL_CARD_FILE: (json.dumps(card, indent=2, sort_keys=True) + "\n").encode("utf-8")}


def write_assets(assets: dict[str, bytes], out_dir: Path) -> None:
    with atomic_dir(out_dir) as tmp:
        for name, data in assets.items():
            (tmp / name).write_bytes(data)


def package_export(export_dir: Path, quantization: str | None = None) -> Path:
    """Writes the assets of an export into its `android/` folder (both exporters' last step); returns it."""
    out_dir = export_dir / EXPORT_ASSETS_DIR
    write_assets(assets_from_export(export_dir, quantization), out_dir)
    return out_dir


def verify_assets(assets_dir: Path) -> dict[str, bytes]:
    """The packaged assets, after checking them against their model card's sha256."""
    files = {}
    for name in (MODEL_FILE, ANDROID_LABELS_FILE, MODEL_CARD_FILE):
        path = assets_dir / name
        if not path.is_file():
            raise UserError(f"{path}: missing; rebuild with `bazel build //android_demo:assets`")
        files[name] = path.read_bytes()
    card = json.loads(files[MODEL_CARD_FILE])
    for name in (MODEL_FILE, ANDROID_LABELS_FILE):
        if sha256(files[name]) != card["sha256"][name]:
            raise UserError(f"{assets_dir / name}: sha256 differs from {MODEL_CARD_FILE}; rebuild the assets")
    return files


def read_model_card(files: dict[str, bytes]) -> dict:
    return json.loads(files[MODEL_CARD_FILE])


def publish(target_dir: Path, files: dict[str, bytes]) -> None:
    """Writes the files into an existing app folder all or nothing: every file goes to a temporary
    name first; only when all are written are they renamed into place."""
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{target_dir}: cannot create the assets folder ({e.strerror}); check permissions") from e
    temporary: dict[Path, Path] = {}
    try:
        for name, data in files.items():
            tmp = target_dir / f".{name}.tmp"
            tmp.write_bytes(data)
            temporary[tmp] = target_dir / name
        for tmp, final in temporary.items():
            os.replace(tmp, final)
    except OSError as e:
        raise UserError(f"{target_dir}: cannot write the assets ({e.strerror}); check permissions "
                        "(nothing was replaced)") from e
    finally:
        for tmp in temporary:
            tmp.unlink(missing_ok=True)

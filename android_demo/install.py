"""Installs the exported detector into a checkout of the TensorFlow Lite object-detection example.

    bazel run //android_demo:install -- --app_dir=PATH/examples/lite/examples/object_detection/android [--dry_run]

Copies detect.tflite, labelmap.txt and model_card.json into the app's assets, disables its model
download Gradle step, sets the model file name, quantized flag, input size and detection count
where the app declares them, and lists every change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from absl import flags

from od_tools.android import installer
from od_tools.android.assets import verify_assets
from od_tools.android.model_card import MODEL_CARD_FILE, MODEL_FILE
from od_tools.common import cli
from od_tools.common.errors import UserError

_APP_DIR = flags.DEFINE_string("app_dir", None, "The example app's folder (lite/examples/object_detection/android).")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "List the changes without making them.")
_ASSETS_DIR = flags.DEFINE_string("assets_dir", None, "Assets to install (default: the built //android_demo:assets).")


def default_assets_dir() -> Path:
    # `assets` is this package's tree artifact, next to this file in the runfiles.
    return Path(os.path.abspath(__file__)).parent / "assets"


def main(argv: Sequence[str]) -> None:
    if len(argv) > 1:
        raise UserError(f"unexpected arguments {' '.join(argv[1:])}; use --app_dir=PATH [--dry_run]")
    if not _APP_DIR.value:
        raise UserError("--app_dir is required: the checkout's lite/examples/object_detection/android folder")
    app_dir = Path(cli.workspace_path(_APP_DIR.value))
    assets_dir = Path(cli.workspace_path(_ASSETS_DIR.value)) if _ASSETS_DIR.value else default_assets_dir()
    assets = verify_assets(assets_dir)
    card = json.loads(assets[MODEL_CARD_FILE])
    plan = installer.plan_install(app_dir, assets, installer.AppSettings.from_model_card(card))
    if not plan.changes:
        print(f"{app_dir}: already up to date with {MODEL_FILE} (sha256 {card['sha256'][MODEL_FILE][:12]})")
        return
    verb = "would change" if _DRY_RUN.value else "changed"
    print(f"{app_dir}: {verb} {len(plan.changes)} item(s):")
    for change in plan.changes:
        print(f"  {change}")
    if _DRY_RUN.value:
        print("dry run: nothing was written")
        return
    installer.check_writable(plan)
    installer.apply_plan(plan)
    print(f"installed {card['quantization']} {MODEL_FILE} ({card['input']['width']}x{card['input']['height']}, "
          f"{'quantized' if card['quantized'] else 'float'}); build the app as usual")


if __name__ == "__main__":
    cli.run(main)

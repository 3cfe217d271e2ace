"""Packages one model of an export as Android assets: detect.tflite, labelmap.txt, model_card.json.

    bazel run //od_tools:package_android_assets -- --export_dir=exported/ --output_dir=assets/ \
        [--android_quantization=int8]

What the od_android_assets rule runs; the model card's figures come from the export's report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from absl import flags

from od_tools.android import assets
from od_tools.common import cli

_EXPORT_DIR = flags.DEFINE_string("export_dir", None, "An export's --output_directory.", required=True)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "The assets folder to write.", required=True)
_QUANTIZATION = flags.DEFINE_string("android_quantization", None,
                                    "Which exported model (default: int8 when exported, else the first).")


def main(argv: Sequence[str]) -> None:
    del argv  # cli.run refuses words that are not flags
    files = assets.assets_from_export(Path(cli.workspace_path(_EXPORT_DIR.value)), _QUANTIZATION.value)
    out = Path(cli.workspace_path(_OUTPUT_DIR.value))
    assets.write_assets(files, out)
    print(f"wrote {', '.join(sorted(files))} to {out}")


if __name__ == "__main__":
    cli.run(main)

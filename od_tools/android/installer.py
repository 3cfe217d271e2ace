"""Installing exported assets into a checkout of the TensorFlow Lite object-detection example.

The example (tensorflow/examples, lite/examples/object_detection/android) comes in two
generations, and both are handled by the same small set of edits:
- Gradle: `apply from: 'download_model(s).gradle'` fetches the stock models at build time and
  would overwrite or shadow ours: the line is commented out.
- the legacy Interpreter app declares its model in DetectorActivity.java
  (TF_OD_API_MODEL_FILE, TF_OD_API_IS_QUANTIZED, TF_OD_API_INPUT_SIZE, TF_OD_API_LABELS_FILE)
  and allocates NUM_DETECTIONS outputs in TFLiteObjectDetectionAPIModel.java;
- the Task Library / MediaPipe app picks the model file by name in ObjectDetectorHelper.kt: its
  default choice and its fallback are pointed at detect.tflite (labels come from the metadata).
Every edit is planned first and listed; nothing is written if any check fails, and each file is
replaced atomically.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Callable, Iterable, Mapping

from od_tools.common.errors import UserError
from od_tools.common.files import write_bytes_atomic
from od_tools.android.model_card import MODEL_FILE
from od_tools.label_map import ANDROID_LABELS_FILE

ASSETS_SUBDIR = Path("src/main/assets")
_DISABLED_MARK = "disabled by od_toolchain"


@dataclasses.dataclass(frozen=True)
class AppSettings:
    """What the app must be told about the model (from its model card)."""

    quantized: bool
    input_height: int
    input_width: int
    max_detections: int
    model_file: str = MODEL_FILE
    labels_file: str = ANDROID_LABELS_FILE

    @classmethod
    def from_model_card(cls, card: Mapping) -> "AppSettings":
        return cls(quantized=bool(card["quantized"]), input_height=int(card["input"]["height"]),
                   input_width=int(card["input"]["width"]), max_detections=int(card["max_detections"]),
                   model_file=card["model_file"], labels_file=card["labels_file"])


@dataclasses.dataclass(frozen=True)
class Change:
    """One planned change: a copied asset or an edited line."""

    path: Path               # relative to the app folder
    description: str
    line: int | None = None  # 1-based, for edits

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.description}"


@dataclasses.dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    writes: Mapping[Path, bytes]  # absolute path -> new content


# --- Text edits -----------------------------------------------------------------------------

# A line edit: pattern on one line -> replacement text for the whole match.
_LineEdit = tuple[re.Pattern, Callable[[re.Match], str], str]


def _gradle_edits() -> list[_LineEdit]:
    apply_download = re.compile(
        r"""^(?P<indent>\s*)(?P<stmt>apply\s*\(?\s*from\s*[:=]\s*["'][^"']*download[^"']*\.gradle["']\s*\)?)\s*$""")
    return [(apply_download,
             lambda m: f"{m['indent']}// {m['stmt']}  // {_DISABLED_MARK}: assets come from //android_demo:install",
             "disable the model download step")]


def _java_edits(s: AppSettings) -> list[_LineEdit]:
    def constant(type_: str, name: str, value_pattern: str) -> re.Pattern:
        return re.compile(rf"(?P<head>\bstatic\s+final\s+{type_}\s+{name}\s*=\s*)(?P<value>{value_pattern})(?=\s*;)")

    quantized = "true" if s.quantized else "false"
    return [
        (constant("String", "TF_OD_API_MODEL_FILE", r'"[^"]*"'), lambda m: f'{m["head"]}"{s.model_file}"',
         f"model file -> {s.model_file}"),
        (constant("boolean", "TF_OD_API_IS_QUANTIZED", r"true|false"), lambda m: f"{m['head']}{quantized}",
         f"quantized -> {quantized}"),
        (constant("int", "TF_OD_API_INPUT_SIZE", r"\d+"), lambda m: f"{m['head']}{s.input_height}",
         f"input size -> {s.input_height}"),
        (constant("String", "TF_OD_API_LABELS_FILE", r'"(?:file:///android_asset/)?[^"]*"'),
         lambda m: m["head"] + ('"file:///android_asset/' if "file:///" in m["value"] else '"') + s.labels_file + '"',
         f"labels file -> {s.labels_file}"),
        (constant("int", "NUM_DETECTIONS", r"\d+"), lambda m: f"{m['head']}{s.max_detections}",
         f"detections per image -> {s.max_detections}"),
    ]


def _kotlin_edits(s: AppSettings) -> list[_LineEdit]:
    # Inside `val modelName = when (currentModel) { MODEL_X -> "x.tflite" ... else -> "x.tflite" }`.
    first_choice = re.compile(r'(?P<head>^\s*MODEL_\w+\s*->\s*)"[^"]+\.tflite"')
    fallback = re.compile(r'(?P<head>^\s*else\s*->\s*)"[^"]+\.tflite"')
    return [(first_choice, lambda m: f'{m["head"]}"{s.model_file}"', f"default model -> {s.model_file}"),
            (fallback, lambda m: f'{m["head"]}"{s.model_file}"', f"fallback model -> {s.model_file}")]


def _edit_text(text: str, edits: Iterable[_LineEdit], once: bool) -> tuple[str, list[tuple[int, str, str, str]]]:
    """Applies each edit to the first (once) or every matching line; returns (text, changes)."""
    lines = text.splitlines(keepends=True)
    changes = []
    for pattern, replace, what in edits:
        for number, line in enumerate(lines, start=1):
            body = line.rstrip("\r\n")
            match = pattern.search(body)
            if not match:
                continue
            new_body = body[:match.start()] + replace(match) + body[match.end():]
            if new_body != body:
                lines[number - 1] = new_body + line[len(body):]
                changes.append((number, what, body.strip(), new_body.strip()))
            if once:
                break
    return "".join(lines), changes


# --- Planning --------------------------------------------------------------------------------

def find_app_module(app_dir: Path) -> Path:
    """The Android app module: `app_dir/app` for the example's project folder, or app_dir itself."""
    if not app_dir.is_dir():
        raise UserError(f"{app_dir}: --app_dir is not a folder; pass the checkout's "
                        "lite/examples/object_detection/android folder")
    for candidate in (app_dir / "app", app_dir):
        if (candidate / "src" / "main").is_dir() and any((candidate / g).is_file()
                                                         for g in ("build.gradle", "build.gradle.kts")):
            return candidate
    raise UserError(f"{app_dir}: no Android app module (app/build.gradle and app/src/main) found; pass the "
                    "checkout's lite/examples/object_detection/android folder")


def _sources(root: Path, suffix: str) -> list[Path]:
    return sorted(p for p in root.rglob(f"*{suffix}") if p.is_file() and "build" not in p.relative_to(root).parts)


def plan_install(app_dir: Path, assets: Mapping[str, bytes], settings: AppSettings) -> Plan:
    """Every change the install would make, with the new file contents."""
    module = find_app_module(app_dir)
    project = module.parent if module != app_dir else app_dir
    changes: list[Change] = []
    writes: dict[Path, bytes] = {}

    assets_dir = module / ASSETS_SUBDIR
    for name in sorted(assets):
        target = assets_dir / name
        if target.is_file() and target.read_bytes() == assets[name]:
            continue
        verb = "replace" if target.exists() else "add"
        changes.append(Change(target.relative_to(app_dir), f"{verb} asset ({len(assets[name]):,} bytes)"))
        writes[target] = assets[name]

    edits_by_file: list[tuple[Path, list[_LineEdit], bool]] = []
    for gradle in ("build.gradle", "build.gradle.kts"):
        if (module / gradle).is_file():
            edits_by_file.append((module / gradle, _gradle_edits(), False))
    for source in _sources(project, ".java"):
        edits_by_file.append((source, _java_edits(settings), True))
    for source in _sources(project, ".kt"):
        if "ObjectDetectorHelper" in source.name:
            edits_by_file.append((source, _kotlin_edits(settings), True))

    recognized = False
    for path, edits, once in edits_by_file:
        text = path.read_text(encoding="utf-8")
        if any(p.search(line) for p, _, _ in edits for line in text.splitlines()) or _DISABLED_MARK in text:
            recognized = True
        new_text, found = _edit_text(text, edits, once)
        for line, what, before, after in found:
            changes.append(Change(path.relative_to(app_dir), f"{what}: `{before}` -> `{after}`", line))
        if new_text != text:
            writes[path] = new_text.encode("utf-8")
    if not recognized:
        raise UserError(f"{app_dir}: not the TensorFlow Lite object-detection example (no model download step, "
                        "TF_OD_API_* constants or ObjectDetectorHelper model names found); nothing was changed")
    legacy = any("TF_OD_API_INPUT_SIZE" in path.read_text(encoding="utf-8")
                 for path, _, _ in edits_by_file if path.suffix == ".java")
    if legacy and settings.input_height != settings.input_width:
        raise UserError(f"{app_dir}: the legacy app feeds square images (TF_OD_API_INPUT_SIZE) but the model takes "
                        f"{settings.input_width}x{settings.input_height}; export a square model for this app")
    return Plan(tuple(changes), writes)


def apply_plan(plan: Plan) -> None:
    for path, data in plan.writes.items():
        write_bytes_atomic(path, data)


def check_writable(plan: Plan) -> None:
    for path in plan.writes:
        folder = path.parent
        while not folder.exists():
            folder = folder.parent
        if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise UserError(f"{path}: not writable; check the checkout's permissions (nothing was changed)")

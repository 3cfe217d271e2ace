"""Any model form this project reads or writes, behind one call: uint8 RGB image -> Detections.

A SavedModel (exporter_main_v2's or export_tflite's), a `.tflite` detector (labels and input
normalisation from its own metadata) and a checkpoint (model_dir, model-zoo folder or ckpt-N, with
its pipeline.config) all run through the implementations evaluation and the parity check use:
`od_tools.modeling.Detector` and `od_tools.export.runtime.TFLiteDetector`.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from typing import Callable

import numpy as np

from od_tools.common.errors import UserError, first_line
from od_tools.config import checkpoints
from od_tools.label_map import ANDROID_LABELS_FILE, LabelMapError, parse_android_labels, read_label_map
from od_tools.modeling import Detections

DEFAULT_MIN_SCORE = 0.5
SAVED_MODEL_FILE = "saved_model.pb"


class ModelForm(str, enum.Enum):
    SAVED_MODEL = "SavedModel"
    TFLITE = "TFLite"
    CHECKPOINT = "checkpoint"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What `load` needs besides the model's path; each empty field is found beside the model."""

    label_map_path: str = ""
    pipeline_config_path: str = ""
    num_threads: int = 1
    interpreter: str = "ai_edge_litert"  # or "tf.lite"


@dataclasses.dataclass(frozen=True)
class Model:
    """A loaded detector. `prepare` (resize for a fixed-size TFLite input) and `run` are split so a
    pipeline can prepare the next image while the model runs; `detect` is both."""

    source: str
    form: ModelForm
    labels: dict[int, str]     # class id -> name
    min_score: float           # the config's eval_config.min_score_threshold, else 0.5
    input_size: tuple[int, int] | None  # (height, width) the model runs at, where fixed
    num_classes: int | None
    prepare: Callable[[np.ndarray], np.ndarray]
    run: Callable[[np.ndarray], Detections]

    def detect(self, image: np.ndarray) -> Detections:
        """Detections on a uint8 RGB [H, W, 3] image of any size; boxes normalised to it."""
        return self.run(self.prepare(_rgb(image)))

    def __call__(self, images: np.ndarray) -> list[Detections]:
        """Detections for each image of a batch: what od_tools.evaluation's `evaluate` calls."""
        return [self.detect(image) for image in images]

    @property
    def name(self) -> str:
        return f"{self.form.value} {os.path.basename(os.path.normpath(self.source))}"


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"an image is [H, W, 3] (RGB), got shape {image.shape}")
    return np.ascontiguousarray(image[..., :3].astype(np.uint8, copy=False))


def form_of(path: str) -> ModelForm:
    """Which model form `path` holds; a one-line error when none."""
    if os.path.isfile(path) and path.endswith(".tflite"):
        return ModelForm.TFLITE
    if os.path.isfile(os.path.join(path, SAVED_MODEL_FILE)):
        return ModelForm.SAVED_MODEL
    if checkpoints.locate(path) is not None:
        return ModelForm.CHECKPOINT
    if not os.path.exists(path):
        raise UserError(f"--model {path}: no such file or folder")
    raise UserError(f"--model {path}: not a model: give a saved_model/ folder (with {SAVED_MODEL_FILE}), a .tflite "
                    "detector, or a checkpoint (a model_dir, a model-zoo folder or a ckpt-N prefix)")


def load(path: str, spec: ModelSpec = ModelSpec()) -> Model:
    """The model at `path`, in whichever form it is (see `form_of`)."""
    form = form_of(path)
    if form is ModelForm.TFLITE:
        return _load_tflite(path, spec)
    if form is ModelForm.SAVED_MODEL:
        return _load_saved_model(path, spec)
    return _load_checkpoint(path, spec)


# --- labels -----------------------------------------------------------------------------------

def _labels_from_label_map(path: str, what: str) -> dict[int, str]:
    try:
        return read_label_map(path).id_to_label()
    except (LabelMapError, OSError) as e:
        raise UserError(f"{what} {path}: {e}") from None


def _labels_beside(folder: str) -> dict[int, str]:
    """The labels of the labelmap.txt export_tflite writes beside its models, if there is one."""
    path = os.path.join(folder, ANDROID_LABELS_FILE)
    return parse_android_labels(open(path, encoding="utf-8").read()) if os.path.isfile(path) else {}


def check_label_ids(labels: dict[int, str], num_classes: int | None, source: str) -> None:
    """A label map for another model names class ids this one cannot output (above num_classes).
    Gaps are fine (COCO's 80 classes have ids up to 90); a class the model outputs that the map
    lacks stops the run when it is first detected."""
    beyond = sorted(i for i in labels if num_classes and i > num_classes)
    if beyond:
        shown = ", ".join(str(i) for i in beyond[:8]) + (" ..." if len(beyond) > 8 else "")
        raise UserError(f"--label_map {source}: names class ids {shown}, beyond the model's {num_classes} classes; "
                        "pass the label map the model was trained with")


def _config_beside(path: str, spec: ModelSpec) -> str:
    if spec.pipeline_config_path:
        return spec.pipeline_config_path
    return checkpoints.pipeline_near(os.path.normpath(path if os.path.isdir(path) else os.path.dirname(path)))


@dataclasses.dataclass(frozen=True)
class _ConfigFacts:
    labels: dict[int, str]
    min_score: float
    num_classes: int | None


_NO_CONFIG = _ConfigFacts({}, DEFAULT_MIN_SCORE, None)


def _facts_of_config(pipeline) -> _ConfigFacts:
    """Labels, score threshold and class count from a pipeline.config (its label map when present)."""
    config = pipeline.config
    min_score = config.eval_config.min_score_threshold if config.eval_config.HasField("min_score_threshold") \
        else DEFAULT_MIN_SCORE
    labels: dict[int, str] = {}
    label_map = pipeline.label_map_path
    if label_map and os.path.isfile(label_map):
        labels = _labels_from_label_map(label_map, f"{pipeline.source}: label_map_path")
    return _ConfigFacts(labels, min_score, pipeline.model.num_classes or None)


def _facts_beside(path: str, spec: ModelSpec) -> _ConfigFacts:
    from od_tools.config import load_pipeline

    config = _config_beside(path, spec)
    return _facts_of_config(load_pipeline(config)) if config else _NO_CONFIG


def _resolve_labels(found: dict[int, str], spec: ModelSpec, num_classes: int | None) -> dict[int, str]:
    if spec.label_map_path:
        labels = _labels_from_label_map(spec.label_map_path, "--label_map")
        check_label_ids(labels, num_classes, spec.label_map_path)
        return labels
    if found:
        return found
    return {i: str(i) for i in range(1, (num_classes or 0) + 1)}


# --- the forms --------------------------------------------------------------------------------

def _load_tflite(path: str, spec: ModelSpec) -> Model:
    from od_tools.export import images as images_lib
    from od_tools.export import metadata, runtime, tflite_model

    with open(path, "rb") as f:
        model_bytes = f.read()
    try:
        info = runtime.detector_info(model_bytes)
    except tflite_model.ModelStructureError as e:
        raise UserError(f"--model {path}: not a TFLite detector ({e}); give a detector with the detection "
                        "post-processing op, as export_tflite writes (an image classifier has no boxes)") from None
    except Exception as e:  # the flatbuffer reader raises whatever it meets in a file that is no model
        raise UserError(f"--model {path}: not a TFLite model ({type(e).__name__}); give a .tflite file "
                        "export_tflite (or the TFLite converter) wrote") from None
    facts = _facts_beside(path, spec)
    files = metadata.associated_files(model_bytes)
    labels = parse_android_labels(files[ANDROID_LABELS_FILE].decode("utf-8")) if ANDROID_LABELS_FILE in files \
        else facts.labels or _labels_beside(os.path.dirname(path))
    num_classes = info.num_classes or facts.num_classes or (max(labels) if labels else None)
    try:
        detector = runtime.TFLiteDetector(model_bytes, runtime.Interpreter(spec.interpreter), spec.num_threads,
                                          input_mean=info.mean, input_std=info.std)
    except ValueError as e:
        raise UserError(f"--model {path}: the TFLite interpreter cannot load it: {first_line(e, limit=1000)}") from None
    height, width = detector.input_height, detector.input_width
    return Model(source=path, form=ModelForm.TFLITE, labels=_resolve_labels(labels, spec, num_classes),
                 min_score=facts.min_score, input_size=(height, width), num_classes=num_classes,
                 prepare=lambda image: images_lib.resize(image, height, width), run=detector.detect)


def _load_saved_model(path: str, spec: ModelSpec) -> Model:
    from od_tools.modeling import Detector

    facts = _facts_beside(path, spec)
    labels = facts.labels or _labels_beside(os.path.dirname(os.path.normpath(path)))
    num_classes = facts.num_classes or (max(labels) if labels else None)
    detector = Detector.from_saved_model(path)
    return Model(source=path, form=ModelForm.SAVED_MODEL, labels=_resolve_labels(labels, spec, num_classes),
                 min_score=facts.min_score, input_size=None, num_classes=num_classes,
                 prepare=lambda image: image, run=detector.detect)


def _load_checkpoint(path: str, spec: ModelSpec) -> Model:
    from od_tools.config import load_pipeline, tf1
    from od_tools.modeling import Detector

    located = checkpoints.resolve(path, "--model")
    pipeline = load_pipeline(located.config_path(spec.pipeline_config_path, f"--model {path}"))
    facts = _facts_of_config(pipeline)
    config, _ = tf1.translate(pipeline.config)
    detector = Detector.from_checkpoint(config, located.prefix)
    return Model(source=path, form=ModelForm.CHECKPOINT,
                 labels=_resolve_labels(facts.labels, spec, facts.num_classes), min_score=facts.min_score,
                 input_size=None, num_classes=facts.num_classes, prepare=lambda image: image, run=detector.detect)

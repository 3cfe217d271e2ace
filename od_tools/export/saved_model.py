"""exporter_main_v2, checked: the OD API's SavedModel of any architecture (SSD, CenterNet, Faster
R-CNN, Mask R-CNN), written only once it serves what its checkpoint computes.

The export is `exporter_lib_v2.export_inference_graph`, which writes the zoo's layout
(`saved_model/`, `checkpoint/`, `pipeline.config`). Before that layout is renamed into place, the
SavedModel is loaded in a fresh process (nothing of this process's graph or variables can leak
into it, as it will not on a server) and run on held-out images in the form its `--input_type`
takes; its detections (boxes, classes, scores and Mask R-CNN's masks) must be the checkpoint's
own, computed here by the OD API's inference module. Otherwise the export fails in one line and
writes nothing.

    python -m od_tools.export.saved_model SAVED_MODEL INPUT_TYPE IMAGES_NPZ OUT_NPZ   (the fresh process)
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from od_tools.common.errors import UserError, first_line
from od_tools.common.files import atomic_dir
from od_tools.config import Prepared, checkpoints
from od_tools.modeling import Detections, Detector, load_model
from od_tools.modeling.detector import INPUT_TYPES, detections_of, serving_input

CHECK_JSON = "serve_check.json"
# Served and in-memory detections are the same graph on the same CPU; what may differ is the
# order of float additions across threads, far below these.
BOX_TOLERANCE = 1e-3     # normalized coordinates
SCORE_TOLERANCE = 1e-3
MASK_TOLERANCE = 1e-2    # mask probabilities
COMPARED = 20            # top detections per image that must agree
# Pre-NMS outputs (every anchor's or proposal's box and scores) where the model gives them: they
# are compared too, so the check means something for a model that detects nothing yet.
RAW_OUTPUTS = ("raw_detection_boxes", "raw_detection_scores")


@dataclasses.dataclass(frozen=True)
class ServeCheck:
    """What the reload check compared, and the worst differences it found."""

    input_type: str
    images: int
    detections: int          # compared, over all images
    max_box_difference: float
    max_score_difference: float
    max_mask_difference: float | None  # None: the model predicts no masks
    max_raw_difference: float | None = None  # pre-NMS boxes and scores; None: the model outputs none
    problem: str = ""        # the first disagreement; "" when the SavedModel serves the checkpoint

    @property
    def passed(self) -> bool:
        return not self.problem

    def to_json(self) -> dict:
        return dataclasses.asdict(self) | {"passed": self.passed}


def _match(reference: Detections, served: Detections, index: int, used: set[int]) -> int | None:
    """The served detection that is reference detection `index`: same class, box and score."""
    box = np.asarray(reference.boxes)[index]
    for k in range(len(served)):
        if k in used or served.classes[k] != reference.classes[index]:
            continue
        if abs(float(served.scores[k]) - float(reference.scores[index])) <= SCORE_TOLERANCE and \
                float(np.abs(np.asarray(served.boxes)[k] - box).max()) <= BOX_TOLERANCE:
            return k
    return None


def _raw_difference(reference: Sequence[dict], served: Sequence[dict]) -> float | None:
    differences = []
    for mine, theirs in zip(reference, served):
        for key in RAW_OUTPUTS:
            if key in mine:
                if key not in theirs or np.shape(theirs[key]) != np.shape(mine[key]):
                    return float("inf")
                differences.append(float(np.abs(np.asarray(theirs[key]) - np.asarray(mine[key])).max(initial=0.0)))
    return max(differences) if differences else None


def compare(reference_outputs: Sequence[dict], served_outputs: Sequence[dict], input_type: str) -> ServeCheck:
    """Each image's top COMPARED detections, and the pre-NMS outputs, of the checkpoint against
    the SavedModel's (outputs as the serving signature names them; pure, for tests too)."""
    reference = [detections_of(outputs) for outputs in reference_outputs]
    served = [detections_of(outputs) for outputs in served_outputs]
    raw = _raw_difference(reference_outputs, served_outputs)
    if raw is not None and raw > SCORE_TOLERANCE:
        return ServeCheck(input_type, len(reference), 0, 0.0, 0.0, None, raw,
                          f"pre-NMS outputs ({', '.join(RAW_OUTPUTS)}) differ by up to {raw:.4g}")
    boxes, scores, masks, compared = 0.0, 0.0, None, 0
    for image, (mine, theirs) in enumerate(zip(reference, served)):
        used: set[int] = set()
        for index in np.argsort(-np.asarray(mine.scores), kind="stable")[:COMPARED]:
            k = _match(mine, theirs, int(index), used)
            if k is None:
                problem = (f"image {image}: the checkpoint's detection {int(index)} (class {int(mine.classes[index])}, "
                           f"score {float(mine.scores[index]):.4f}) is not among the SavedModel's")
                return ServeCheck(input_type, len(reference), compared, boxes, scores, masks, raw, problem)
            used.add(k)
            compared += 1
            boxes = max(boxes, float(np.abs(np.asarray(theirs.boxes)[k] - np.asarray(mine.boxes)[index]).max()))
            scores = max(scores, abs(float(theirs.scores[k]) - float(mine.scores[index])))
            if mine.masks is not None:
                if theirs.masks is None:
                    return ServeCheck(input_type, len(reference), compared, boxes, scores, 0.0, raw,
                                      "the checkpoint predicts masks, the SavedModel outputs none")
                masks = max(masks or 0.0, float(np.abs(theirs.masks[k] - mine.masks[index]).max()))
    if masks is not None and masks > MASK_TOLERANCE:
        return ServeCheck(input_type, len(reference), compared, boxes, scores, masks, raw,
                          f"masks differ by up to {masks:.4f} (tolerance {MASK_TOLERANCE})")
    return ServeCheck(input_type, len(reference), compared, boxes, scores, masks, raw)


def _served_in_fresh_process(saved_model: Path, input_type: str, pictures: Sequence[np.ndarray],
                             scratch: Path, where: str) -> list[dict[str, np.ndarray]]:
    images_npz, out_npz = scratch / "images.npz", scratch / "served.npz"
    np.savez(images_npz, *pictures)
    args = [sys.executable, "-m", "od_tools.export.saved_model", str(saved_model), input_type, str(images_npz),
            str(out_npz)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    result = subprocess.run(args, capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        last = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit {result.returncode}"
        raise UserError(f"{where}: the exported SavedModel does not load or run in a fresh process "
                        f"({first_line(last)}); nothing was written")
    outputs: list[dict[str, np.ndarray]] = [{} for _ in pictures]
    with np.load(out_npz) as served:
        for key in served.files:
            name, index = key.rsplit("/", 1)
            outputs[int(index)][name] = served[key]
    return outputs


def export_saved_model(prepared: Prepared, trained_checkpoint: str, output_directory: str,
                       input_type: str = "image_tensor", num_check_images: int = 8) -> ServeCheck:
    """Writes exporter_main_v2's layout into `output_directory`, or nothing if the check fails."""
    from od_tools.evaluation.examples import matched_files, read_examples
    from od_tools.export import tflite_graph

    if input_type not in INPUT_TYPES:
        raise UserError(f"--input_type={input_type}: use one of {', '.join(INPUT_TYPES)}")
    if num_check_images < 1:
        raise UserError(f"--num_check_images={num_check_images}: the reload check needs at least 1 image")
    prefix = checkpoints.resolve(trained_checkpoint, "--trained_checkpoint_dir").prefix
    checkpoints.check_complete(prefix)
    reference_model = Detector.from_model(load_model(prepared.config, prefix))  # fits, or a one-line error
    field = "eval_input_reader[0].tf_record_input_reader.input_path"
    files = matched_files(prepared.pipeline.eval_input_paths)
    pictures = [example.image for example in read_examples(files, num_examples=num_check_images)] if files else []
    if not pictures:
        raise UserError(f"{prepared.pipeline.source}: no held-out images for the reload check ({field} matches no "
                        "records); point eval_input_reader at the validation TFRecords")
    reference = [reference_model.outputs(picture) for picture in pictures]
    with atomic_dir(output_directory) as out, tempfile.TemporaryDirectory(prefix="od_serve_check_") as scratch:
        saved_model = Path(tflite_graph.export_inference_graph(prepared.config, prefix, str(out), input_type))
        served = _served_in_fresh_process(saved_model, input_type, pictures, Path(scratch), output_directory)
        check = compare(reference, served, input_type)
        if not check.passed:
            raise UserError(f"{output_directory}: the exported SavedModel does not serve what checkpoint {prefix} "
                            f"computes ({check.problem}); nothing was written")
        (out / CHECK_JSON).write_text(json.dumps(check.to_json(), indent=2) + "\n", encoding="utf-8")
    return check


# The fresh process ------------------------------------------------------------------------------

def main(argv: list[str]) -> int:
    import tensorflow as tf

    saved_model, input_type, images_npz, out_npz = argv[1:5]
    signature = tf.saved_model.load(saved_model).signatures["serving_default"]
    (input_name,) = signature.structured_input_signature[1]
    outputs: dict[str, np.ndarray] = {}
    with np.load(images_npz) as pictures:
        for i, key in enumerate(sorted(pictures.files, key=lambda name: int(name.split("_")[1]))):
            served = signature(**{input_name: serving_input(pictures[key], input_type)})
            outputs |= {f"{name}/{i}": value.numpy() for name, value in served.items()}
    np.savez(out_npz, **outputs)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

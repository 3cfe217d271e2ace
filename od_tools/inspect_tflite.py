"""What a phone will make of a .tflite detector, before the app is installed.

    bazel run //od_tools:inspect_tflite -- exported/detect_int8.tflite [exported/detect_float32.tflite ...]
    bazel run //od_tools:inspect_tflite -- detect.tflite --image=photo.jpg --profile_runs=20 --json=ready.json

For each model: the input (type, shape, quantization) and how a pixel becomes it; the outputs and
their roles; the TFLite Model Metadata and the labels in it; the op counts and custom ops; the ops
the LiteRT GPU delegate would leave to the CPU; and the ten slowest ops on this CPU, each run alone
with XNNPACK on one thread on the tensors it sees when the model runs on --image (default: a
synthetic picture). Every export report carries the same section.
"""

from __future__ import annotations

import json
from typing import Sequence

from absl import flags

from od_tools.common import cli, synthetic
from od_tools.common.errors import UserError

FLAGS = flags.FLAGS

flags.DEFINE_string("image", None, "A picture the op profile runs the model on (default: a synthetic one).")
flags.DEFINE_integer("profile_runs", 10, "Runs per op of the CPU profile (0: no profile).", lower_bound=0)
flags.DEFINE_string("json", None, "Also write the findings, by model file, to this JSON file.")


def _read_model(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise UserError(f"{path}: cannot read it ({e.strerror}); give a .tflite file") from None


def _picture(height: int, width: int):
    from od_tools.export import images

    if not FLAGS.image:
        return synthetic.pictures(1, height, width)[0]
    from od_tools.inference.sources import read_image

    path = cli.workspace_path(FLAGS.image)
    try:
        pixels = read_image(path)
    except (OSError, ValueError, SyntaxError) as e:  # PIL: missing, unidentified, truncated
        raise UserError(f"--image {path}: not a readable picture ({type(e).__name__}); give a JPEG or PNG") from None
    return images.resize(pixels, height, width)


def inspect_file(path: str):
    from od_tools.export import readiness, runtime, tflite_model

    model = _read_model(path)
    try:
        runner = runtime.make_interpreter(model, runtime.Interpreter.LITERT)
        runner.allocate_tensors()
        tflite_model.read(model)
    except Exception as e:  # the flatbuffer reader and the interpreter raise whatever they meet in a non-model
        raise UserError(f"{path}: not a TFLite model ({type(e).__name__}); give a .tflite file the TFLite "
                        "converter wrote") from None
    shape = [int(s) for s in runner.get_input_details()[0]["shape"]]
    if len(shape) != 4 or shape[-1] != 3:
        raise UserError(f"{path}: not a TFLite detector (its input is {shape}, not an image [1, H, W, 3]); give one "
                        "with the detection post-processing op, as export_tflite writes")
    height, width = shape[1], shape[2]
    try:
        return readiness.inspect(model, _picture(int(height), int(width)), FLAGS.profile_runs)
    except tflite_model.ModelStructureError as e:
        raise UserError(f"{path}: not a TFLite detector ({e}); give one with the detection post-processing "
                        "op, as export_tflite writes") from None


def main(argv: Sequence[str]) -> None:
    paths = [cli.workspace_path(p) for p in argv[1:]]
    if not paths:
        raise UserError("give one or more .tflite files: inspect_tflite MODEL.tflite [MORE.tflite ...]")
    from od_tools.common.files import write_text_atomic
    from od_tools.common.machine import describe

    found = {}
    for path in paths:
        found[path] = inspect_file(path)
        print(f"{path}:")
        print("\n".join(found[path].lines()))
    if FLAGS.profile_runs:
        print(f"(CPU times on {describe()})")
    if FLAGS.json:
        write_text_atomic(cli.workspace_path(FLAGS.json),
                          json.dumps({p: r.to_json() for p, r in found.items()}, indent=2) + "\n")


if __name__ == "__main__":
    cli.run(main, positional_args=True)

"""Does int8 cost accuracy on real photos, and do float layers win it back? A measurement, not a test.

    bazel run //tests/benchmarks:int8_photos -- --output_dir=/tmp/int8_photos [--activation=swish]

Builds a detection dataset from the only real photographs the locked packages ship (scikit-learn's
china.jpg and flower.jpg, matplotlib's grace_hopper.jpg): four objects cut from them (pagoda,
dahlia, face, flag), pasted 28-150 px wide with feathered edges, brightness, contrast and colour
jitter onto crops of the same photos' object-free regions, then blurred, noised and saved as JPEG
at quality 75-95. The demo detector's checkpoint, laid out as a model-zoo folder, is fine-tuned on
it (fine_tune_checkpoint_type: detection) and exported with float32 and int8 at each
--calibration count, with --int8_float_layers=auto searching the worst layers 2 at a time. Prints,
per count, the SavedModel's AP50, the SavedModel's with one class per box (what the TFLite
detection op keeps), float32's, int8's and each float-layer step's, and writes them as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Sequence

import matplotlib
import numpy as np
import sklearn
from absl import flags
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from od_tools import api
from od_tools.common import cli, machine
from od_tools.config import Checks, Purpose, checkpoints, fixed_input_size, prepare
from od_tools.export import exporter, images
from od_tools.modeling import Detector

_OUTPUT = flags.DEFINE_string("output_dir", None, "Where the dataset, model_dir, exports and results go.",
                              required=True)
_NUM_TRAIN = flags.DEFINE_integer("num_train", 800, "Training images.", lower_bound=8)
_NUM_VAL = flags.DEFINE_integer("num_val", 150, "Held-out images (the exports' parity and AP50 set).", lower_bound=4)
_STEPS = flags.DEFINE_integer("num_steps", 1500, "Fine-tuning steps (batch 8).", lower_bound=1)
_ACTIVATION = flags.DEFINE_enum("activation", "RELU_6", ["RELU_6", "SWISH"], "The backbone's and heads' activation.")
_CALIBRATION = flags.DEFINE_list("calibration", ["1", "4", "100"], "--num_calibration_images of each export.")
_MAX_LAYERS = flags.DEFINE_integer("max_float_layers", 8, "The float-layer search's budget.", lower_bound=2)

PHOTOS = {"china": ("sklearn", "datasets/images/china.jpg"), "flower": ("sklearn", "datasets/images/flower.jpg"),
          "hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg")}
# Objects: photo, left, top, right, bottom (pixels of the photo).
OBJECTS = {"pagoda": ("china", 63, 29, 371, 417), "dahlia": ("flower", 166, 86, 446, 360),
           "face": ("hopper", 149, 23, 377, 343), "flag": ("hopper", 0, 0, 150, 330)}
CLASSES = tuple(OBJECTS)
# Regions without those objects: the backgrounds.
BACKGROUNDS = (("china", 380, 0, 640, 427), ("flower", 0, 0, 160, 427), ("flower", 450, 0, 640, 427),
               ("china", 380, 300, 640, 427), ("hopper", 390, 0, 512, 600), ("flower", 0, 380, 640, 427))
SIZE = 320
ZOO_NAME = "od_toolchain_demo_as_zoo"
LR = "train_config.optimizer.adam_optimizer.learning_rate.cosine_decay_learning_rate"


def _photo(name: str) -> Image.Image:
    package, relative = PHOTOS[name]
    root = os.path.dirname({"sklearn": sklearn, "matplotlib": matplotlib}[package].__file__)
    return Image.open(os.path.join(root, relative)).convert("RGB")


def _background(rng: np.random.Generator, tiles: Sequence[Image.Image]) -> Image.Image:
    tile = tiles[int(rng.integers(len(tiles)))]
    side = rng.uniform(0.5, 1.0) * min(tile.size)
    x, y = rng.uniform(0, tile.width - side), rng.uniform(0, tile.height - side)
    image = tile.crop((int(x), int(y), int(x + side), int(y + side))).resize((SIZE, SIZE), Image.BILINEAR)
    for flip, p in ((Image.FLIP_LEFT_RIGHT, 0.5), (Image.FLIP_TOP_BOTTOM, 0.5)):
        if rng.random() < p:
            image = image.transpose(flip)
    return image


def _feather(width: int, height: int, radius: int) -> Image.Image:
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, width - 1, height - 1), radius=radius, fill=255)
    return mask.filter(ImageFilter.GaussianBlur(1.2))


def _overlaps(a: tuple[int, ...], b: tuple[int, ...], gap: int = 2) -> bool:
    return not (a[0] + a[2] + gap <= b[0] or b[0] + b[2] + gap <= a[0] or
                a[1] + a[3] + gap <= b[1] or b[1] + b[3] + gap <= a[1])


def render(rng: np.random.Generator, objects: dict[str, Image.Image], tiles: Sequence[Image.Image]):
    """One picture and its (class id, [x, y, w, h]) objects, 1-5 of them, never overlapping."""
    canvas, placed = _background(rng, tiles), []
    wanted = int(rng.integers(1, 6))
    for _ in range(100):
        if len(placed) == wanted:
            break
        class_id = int(rng.integers(len(CLASSES)))
        source = objects[CLASSES[class_id]]
        extent, aspect = rng.uniform(28, 150), source.width / source.height * rng.uniform(0.8, 1.25)
        width, height = (extent, extent / aspect) if aspect > 1 else (extent * aspect, extent)
        width, height = int(max(12, width)), int(max(12, height))
        box = (int(rng.integers(0, SIZE - width)), int(rng.integers(0, SIZE - height)), width, height)
        if any(_overlaps(box, other) for _, other in placed):
            continue
        patch = source.resize((width, height), Image.BILINEAR)
        if rng.random() < 0.5:
            patch = patch.transpose(Image.FLIP_LEFT_RIGHT)
        for enhance, low, high in ((ImageEnhance.Brightness, 0.6, 1.3), (ImageEnhance.Contrast, 0.7, 1.3),
                                   (ImageEnhance.Color, 0.6, 1.4)):
            patch = enhance(patch).enhance(rng.uniform(low, high))
        canvas.paste(patch, box[:2], _feather(width, height, int(min(width, height) * rng.uniform(0.05, 0.3))))
        placed.append((class_id + 1, box))
    if rng.random() < 0.4:
        canvas = canvas.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    pixels = np.asarray(canvas).astype(np.float32) * rng.uniform(0.7, 1.2)
    pixels += rng.normal(0, rng.uniform(1, 6), pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), placed


def write_coco(folder: Path, split: str, count: int) -> str:
    photos = {name: _photo(name) for name in PHOTOS}
    objects = {name: photos[photo].crop(box) for name, (photo, *box) in OBJECTS.items()}
    tiles = [photos[photo].crop(box) for photo, *box in BACKGROUNDS]
    (folder / "images" / split).mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for index in range(count):
        rng = np.random.default_rng([0, 0 if split == "train" else 1, index])
        picture, placed = render(rng, objects, tiles)
        file_name = f"{split}/{index:06d}.jpg"
        picture.save(folder / "images" / file_name, "JPEG", quality=int(rng.integers(75, 96)))
        images.append({"id": index + 1, "file_name": file_name, "width": SIZE, "height": SIZE})
        annotations += [{"id": len(annotations) + 1 + k, "image_id": index + 1, "category_id": class_id,
                         "bbox": [float(v) for v in box], "area": float(box[2] * box[3]), "iscrowd": 0}
                        for k, (class_id, box) in enumerate(placed)]
    document = {"images": images, "annotations": annotations,
                "categories": [{"id": i + 1, "name": name} for i, name in enumerate(CLASSES)]}
    path = folder / f"{split}.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def zoo_folder(detector: Path, folder: Path) -> Path:
    """The demo detector's latest checkpoint in a model-zoo folder's layout (checkpoint/ckpt-0)."""
    prefix = Path(checkpoints.resolve(str(detector), "the demo detector").prefix)
    (folder / "checkpoint").mkdir(parents=True, exist_ok=True)
    for part in prefix.parent.glob(prefix.name + ".*"):
        shutil.copyfile(part, folder / "checkpoint" / part.name.replace(prefix.name, "ckpt-0"))
    (folder / "checkpoint" / "checkpoint").write_text('model_checkpoint_path: "ckpt-0"\n', encoding="utf-8")
    shutil.copyfile(detector / "pipeline.config", folder / "pipeline.config")
    return folder


def one_class_per_box_ap50(export_dir: Path, num_images: int) -> float:
    """The SavedModel's AP50 once each box keeps its best class only, as the TFLite detection op does."""
    prepared = prepare(str(export_dir / "pipeline.config"), checks=Checks(Purpose.EXPORT))
    size = fixed_input_size(prepared.config)
    files = images.match_files(prepared.pipeline.eval_input_paths, "eval_input_reader")
    held_out = images.read_images(files, num_images, *size)
    found = exporter.reference_detections(Detector.from_saved_model(str(export_dir / "saved_model")), held_out)
    labels = prepared.label_map.android_labels()
    return exporter.held_out_accuracy(held_out, exporter.tflite_reference(prepared.config, found), labels).ap50


def fine_tune(out: Path, data: Path, zoo: Path) -> Path:
    model_dir = out / f"model_{_ACTIVATION.value.lower()}"
    activation = [f"model.ssd.{part}.conv_hyperparams.activation={_ACTIVATION.value}" for part in
                  ("feature_extractor", "box_predictor.weight_shared_convolutional_box_predictor")]
    api.train(api.TrainSettings(
        pipeline_config_path=str(zoo / "pipeline.config"), model_dir=str(model_dir), seed=0,
        checkpoint_every_n=500, num_train_steps=_STEPS.value,
        config_override="train_config { data_augmentation_options { ssd_random_crop { } } }",
        overrides=[*activation, f"model.ssd.num_classes={len(CLASSES)}",
                   f"train_config.fine_tune_checkpoint={zoo}/checkpoint/ckpt-0",
                   "train_config.fine_tune_checkpoint_type=detection", f"{LR}.total_steps={_STEPS.value}",
                   f"train_input_reader.label_map_path={data}/label_map.pbtxt",
                   f"train_input_reader.tf_record_input_reader.input_path={data}/train.tfrecord-*",
                   f"eval_input_reader.label_map_path={data}/label_map.pbtxt",
                   f"eval_input_reader.tf_record_input_reader.input_path={data}/val.tfrecord-*"]))
    return model_dir


def measure(model_dir: Path, out: Path, calibration: int) -> dict:
    report = api.export_tflite(api.ExportRequest(
        trained_checkpoint_dir=str(model_dir), output_directory=str(out),
        options=api.ExportOptions(quantizations=(api.Quantization.FLOAT32, api.Quantization.INT8),
                                  num_parity_images=_NUM_VAL.value, num_calibration_images=calibration,
                                  op_profile_runs=0, int8_float_layers="auto", int8_max_ap50_drop=0.0,
                                  int8_max_float_layers=_MAX_LAYERS.value)))
    accuracies = report.accuracies()
    search = report.int8_float_layers
    return {"calibration_images": calibration, "saved_model_ap50": accuracies["saved_model"].ap50,
            "saved_model_one_class_per_box_ap50": one_class_per_box_ap50(out, _NUM_VAL.value),
            "float32_ap50": accuracies["float32"].ap50, "int8_ap50": accuracies["int8"].ap50,
            "per_class_ap50_drop_int8": report.per_class_drops(),
            "float_layer_steps": [{"float_layers": len(s.float_layers), "ap50": s.ap50,
                                   "size_bytes": s.size_bytes, "latency_ms": s.latency_ms} for s in search.steps]}


def main(argv: Sequence[str]) -> None:
    del argv
    out = Path(cli.workspace_path(_OUTPUT.value))
    runfiles = Path(os.path.abspath(__file__)).parents[2]
    coco, data = out / "coco", out / "data"
    api.create_tf_records(api.CreateRequest(
        input_format="coco", annotations=write_coco(coco, "train", _NUM_TRAIN.value),
        val_annotations=write_coco(coco, "val", _NUM_VAL.value), image_dir=str(coco / "images"),
        output_path=str(data / "train.tfrecord"), num_shards=2, num_val_shards=1))
    model_dir = fine_tune(out, data, zoo_folder(runfiles / "od_tools/demo/detector", out / ZOO_NAME))
    rows = [measure(model_dir, out / f"export_{model_dir.name}_cal{n}", int(n)) for n in _CALIBRATION.value]
    print(f"int8 on real photos ({_ACTIVATION.value}, {_NUM_VAL.value} held-out images); {machine.describe()}")
    print("calib  SavedModel  1-class/box  float32   int8   int8 with 0, 2, 4, ... worst layers in float")
    for row in rows:
        steps = "  ".join(f"{s['ap50']:.3f}" for s in row["float_layer_steps"])
        print(f"{row['calibration_images']:>5}  {row['saved_model_ap50']:10.3f}  "
              f"{row['saved_model_one_class_per_box_ap50']:11.3f}  {row['float32_ap50']:7.3f}  "
              f"{row['int8_ap50']:5.3f}   {steps}")
    results = out / f"results_{model_dir.name}.json"
    results.write_text(json.dumps({"machine": machine.describe(), "rows": rows}, indent=2) + "\n", encoding="utf-8")
    print(f"results in {results}")


if __name__ == "__main__":
    cli.run(main)

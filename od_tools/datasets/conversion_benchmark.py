"""Conversion throughput: our converter vs a naive re-encoding converter vs copying the bytes.

    bazel run //od_tools/datasets:conversion_benchmark -- --num_images=1000 [--image_size=512] [--num_workers=0] [--repeats=3]

Generates N JPEGs with their COCO annotations (the demo generator), then measures in one run,
on the same warm files, each method --repeats times in turns (the fastest run counts), and
prints images/s and MB/s (of JPEG input) for:

* raw copy      reading every image and writing the bytes to one file: the I/O floor;
* naive         one process: decode each image, re-encode it as JPEG, build and write the
                tf.Example (what many tutorial converters do);
* create_tf_record  this toolchain's converter (pass-through bytes, COCO parsing, validation
                and serialization in worker processes, sharding, label map and report
                included), with its default decode check, with --image_check=header, and
                with --include_masks (each shape's outline is its polygon segmentation:
                rasterized, checked against its box and PNG-encoded per object).

TensorFlow is imported before any timing starts; everything else is inside the timings. CPU
time per image is printed too, for this process and for the worker processes: unlike wall time
it does not depend on what else the machine is running, and this process's share (reading the
annotations, writing the shards) is what the workers cannot take over.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import resource
import shutil
import tempfile
import time
from typing import Callable, Sequence

from absl import flags

from od_tools.common import cli, machine
from od_tools.common.errors import UserError
from od_tools.datasets import demo
from od_tools.datasets.writing.parallel import available_cores, worker_count
from od_tools.datasets.create import CreateRequest, create_tf_records

_NUM_IMAGES = flags.DEFINE_integer("num_images", 1000, "Images to generate and convert.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 512, "Width and height of the generated JPEGs.")
_NUM_WORKERS = flags.DEFINE_integer("num_workers", 0, "Worker processes of the converter; 0: every core.")
_WORK_DIR = flags.DEFINE_string("work_dir", None, "Scratch folder (default: a temporary one, removed after).")
_REPEATS = flags.DEFINE_integer(
    "repeats", 3, "Runs of each method, taken in turns; the fastest counts (another process waking up slows "
    "one run, not the result).")


def raw_copy(paths: Sequence[str], output: str) -> None:
    with open(output, "wb") as out:
        for path in paths:
            with open(path, "rb") as f:
                out.write(f.read())


def naive_convert(coco_json: str, image_dir: str, output: str) -> None:
    """The baseline: decode and re-encode every image in this one process."""
    import tensorflow as tf
    from PIL import Image

    with open(coco_json) as f:
        document = json.load(f)
    boxes: dict[int, list] = {}
    for annotation in document["annotations"]:
        boxes.setdefault(annotation["image_id"], []).append(annotation)
    with tf.io.TFRecordWriter(output) as writer:
        for image in document["images"]:
            picture = Image.open(os.path.join(image_dir, image["file_name"])).convert("RGB")
            buffer = io.BytesIO()
            picture.save(buffer, "JPEG", quality=95)
            width, height = picture.size
            objects = boxes.get(image["id"], [])
            feature = {
                "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[buffer.getvalue()])),
                "image/format": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"jpeg"])),
                "image/height": tf.train.Feature(int64_list=tf.train.Int64List(value=[height])),
                "image/width": tf.train.Feature(int64_list=tf.train.Int64List(value=[width])),
                "image/source_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(image["id"]).encode()])),
                "image/object/bbox/xmin": tf.train.Feature(float_list=tf.train.FloatList(
                    value=[a["bbox"][0] / width for a in objects])),
                "image/object/bbox/ymin": tf.train.Feature(float_list=tf.train.FloatList(
                    value=[a["bbox"][1] / height for a in objects])),
                "image/object/bbox/xmax": tf.train.Feature(float_list=tf.train.FloatList(
                    value=[(a["bbox"][0] + a["bbox"][2]) / width for a in objects])),
                "image/object/bbox/ymax": tf.train.Feature(float_list=tf.train.FloatList(
                    value=[(a["bbox"][1] + a["bbox"][3]) / height for a in objects])),
                "image/object/class/label": tf.train.Feature(int64_list=tf.train.Int64List(
                    value=[a["category_id"] for a in objects])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def ours(coco_json: str, image_dir: str, output_dir: str, image_check: str, include_masks: bool = False) -> None:
    create_tf_records(CreateRequest(input_format="coco", annotations=coco_json, image_dir=image_dir,
                                    output_path=os.path.join(output_dir, "train.tfrecord"), num_shards=2,
                                    num_workers=_NUM_WORKERS.value, image_check=image_check,
                                    include_masks=include_masks), out=io.StringIO())


def timed(work: Callable[[], object]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of this process, of the worker processes it waited for)."""
    def cpu(who: int) -> float:
        usage = resource.getrusage(who)
        return usage.ru_utime + usage.ru_stime

    started, own, workers = time.perf_counter(), cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
    work()
    return (time.perf_counter() - started, cpu(resource.RUSAGE_SELF) - own,
            cpu(resource.RUSAGE_CHILDREN) - workers)


def main(argv: Sequence[str]) -> None:
    del argv  # cli.run refuses words that are not flags
    if _NUM_IMAGES.value < 1 or _IMAGE_SIZE.value < 2 * demo.DemoSpec.max_object_size:
        raise UserError(f"--num_images >= 1 and --image_size >= {2 * demo.DemoSpec.max_object_size} please")
    with contextlib.ExitStack() as stack:
        work = cli.workspace_path(_WORK_DIR.value) if _WORK_DIR.value else stack.enter_context(
            tempfile.TemporaryDirectory(prefix="od_benchmark_"))
        os.makedirs(work, exist_ok=True)
        coco = os.path.join(work, "coco")
        shutil.rmtree(coco, ignore_errors=True)
        spec = demo.DemoSpec(num_train=_NUM_IMAGES.value, image_size=_IMAGE_SIZE.value)
        print(f"generating {spec.num_train} JPEGs of {spec.image_size}x{spec.image_size} ...", flush=True)
        coco_json = demo.write_coco_split(spec, "train", spec.num_train, coco, with_segmentation=True)
        image_dir = os.path.join(coco, "images")
        paths = sorted(os.path.join(image_dir, "train", name) for name in os.listdir(os.path.join(image_dir, "train")))
        megabytes = sum(os.path.getsize(p) for p in paths) / 1e6
        raw_copy(paths, os.devnull)  # warm the page cache for every method alike
        import tensorflow  # noqa: F401  (imported once, outside the timings)

        out = os.path.join(work, "out")
        os.makedirs(out, exist_ok=True)
        workers = worker_count(_NUM_WORKERS.value, len(paths))
        methods: list[tuple[str, Callable[[str], object]]] = [
            ("raw copy", lambda run: raw_copy(paths, os.path.join(out, f"copy{run}.bin"))),
            ("naive (1 process, decode + re-encode)",
             lambda run: naive_convert(coco_json, image_dir, os.path.join(out, f"naive{run}.tfrecord"))),
            (f"create_tf_record ({workers} workers, decode check)",
             lambda run: ours(coco_json, image_dir, os.path.join(out, f"decode{run}"), "decode")),
            (f"create_tf_record ({workers} workers, --image_check=header)",
             lambda run: ours(coco_json, image_dir, os.path.join(out, f"header{run}"), "header")),
            (f"create_tf_record ({workers} workers, decode check, --include_masks)",
             lambda run: ours(coco_json, image_dir, os.path.join(out, f"masks{run}"), "decode", include_masks=True)),
        ]
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _ in methods}
        for run in range(max(1, _REPEATS.value)):
            for name, method in methods:
                runs[name].append(timed(functools.partial(method, str(run))))
        results = [(name, min(runs[name])) for name, _ in methods]
    baseline = results[1][1][0]
    print(f"\n{len(paths)} JPEGs, {spec.image_size}x{spec.image_size}, {megabytes:.1f} MB; fastest of "
          f"{max(1, _REPEATS.value)} runs each; {available_cores()} core(s) available; load average "
          f"{os.getloadavg()[0]:.1f} (other processes compete for the cores when it exceeds their number)")
    print(f"machine: {machine.describe()}")
    print(f"  {'method':<52} {'seconds':>8} {'images/s':>9} {'MB/s':>7} {'vs naive':>9} "
          f"{'CPU ms/image: this process + workers':>37}")
    for name, (seconds, own_cpu, workers_cpu) in results:
        per_image = 1000 / len(paths)
        print(f"  {name:<52} {seconds:8.2f} {len(paths) / seconds:9.1f} {megabytes / seconds:7.1f} "
              f"{baseline / seconds:8.2f}x {own_cpu * per_image:18.2f} + {workers_cpu * per_image:5.2f} = "
              f"{(own_cpu + workers_cpu) * per_image:5.2f}")


if __name__ == "__main__":
    cli.run(main)

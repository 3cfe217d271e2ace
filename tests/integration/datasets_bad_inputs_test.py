"""A catalogue of bad inputs: each fails with one line naming the file, record or field and
saying what to do, and leaves no output behind. Plus: what we reject is exactly what
TensorFlow cannot decode, the command line's exit status, and interrupted runs."""

import collections
import dataclasses
import io
import json
import os
import random
import signal
import subprocess
import time
import zlib
from typing import Callable

import pytest
import tensorflow as tf
from PIL import Image

import dataset_fixtures as fx
from od_tools.common.errors import UserError
from od_tools.datasets.checks import encoded_images as image_checks
from od_tools.datasets.create import CreateRequest, create_tf_records

GOOD = [fx.Image("a.jpg", 64, 48, (fx.Obj("cat", (4, 4, 30, 30)),)),
        fx.Image("b.jpg", 64, 48, (fx.Obj("dog", (10, 10, 50, 40)),))]


@dataclasses.dataclass
class Case:
    name: str
    make: Callable[[str], dict]   # writes inputs under the folder, returns CreateRequest fields
    message: str                  # a fragment the one-line error must contain


def csv_with(rows: list[str], header: str = "filename,width,height,class,xmin,ymin,xmax,ymax"):
    def make(root: str) -> dict:
        fx.write_images(root, GOOD)
        path = os.path.join(root, "labels.csv")
        with open(path, "w") as f:
            f.write("\n".join([header] + rows) + "\n")
        return {"input_format": "csv", "annotations": path, "strict": True}
    return make


def good_csv_then(change: Callable[[str], None], **fields):
    def make(root: str) -> dict:
        path = fx.write_csv(root, GOOD)
        change(root)
        return {"input_format": "csv", "annotations": path, "strict": True, **fields}
    return make


def write(root: str, name: str, data) -> str:
    path = os.path.join(root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return path


def truncate(name: str, keep: float) -> Callable[[str], None]:
    def change(root: str) -> None:
        data = open(os.path.join(root, name), "rb").read()
        write(root, name, data[:int(len(data) * keep)])
    return change


def gif_named_jpg(root: str) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48)).save(buffer, "GIF")
    write(root, "a.jpg", buffer.getvalue())


def voc(xml: str):
    def make(root: str) -> dict:
        fx.write_images(os.path.join(root, "JPEGImages"), GOOD)
        write(root, "Annotations/a.xml", xml)
        return {"input_format": "voc", "annotations": os.path.join(root, "Annotations")}
    return make


def coco(document: dict, **fields):
    def make(root: str) -> dict:
        fx.write_images(os.path.join(root, "images"), GOOD)
        return {"input_format": "coco", "annotations": write(root, "instances.json", json.dumps(document)),
                "image_dir": os.path.join(root, "images"), **fields}
    return make


def good_coco(**fields):
    def make(root: str) -> dict:
        return {"input_format": "coco", "annotations": fx.write_coco(root, GOOD),
                "image_dir": os.path.join(root, "images"), **fields}
    return make


def with_label_map(text: str, make: Callable[[str], dict]):
    def wrapped(root: str) -> dict:
        return {**make(root), "label_map_path": write(root, "label_map.pbtxt", text)}
    return wrapped


def damaged_vott_tfrecord(root: str) -> dict:
    export = fx.write_vott_tfrecords(root, GOOD, ["cat", "dog"])
    path = os.path.join(export, "a.tfrecord")
    data = open(path, "rb").read()
    write(export, "a.tfrecord", data[: len(data) - 100])
    return {"input_format": "vott", "annotations": export}


def vott_json_untagged(root: str) -> dict:
    path = fx.write_vott_json(root, GOOD, ["cat", "dog"])
    document = json.load(open(path))
    next(iter(document["assets"].values()))["regions"][0]["tags"] = []
    write(root, "vott-json-export/Test-Project-export.json", json.dumps(document))
    return {"input_format": "vott", "annotations": path, "strict": True}


def vott_asset_files_without_project(root: str) -> dict:
    target = fx.write_vott_project(root, GOOD, ["cat", "dog"])
    os.remove(os.path.join(target, "Street Project.vott"))
    return {"input_format": "vott", "annotations": target, "image_dir": os.path.join(root, "source")}


def vott_project_images_elsewhere(root: str) -> dict:
    return {"input_format": "vott", "annotations": fx.write_vott_project(root, GOOD, ["cat", "dog"]), "strict": True}


SECRET = "top-secret-content-0451"
XXE = ('<?xml version="1.0"?>\n<!DOCTYPE annotation [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
       "<annotation><filename>a.jpg</filename><object><name>&xxe;</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
       "<xmax>9</xmax><ymax>9</ymax></bndbox></object></annotation>")
LAUGHS = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
          '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]>\n<annotation><filename>&lol3;</filename></annotation>')


def xxe(root: str) -> dict:
    secret = write(root, "secret.txt", SECRET)
    return voc(XXE.format(secret=secret))(root)


CATALOGUE = [
    Case("corrupt (truncated) JPEG", good_csv_then(truncate("a.jpg", 0.6)),
         "labels.csv:2 ('a.jpg'): JPEG data does not decode"),
    Case("not an image", good_csv_then(lambda root: write(root, "a.jpg", "just text")), "not a readable image"),
    Case("GIF, not JPEG or PNG", good_csv_then(gif_named_jpg), "GIF image; TFRecords for detection hold JPEG or PNG"),
    Case("box past the image edge", csv_with(["a.jpg,64,48,cat,-6,4,30,30", "b.jpg,64,48,dog,10,10,50,40"]),
         "labels.csv:2 ('a.jpg') line 2 'cat': box (-6, 4, 30, 30) reaches past the edge"),
    Case("inverted box", csv_with(["a.jpg,64,48,cat,30,4,4,30"]), "has its minimum above its maximum; fix the box"),
    Case("zero-area box", csv_with(["a.jpg,64,48,cat,4,4,4,30"]), "box (4, 4, 4, 30) is 0x26 pixels"),
    Case("NaN coordinate", csv_with(["a.jpg,64,48,cat,nan,4,30,30"]), "has a coordinate that is not a number"),
    Case("unknown class", with_label_map("item { id: 1 name: 'cat' }", csv_with(
        ["a.jpg,64,48,cat,4,4,30,30", "b.jpg,64,48,dog,10,10,50,40"])),
         "class 'dog' is not in the label map (it has 'cat'); add the class"),
    Case("missing image", good_csv_then(lambda root: os.remove(os.path.join(root, "b.jpg"))),
         "b.jpg not found; check --image_dir"),
    Case("every image missing", coco({"images": [{"id": 1, "file_name": "nope.jpg"}],
                                      "categories": [{"id": 1, "name": "cat"}]}),
         "none of its 1 images is usable (image_missing 1"),
    Case("image size differs from the annotation", csv_with(["a.jpg,640,480,cat,4,4,30,30"]),
         "annotated as 640x480 but the image is 64x48"),
    Case("XML external entity", xxe, "declares the XML entity 'xxe', which is refused for safety"),
    Case("XML entity expansion (billion laughs)", voc(LAUGHS), "declares the XML entity 'lol'"),
    Case("malformed XML", voc("<annotation><filename>a.jpg</filename>"), "a.xml:1:38: not well-formed XML"),
    Case("empty dataset", coco({"images": [], "annotations": [], "categories": []}), "empty dataset"),
    Case("duplicate label ids", with_label_map("item { id: 1 name: 'cat' }\nitem { id: 1 name: 'dog' }",
                                               good_csv_then(lambda root: None, strict=False)),
         "label_map.pbtxt:2: id 1 of 'dog' is already used by 'cat'"),
    Case("duplicate COCO category ids", coco({"images": [], "categories": [{"id": 1, "name": "cat"},
                                                                            {"id": 1, "name": "dog"}]}),
         "categories[1] 'dog' has id 1, already used by 'cat'; give each category a unique id"),
    Case("COCO category 0 in use", coco({"images": [{"id": 1, "file_name": "a.jpg"}],
                                         "categories": [{"id": 0, "name": "cat"}],
                                         "annotations": [{"image_id": 1, "category_id": 0, "bbox": [1, 1, 5, 5]}]}),
         "category_id 0, the background class"),
    Case("COCO annotation of an unlisted image", coco({"images": [], "categories": [{"id": 1, "name": "cat"}],
                                                       "annotations": [{"image_id": 7, "category_id": 1,
                                                                        "bbox": [1, 1, 5, 5]}]}),
         "annotations[0] refers to image_id 7, which 'images' does not list"),
    Case("invalid JSON", lambda root: {"input_format": "coco", "annotations": write(root, "i.json", '{"images": [')},
         "i.json:1:13: not valid JSON"),
    Case("CSV without a needed column", csv_with(["a.jpg,cat"], header="filename,class"),
         "labels.csv:1: the header lacks column(s) xmin, ymin, xmax, ymax"),
    Case("CSV with a word for a number", csv_with(["a.jpg,64,48,cat,4,four,30,30"]),
         "labels.csv:2: column 'ymin' is 'four', expected a number of pixels"),
    Case("damaged VoTT TFRecord", damaged_vott_tfrecord, "a.tfrecord: record 0 is damaged"),
    Case("VoTT region without a tag", vott_json_untagged, "region r0_0: the object has no class; give the object"),
    Case("VoTT asset files without their .vott project", vott_asset_files_without_project,
         "holds VoTT asset files (*-asset.json) but no .vott project file, which names the classes"),
    Case("VoTT project whose images are elsewhere", vott_project_images_elsewhere,
         "not found (VoTT recorded C:/Users/annotator/My Pictures/street set/a.jpg; no tail of it is under"),
    Case("annotations that do not exist", lambda root: {"input_format": "voc", "annotations": f"{root}/nothing"},
         "nothing: no such file or folder"),
    Case("validation fraction of 1", good_coco(val_fraction=1.0), "--val_fraction=1.0: must be at least 0 and below 1"),
    Case("--split_by without a split", good_coco(split_by=r"^(.*)_frame\d+"),
         "--split_by shapes the split that --val_fraction makes; give --val_fraction too"),
    Case("--split_by without a group", good_coco(val_fraction=0.5, split_by=r"_frame\d+"),
         r"--split_by=_frame\d+: has no group; its first group (...) names what related images share"),
    Case("--split_by that matches no file name", good_coco(val_fraction=0.5, split_by=r"^(.*)_frame\d+"),
         r"--split_by=^(.*)_frame\d+: matches none of the 2 file names (e.g. 'a.jpg'); fix the pattern"),
    Case("output prefix is a folder", good_coco(output_path="."), "is a folder; give a file prefix"),
]


@pytest.mark.parametrize("case", CATALOGUE, ids=[c.name for c in CATALOGUE])
def test_bad_input_fails_in_one_line_and_writes_nothing(tmp_path, case):
    inputs = tmp_path / "in"
    inputs.mkdir()
    fields = case.make(str(inputs))
    output_dir = tmp_path / "out"
    fields.setdefault("output_path", str(output_dir / "train.tfrecord"))
    if fields["output_path"] == ".":
        fields["output_path"] = str(tmp_path)
    before = fx.files_in(str(tmp_path))
    with pytest.raises(UserError) as caught:
        create_tf_records(CreateRequest(num_workers=1, **fields))
    message = str(caught.value)
    assert case.message in message
    assert "\n" not in message
    assert SECRET not in message
    assert fx.files_in(str(tmp_path)) == before   # no output, no temporary file left behind


def test_catalogue_is_at_least_fifteen_distinct_inputs():
    assert len({c.name for c in CATALOGUE}) == len(CATALOGUE) >= 15


def jpeg(size=(64, 64)) -> bytes:
    return fx.image_bytes(*size, seed=3)


def damaged_variants() -> dict[str, bytes]:
    data = jpeg()
    huffman = data.find(b"\xff\xc4")
    return {
        "truncated": data[: len(data) * 2 // 3],
        "no end marker": data[:-2],
        "cut after the scan header": data[: data.find(b"\xff\xda") + 12],
        "damaged Huffman table": data[: huffman + 5] + b"\xff" * 16 + data[huffman + 21:],
        "text": b"hello",
    }


@pytest.mark.parametrize("name", list(damaged_variants()))
def test_what_we_reject_tensorflow_cannot_decode_either(name):
    data = damaged_variants()[name]
    with pytest.raises(image_checks.ImageProblem):
        image_checks.probe(data)
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.io.decode_image(data, channels=3)


def encoded_variants() -> dict[str, bytes]:
    """JPEGs of the kinds cameras and tools write (and a PNG), to damage at random."""
    def encode(image_format: str, convert: str = "RGB", **options) -> bytes:
        picture = Image.open(io.BytesIO(fx.image_bytes(96, 72, seed=11))).convert(convert)
        buffer = io.BytesIO()
        picture.save(buffer, image_format, **options)
        return buffer.getvalue()
    return {"baseline 4:2:0": encode("JPEG", quality=90), "progressive": encode("JPEG", progressive=True),
            "4:4:4": encode("JPEG", subsampling=0), "grey": encode("JPEG", "L"), "CMYK": encode("JPEG", "CMYK"),
            "optimized Huffman": encode("JPEG", optimize=True),
            "restart markers": encode("JPEG", restart_marker_blocks=4),
            "PNG": encode("PNG")}


def damaged(data: bytes, rng: random.Random) -> bytes:
    """Cut short, bits flipped, bytes zeroed or a stretch cut out, as bad disks and transfers do."""
    out = bytearray(data)
    kind = rng.randrange(4)
    at = rng.randrange(2, len(out))
    if kind == 0:
        return bytes(out[:at])
    if kind == 1:
        for _ in range(rng.randint(1, 4)):
            out[rng.randrange(2, len(out))] ^= 1 << rng.randrange(8)
    elif kind == 2:
        end = min(len(out), at + rng.randint(1, 64))
        out[at:end] = bytes(end - at)
    else:
        del out[at:rng.randrange(at, len(out))]
    return bytes(out)


def verdicts(samples) -> collections.Counter:
    """(our decode check, TensorFlow's decoder) -> how many samples got that pair of verdicts."""
    counts = collections.Counter()
    for sample in samples:
        try:
            image_checks.probe(sample)
            ours = "decodes"
        except image_checks.ImageProblem:
            ours = "rejected"
        try:
            tf.io.decode_image(sample, channels=3)
            theirs = "decodes"
        except tf.errors.InvalidArgumentError:
            theirs = "rejected"
        counts[ours, theirs] += 1
    return counts


@pytest.mark.parametrize("name", list(encoded_variants()))
def test_on_randomly_damaged_images_we_fail_exactly_where_tensorflow_fails(name):
    """The decode check (DCT-scaled, luminance-only decoding) against TensorFlow's decoder on 300
    seeded damages of each kind of image: every one is accepted by both or rejected by both.
    (Before the check made libjpeg reach the end marker, about 1 in 1000 JPEGs damaged this way
    passed it and failed in TensorFlow.)"""
    rng = random.Random(name)
    data = encoded_variants()[name]
    counts = verdicts(damaged(data, rng) for _ in range(300))
    assert set(counts) <= {("decodes", "decodes"), ("rejected", "rejected")}, counts
    assert counts["rejected", "rejected"] >= 20, counts
    if name != "PNG":  # any damage to a PNG breaks a chunk's CRC
        assert counts["decodes", "decodes"] >= 20, counts


def with_valid_crcs(png: bytes) -> bytes:
    """The PNG with every chunk's CRC recomputed: damage a CRC cannot reveal, as a buggy encoder writes."""
    out, at = bytearray(png[:8]), 8
    while at + 8 <= len(png):
        length = int.from_bytes(png[at:at + 4], "big")
        kind, body = png[at + 4:at + 8], png[at + 8:at + 8 + length]
        out += png[at:at + 8] + body + zlib.crc32(kind + body).to_bytes(4, "big")
        at += 12 + length
    return bytes(out)


def test_no_damaged_png_that_tensorflow_refuses_passes_even_with_valid_crcs():
    rng = random.Random(5)
    data = encoded_variants()["PNG"]
    counts = verdicts(with_valid_crcs(damaged(data, rng)) for _ in range(600))
    assert counts["decodes", "rejected"] == 0, counts
    assert counts["rejected", "rejected"] >= 500, counts


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


def test_png_damage_pil_alone_would_let_pass_is_refused_as_tensorflow_refuses_it():
    header = png_chunk(b"IHDR", (16).to_bytes(4, "big") + (8).to_bytes(4, "big") + bytes([8, 2, 0, 0, 0]))
    rows = b"".join(b"\x00" + bytes(range(48)) for _ in range(8))
    unfinished = zlib.compressobj()
    cases = {
        "unknown critical chunk": png_chunk(b"ABCD", b"x") + png_chunk(b"IDAT", zlib.compress(rows)),
        "stream stops after the last row": png_chunk(b"IDAT", unfinished.compress(rows) +
                                                     unfinished.flush(zlib.Z_SYNC_FLUSH)),
    }
    end = png_chunk(b"IEND", b"")
    for name, middle in cases.items():
        data = b"\x89PNG\r\n\x1a\n" + header + middle + end
        with pytest.raises(tf.errors.InvalidArgumentError):
            tf.io.decode_image(data, channels=3)
        with pytest.raises(image_checks.ImageProblem, match="PNG data does not decode"):
            image_checks.probe(data)
    good = b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IDAT", zlib.compress(rows))
    assert image_checks.probe(good + end).width == 16
    assert image_checks.probe(good + png_chunk(b"IEND", b"xy")).width == 16  # libpng only warns
    for damaged_end in (end[:-1] + b"\x00", (256).to_bytes(4, "big") + end[4:]):
        with pytest.raises(tf.errors.InvalidArgumentError):
            tf.io.decode_image(good + damaged_end, channels=3)
        with pytest.raises(image_checks.ImageProblem, match="IEND chunk is damaged"):
            image_checks.probe(good + damaged_end)


def test_what_we_accept_tensorflow_decodes_at_the_size_we_record():
    data = jpeg((70, 50))
    flipped = data[:300] + bytes(255 - b for b in data[300:340]) + data[340:]  # damaged pixels, still decodable
    for payload in (data, flipped):
        info = image_checks.probe(payload)
        assert tuple(tf.io.decode_image(payload, channels=3).shape) == (info.height, info.width, 3)


def command(tool: str) -> list[str]:
    return [os.path.abspath(os.path.join("od_tools", tool))]


def test_the_command_line_exits_1_with_one_line_on_stderr(tmp_path):
    result = subprocess.run(command("create_tf_record") + ["--input_format=csv", f"--annotations={tmp_path}/no.csv",
                                                           f"--output_path={tmp_path}/out/x"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"create_tf_record: error: --annotations={tmp_path}/no.csv: no such file or folder; check the path")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_leaves_nothing_that_looks_complete(tmp_path, signum):
    images = fx.sample_images(40)
    annotations = fx.write_csv(str(tmp_path / "in"), images)
    blocker = tmp_path / "in" / images[20].file_name
    blocker.unlink()
    os.mkfifo(blocker)  # reading it blocks until a writer appears: the run is certainly mid-way
    out = tmp_path / "out"
    process = subprocess.Popen(command("create_tf_record") + [
        "--input_format=csv", f"--annotations={annotations}", f"--output_path={out}/train.tfrecord",
        "--num_shards=2", "--num_workers=2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        # Both shards are opened (one after the other) before the first record is written.
        while not (out.exists() and sum(p.name.endswith(".tmp") for p in out.iterdir()) == 2):
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.1)
        temporary = sorted(p.name for p in out.iterdir())
        time.sleep(1.0)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1, stderr
    assert stderr.strip().splitlines()[-1].startswith("create_tf_record: error: interrupted (")
    assert stderr.strip().endswith("nothing was written")
    assert len(temporary) == 2 and all(name.startswith(".train.tfrecord-0000") for name in temporary)
    assert list(out.iterdir()) == []


def test_an_interrupted_search_for_identical_images_writes_nothing(tmp_path):
    images = fx.sample_images(40)
    annotations = fx.write_csv(str(tmp_path / "in"), images)
    blocker = tmp_path / "in" / images[20].file_name
    blocker.unlink()
    os.mkfifo(blocker)  # the search for identical images reads every image before the split: it stops here
    out = tmp_path / "out"
    process = subprocess.Popen(command("create_tf_record") + [
        "--input_format=csv", f"--annotations={annotations}", f"--output_path={out}/train.tfrecord",
        "--val_fraction=0.2", "--num_workers=2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "finding identical images" in process.stderr.readline()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1, stderr
    assert stderr.strip().splitlines()[-1] == "create_tf_record: error: interrupted (signal 15); nothing was written"
    assert not out.exists()

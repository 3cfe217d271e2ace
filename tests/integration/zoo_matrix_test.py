"""//od_tools/export/measure:zoo_matrix on a folder of three configs: a tiny SSD it exports and measures, a
Faster R-CNN and a broken config it refuses in one line each; matrix.json and matrix.md agree."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(os.environ["TEST_SRCDIR"]) / os.environ["TEST_WORKSPACE"]
TOOL = ROOT / "od_tools/export/measure/zoo_matrix"
TINY = ROOT / "tests/testdata/tiny_pipeline.config"


def test_matrix_exports_measures_and_refuses(tmp_path):
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "tiny_ssd.config").write_text(re.sub(r"num_classes: 0", "num_classes: 3", TINY.read_text()))
    (configs / "faster_rcnn").mkdir()  # the zoo-download layout: NAME/pipeline.config
    (configs / "faster_rcnn" / "pipeline.config").write_text(
        'model { faster_rcnn { num_classes: 90 feature_extractor { type: "faster_rcnn_resnet50_keras" } '
        "image_resizer { fixed_shape_resizer { height: 64 width: 64 } } } }\n")
    (configs / "broken.config").write_text("model { ssd { num_classes: 3 no_such_field: 1 } }\n")
    out = tmp_path / "out"
    result = subprocess.run([str(TOOL), f"--config_dir={configs}", f"--output_dir={out}", "--runs=3"],
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "export [3/3] tiny_ssd ..." in result.stdout  # progress per config: exports, then timings
    assert result.stdout.index("export [3/3] tiny_ssd:") < result.stdout.index("timing [1/1] tiny_ssd ...")

    matrix = json.loads((out / "matrix.json").read_text())
    rows = {row["name"]: row for row in matrix["rows"]}
    assert sorted(rows) == ["broken", "faster_rcnn", "tiny_ssd"]
    assert " cores, " in matrix["machine"]
    assert rows["faster_rcnn"]["status"] == ("refused: model.faster_rcnn: the Object Detection API exports only "
                                             "SSD and CenterNet models to TFLite")
    assert rows["broken"]["status"].startswith("refused: ") and "no_such_field" in rows["broken"]["status"]
    assert "\n" not in rows["broken"]["status"]

    tiny = rows["tiny_ssd"]
    assert tiny["status"] == "exported" and tiny["family"] == "SSD MobileNetV1 FPN" and tiny["input_size"] == "64x64"
    assert 10_000 < tiny["params"] < 1_000_000
    models = {m["quantization"]: m for m in tiny["models"]}
    assert sorted(models) == ["float32", "int8"]
    for m in models.values():
        assert (out / "tiny_ssd" / m["file"]).stat().st_size == m["size_bytes"]
        assert sorted(m["latency_ms"]) == ["1", "2"] and all(v > 0 for v in m["latency_ms"].values())
        assert m["latency_runs"] == {"1": 3, "2": 3}  # a fast model gets all of --runs
    # The float model is the inference module's graph: its top 10 land where the module's do,
    # with the same scores.
    assert models["float32"]["mean_iou"] >= 0.99 and models["float32"]["max_score_delta"] <= 0.01, models["float32"]
    assert models["int8"]["size_bytes"] < 0.7 * models["float32"]["size_bytes"]

    table = (out / "matrix.md").read_text()
    assert table.count("\n| ") == 4  # header + three rows
    assert "| tiny_ssd | exported | SSD MobileNetV1 FPN | 64x64 |" in table
    assert f"Measured on {matrix['machine']}." in table  # the CPU and its instruction sets, beside the figures
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no scratch folders left

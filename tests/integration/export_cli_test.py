"""Bad inputs to the export: one-line errors, exit status 1, and nothing half-written, neither in
--output_directory nor in the Android assets folder (a failed parity check is
export_parity_test's).

Uses the cached demo detector (//od_tools/demo:detector) and its dataset.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from od_tools import config as config_lib
from od_tools.common.errors import UserError
from od_tools.export import ExportOptions, Quantization, export_detector

ROOT = Path(os.environ["TEST_SRCDIR"]) / os.environ["TEST_WORKSPACE"]
DETECTOR = ROOT / "od_tools/demo/detector"
TOOL = ROOT / "od_tools/export_tflite"


def run_export(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "BUILD_WORKSPACE_DIRECTORY": str(tmp_path / "workspace"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([str(TOOL), *flags], capture_output=True, text=True, env=env, timeout=600, check=False)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("export_tflite: error: ")]
    assert len(errors) == 1, result.stderr[-3000:]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def assert_nothing_written(tmp_path: Path, output: Path) -> None:
    assert not output.exists()
    assert not [p for p in output.parent.iterdir() if p.name.startswith(f".{output.name}.")]
    assert not (tmp_path / "workspace").exists()  # no Android assets either


def demo_flags(output: Path, *extra: str) -> list[str]:
    return [f"--pipeline_config_path={DETECTOR / 'pipeline.config'}", f"--trained_checkpoint_dir={DETECTOR}",
            f"--output_directory={output}", *extra]


def test_missing_checkpoint(tmp_path):
    output = tmp_path / "out"
    (tmp_path / "empty").mkdir()
    result = run_export(tmp_path, f"--pipeline_config_path={DETECTOR / 'pipeline.config'}",
                        f"--trained_checkpoint_dir={tmp_path / 'empty'}", f"--output_directory={output}")
    assert_one_line_error(result, f"--trained_checkpoint_dir {tmp_path / 'empty'}: no checkpoint in it",
                          "give the model_dir training wrote")
    assert_nothing_written(tmp_path, output)


def test_a_meta_architecture_without_tflite_export_is_refused(tmp_path):
    config = tmp_path / "faster_rcnn.config"
    config.write_text('model { faster_rcnn { num_classes: 3 feature_extractor { type: "faster_rcnn_resnet50_keras" } '
                      'image_resizer { fixed_shape_resizer { height: 320 width: 320 } } } }\n'
                      f'eval_input_reader {{ label_map_path: "{DETECTOR / "label_map.pbtxt"}" }}\n')
    output = tmp_path / "out"
    result = run_export(tmp_path, f"--pipeline_config_path={config}", f"--trained_checkpoint_dir={DETECTOR}",
                        f"--output_directory={output}")
    lines = [line.strip() for line in result.stderr.splitlines()]
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "model.faster_rcnn: the Object Detection API exports only SSD and CenterNet models to TFLite" in \
        "\n".join(lines)
    assert_nothing_written(tmp_path, output)


def test_only_some_flags_is_an_export_not_the_demo(tmp_path):
    result = run_export(tmp_path, "--max_detections=5")
    assert_one_line_error(result, "--trained_checkpoint_dir, --output_directory missing")
    assert not (tmp_path / "workspace").exists()


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    output = blocker / "out"
    result = run_export(tmp_path, *demo_flags(output, "--num_parity_images=2"))
    assert_one_line_error(result, str(blocker), "writable")
    assert blocker.read_text() == "not a folder"


@pytest.fixture(scope="module")
def demo_config():
    return config_lib.prepare(str(DETECTOR / "pipeline.config"), checks=config_lib.Checks(config_lib.Purpose.EXPORT))


def expect_user_error(tmp_path: Path, demo_config, checkpoint: str, match: str, overrides=(), **options) -> None:
    prepared = demo_config if not overrides else config_lib.prepare(
        str(DETECTOR / "pipeline.config"), overrides, checks=config_lib.Checks(config_lib.Purpose.EXPORT))
    output = tmp_path / "out"
    with pytest.raises(UserError, match=match) as error:
        export_detector(prepared, checkpoint, prepared.label_map, str(output),
                        ExportOptions(num_parity_images=4, **options))
    assert "\n" not in str(error.value)
    assert_nothing_written(tmp_path, output)


def partial_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "detector"
    shutil.copytree(DETECTOR, copy)
    return copy


def test_partial_checkpoint_missing_data_shard(tmp_path, demo_config):
    copy = partial_copy(tmp_path)
    for shard in copy.glob("ckpt-*.data-*"):
        shard.unlink()
    expect_user_error(tmp_path, demo_config, str(copy), "partial or corrupt")


def test_partial_checkpoint_truncated_data(tmp_path, demo_config):
    copy = partial_copy(tmp_path)
    for shard in copy.glob("ckpt-*.data-*"):
        shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    expect_user_error(tmp_path, demo_config, str(copy), "partial or corrupt")


def test_checkpoint_that_does_not_fit_the_config(tmp_path, demo_config):
    expect_user_error(tmp_path, demo_config, str(DETECTOR), "does not fit the model",
                      overrides=["model.ssd.feature_extractor.fpn.additional_layer_depth=64"])


def test_empty_representative_set(tmp_path, demo_config):
    empty = tmp_path / "empty.tfrecord"
    empty.write_bytes(b"")
    expect_user_error(tmp_path, demo_config, str(DETECTOR), "representative set for int8 calibration is empty",
                      overrides=[f"train_input_reader.tf_record_input_reader.input_path={empty}"],
                      quantizations=(Quantization.INT8,))


def test_no_calibration_images(tmp_path, demo_config):
    expect_user_error(tmp_path, demo_config, str(DETECTOR), "--num_calibration_images=0",
                      quantizations=(Quantization.INT8,), num_calibration_images=0)

"""`bazel run //od_tools:cloud_job`: preflight first, then job.yaml + pipeline.config and commands."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from od_tools.cloud.vertex_schema import schema_errors
from object_detection.protos import pipeline_pb2
from google.protobuf import text_format

TOOL = Path("od_tools/cloud_job")
DEMO_CONFIG = Path("od_tools/demo/pipeline.config").resolve()
PACKAGE_NAMES = sorted(p.name for p in Path("od_tools/cloud_packages").iterdir())
ON_GCS = [
    "--override=train_input_reader.tf_record_input_reader.input_path=gs://shapes/data/train.tfrecord-*",
    "--override=train_input_reader.label_map_path=gs://shapes/data/label_map.pbtxt",
    "--override=eval_input_reader.tf_record_input_reader.input_path=gs://shapes/data/val.tfrecord-*",
    "--override=eval_input_reader.label_map_path=gs://shapes/data/label_map.pbtxt",
]


def cloud_job(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, BUILD_WORKING_DIRECTORY=str(tmp_path), TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([str(TOOL), "--project=my-proj", "--region=us-central1", "--bucket=shapes",
                           f"--pipeline_config_path={DEMO_CONFIG}", "--nocheck_remote_paths", *args],
                          capture_output=True, text=True, env=env)


def test_four_gpu_workers(tmp_path):
    result = cloud_job(tmp_path, *ON_GCS, "--accelerator=gpu", "--workers=4", "--job_name=shapes_gpu",
                       "--override=train_config.batch_size=32")
    assert result.returncode == 0, result.stderr[-3000:]
    job_dir = tmp_path / "cloud_jobs" / "shapes_gpu"
    spec = yaml.safe_load((job_dir / "job.yaml").read_text())
    assert schema_errors(spec) == []
    chief, workers = spec["workerPoolSpecs"]
    assert (chief["replicaCount"], workers["replicaCount"]) == (1, 3)
    package = chief["pythonPackageSpec"]
    assert package["pythonModule"] == "od_tools.train"
    assert package["args"] == ["--pipeline_config_path=gs://shapes/od_toolchain/jobs/shapes_gpu/pipeline.config",
                               "--model_dir=gs://shapes/od_toolchain/jobs/shapes_gpu/model"]
    names = [uri.rsplit("/", 1)[1] for uri in package["packageUris"]]
    assert names[-1].startswith("od_tools-") and sorted(names) == [n for n in PACKAGE_NAMES
                                                                   if n.endswith((".tar.gz", ".whl"))]
    assert len({uri.rsplit("/", 1)[0] for uri in package["packageUris"]}) == 1

    # The job trains with the overrides baked in: no override flags travel to the cloud.
    config = text_format.Parse((job_dir / "pipeline.config").read_text(), pipeline_pb2.TrainEvalPipelineConfig())
    assert config.train_config.batch_size == 32
    assert list(config.train_input_reader.tf_record_input_reader.input_path) == ["gs://shapes/data/train.tfrecord-*"]

    commands = [line.strip() for line in result.stdout.splitlines() if line.startswith("  ")]
    assert commands[0].startswith("gcloud storage cp ") and commands[0].endswith(
        package["packageUris"][0].rsplit("/", 1)[0] + "/")
    assert commands[1] == ("gcloud storage cp cloud_jobs/shapes_gpu/pipeline.config "
                           "gs://shapes/od_toolchain/jobs/shapes_gpu/pipeline.config")
    assert commands[2] == ("gcloud ai custom-jobs create --project=my-proj --region=us-central1 "
                           "--display-name=shapes_gpu --config=cloud_jobs/shapes_gpu/job.yaml")


def test_tpu_job(tmp_path):
    result = cloud_job(tmp_path, *ON_GCS, "--accelerator=tpu", "--output_dir=tpu_job")
    assert result.returncode == 0, result.stderr[-3000:]
    spec = yaml.safe_load((tmp_path / "tpu_job" / "job.yaml").read_text())
    (pool,) = spec["workerPoolSpecs"]
    assert pool["machineSpec"]["acceleratorType"] == "TPU_V3"
    assert pool["pythonPackageSpec"]["args"][-1] == "--tpu=local"
    assert spec["workerPoolSpecs"][0]["pythonPackageSpec"]["args"][1].startswith("--model_dir=gs://shapes/")


@pytest.mark.parametrize("args, messages", [
    ([], ["train_input_reader.tf_record_input_reader.input_path: 'bazel-bin/od_tools/demo/dataset/train",
          "is a path on this machine, which cloud workers cannot read",
          "--override train_input_reader.label_map_path=gs://"]),
    ([*ON_GCS, "--override=model.ssd.image_resizer.fixed_shape_resizer.height=300",
      "--override=model.ssd.image_resizer.fixed_shape_resizer.width=300"], ["300", "288 or 320"]),
    ([*ON_GCS, "--accelerator=gpu", "--workers=3", "--override=train_config.batch_size=16"],
     ["train_config.batch_size: 16 does not split evenly over 3 replicas"]),
    ([*ON_GCS, "--accelerator=tpu", "--workers=2"], ["a TPU job runs on one TPU VM"]),
])
def test_invalid_jobs_are_refused_and_write_nothing(tmp_path, args, messages):
    result = cloud_job(tmp_path, *args)
    assert result.returncode == 1
    error = result.stderr[result.stderr.index("cloud_job: error: "):]  # after TensorFlow's own log lines
    for message in messages:
        assert message in error
    assert not (tmp_path / "cloud_jobs").exists()

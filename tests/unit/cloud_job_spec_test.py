"""Vertex AI job specs: the right module, args and packages, in fields Google's discovery document
of the Vertex AI API (aiplatform.v1.json, shipped by the pinned google-api-python-client) knows."""

import pytest

from od_tools.cloud.vertex import JobRequest, custom_job_spec, gcloud_command
from od_tools.cloud.vertex_schema import discovery_schemas, schema_errors
from od_tools.common.errors import UserError

PACKAGES = (
    "gs://b/od_toolchain/packages/pycocotools-2.0.11.tar.gz",
    "gs://b/od_toolchain/packages/tf_models_official-2.20.0-py2.py3-none-any.whl",
    "gs://b/od_toolchain/packages/od_tools-0.1.0.tar.gz",
)
ARGS = ("--pipeline_config_path=gs://b/job/pipeline.config", "--model_dir=gs://b/job/model")


def request(**changes) -> JobRequest:
    values = dict(display_name="shapes_run1", accelerator="cpu", workers=1, package_uris=PACKAGES,
                  trainer_args=ARGS, base_output_dir="gs://b/job")
    values.update(changes)
    return JobRequest(**values)


def python_packages(spec):
    return [pool["pythonPackageSpec"] for pool in spec["workerPoolSpecs"]]


def test_one_cpu_worker():
    spec = custom_job_spec(request())
    assert schema_errors(spec) == []
    (pool,) = spec["workerPoolSpecs"]
    assert pool["replicaCount"] == 1
    assert pool["machineSpec"] == {"machineType": "n1-standard-8"}
    assert pool["pythonPackageSpec"]["pythonModule"] == "od_tools.train"
    assert pool["pythonPackageSpec"]["args"] == list(ARGS)
    assert pool["pythonPackageSpec"]["packageUris"] == list(PACKAGES)
    assert spec["baseOutputDirectory"] == {"outputUriPrefix": "gs://b/job"}


def test_four_gpu_workers_are_a_chief_and_three_workers():
    spec = custom_job_spec(request(accelerator="gpu", workers=4))
    assert schema_errors(spec) == []
    chief, workers = spec["workerPoolSpecs"]
    assert (chief["replicaCount"], workers["replicaCount"]) == (1, 3)
    for pool in (chief, workers):
        assert pool["machineSpec"] == {"machineType": "n1-standard-8", "acceleratorType": "NVIDIA_TESLA_T4",
                                       "acceleratorCount": 1}
    assert python_packages(spec)[0] == python_packages(spec)[1]
    assert python_packages(spec)[0]["pythonModule"] == "od_tools.train"
    assert python_packages(spec)[0]["args"] == list(ARGS)


def test_gpu_choices_are_honoured():
    spec = custom_job_spec(request(accelerator="gpu", workers=2, accelerator_type="NVIDIA_L4",
                                   accelerators_per_worker=2, machine_type="g2-standard-24"))
    assert spec["workerPoolSpecs"][1]["machineSpec"] == {
        "machineType": "g2-standard-24", "acceleratorType": "NVIDIA_L4", "acceleratorCount": 2}


def test_tpu_job_is_one_tpu_vm_with_tpu_strategy():
    spec = custom_job_spec(request(accelerator="tpu"))
    assert schema_errors(spec) == []
    (pool,) = spec["workerPoolSpecs"]
    assert pool["machineSpec"] == {"machineType": "cloud-tpu", "acceleratorType": "TPU_V3", "acceleratorCount": 8}
    assert pool["pythonPackageSpec"]["args"] == [*ARGS, "--tpu=local"]
    assert pool["pythonPackageSpec"]["packageUris"] == list(PACKAGES)


@pytest.mark.parametrize("changes, message", [
    (dict(accelerator="tpu", workers=2), "a TPU job runs on one TPU VM"),
    (dict(workers=0), "at least one worker"),
    (dict(display_name="My Job"), "lowercase letters"),
    (dict(base_output_dir="/tmp/out"), "must be a gs:// path"),
    (dict(package_uris=("/local/od_tools-0.1.0.tar.gz",)), "package URIs must be gs:// paths"),
    (dict(accelerator="gpu", accelerators_per_worker=0), "must be at least 1"),
])
def test_bad_requests(changes, message):
    with pytest.raises(UserError, match=message):
        custom_job_spec(request(**changes))


def test_schema_finds_misspelt_and_missing_fields():
    spec = {"workerPoolSpecs": [{
        "machineSpec": {"machinetype": "n1-standard-8", "acceleratorType": "NVIDIA_TESLA_T5"},
        "replicaCount": 0,
        "pythonPackageSpec": {"executorImageUri": "x", "packageUris": "gs://one"},
    }], "baseOutputDir": {}}
    errors = schema_errors(spec)
    assert "baseOutputDir: unknown CustomJobSpec field" in errors
    assert "workerPoolSpecs[0].machineSpec.machinetype: unknown MachineSpec field" in errors
    assert "workerPoolSpecs[0].machineSpec.machineType: required MachineSpec field is missing" in errors
    assert any(e.startswith("workerPoolSpecs[0].machineSpec.acceleratorType: NVIDIA_TESLA_T5 is not one of the API's "
                            "values (NVIDIA_TESLA_K80, ") for e in errors)
    assert "workerPoolSpecs[0].pythonPackageSpec.packageUris: expected a list" in errors
    assert "workerPoolSpecs[0].pythonPackageSpec.pythonModule: required PythonPackageSpec field is missing" in errors
    assert "workerPoolSpecs[0].replicaCount: must be a positive integer" in errors


def test_gcloud_command_is_quoted():
    assert gcloud_command("my-proj", "us-central1", "run 1", "/tmp/a b/job.yaml") == (
        "gcloud ai custom-jobs create --project=my-proj --region=us-central1 "
        "'--display-name=run 1' '--config=/tmp/a b/job.yaml'")


def test_the_schema_is_googles_discovery_document():
    schemas = discovery_schemas()
    # What this project never typed: the document's own fields and enum values.
    assert "NVIDIA_H200_141GB" in schemas["MachineSpec"]["properties"]["acceleratorType"]["enum"]
    assert schema_errors({"workerPoolSpecs": [{"machineSpec": {"machineType": "a3-highgpu-8g",
                                                               "acceleratorType": "NVIDIA_H200_141GB",
                                                               "acceleratorCount": 8},
                                               "replicaCount": "1",  # int64 as a JSON string
                                               "containerSpec": {"imageUri": "gcr.io/x/y"}}],
                          "scheduling": {"timeout": "3600s"}}) == []
    assert schema_errors({"workerPoolSpecs": [], "scheduling": {"timeout": 3600}}) == [
        "scheduling.timeout: expected a string"]

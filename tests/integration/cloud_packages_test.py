"""The cloud package set installs offline into a fresh venv and trains; a changed byte is refused.

This is what a cloud training machine does with the packages: pip-install them by hash with no
index (from the package set plus a wheelhouse of the lock's files), then run the OD API's own
`python -m object_detection.model_main_tf2` and the project's `python -m od_tools.train` on the
demo config and dataset outside the repository.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import tarfile
import urllib.parse
import venv
from pathlib import Path

import pytest

PACKAGES = Path("od_tools/cloud_packages")
DATASET = Path("od_tools/demo/dataset")
DEMO_CONFIG = Path("od_tools/demo/pipeline.config")
WHEELHOUSE_SUMS = next(p for p in (Path("../od_wheelhouse/dists/SHA256SUMS"),
                                   Path("external/od_wheelhouse/dists/SHA256SUMS")) if p.exists())
WHEELHOUSE = WHEELHOUSE_SUMS.parent


def clean_env(**extra: str) -> dict[str, str]:
    """No PYTHONPATH or Bazel runfiles variables: only the venv's own packages are importable."""
    keep = ("PATH", "HOME", "TMPDIR", "LANG", "PIP_CERT", "SSL_CERT_FILE")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_CACHE_DIR="1", **extra)
    return env


def pip_install(python: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-m", "pip", "install", "--no-index", "--require-hashes",
                           "--progress-bar=off", *args], capture_output=True, text=True, env=clean_env())


@pytest.fixture(scope="module")
def tmp_module(tmp_path_factory):
    return tmp_path_factory.mktemp("cloud")


@pytest.fixture(scope="module")
def trainer_venv(tmp_module) -> Path:
    venv.EnvBuilder(with_pip=True).create(tmp_module / "venv")
    python = tmp_module / "venv" / "bin" / "python3"
    links = (f"--find-links={PACKAGES.resolve()}", f"--find-links={WHEELHOUSE.resolve()}")
    # As the README says: the locked pip and build backend first, then everything.
    for requirements in ("build-requirements.txt", "requirements.txt"):
        result = pip_install(python, *links, "-r", str(PACKAGES / requirements))
        assert result.returncode == 0, requirements + "\n" + result.stdout[-3000:] + result.stderr[-3000:]
    return python


def test_package_set_lists_every_file_with_its_hash():
    import hashlib

    sums = dict(reversed(line.split("  ")) for line in (PACKAGES / "SHA256SUMS").read_text().splitlines())
    assert sorted(sums) == sorted(p.name for p in PACKAGES.iterdir() if p.name != "SHA256SUMS")
    for name, digest in sums.items():
        assert hashlib.sha256((PACKAGES / name).read_bytes()).hexdigest() == digest
    assert any(n.startswith("pycocotools-") and n.endswith(".tar.gz") for n in sums)
    assert any(n.startswith("tf_models_official-") and n.endswith(".whl") for n in sums)
    assert "object_detection-2.8.0.post1+tf2.20.tar.gz" in sums and "tf_slim-1.1.0+tf2.20.tar.gz" in sums
    requirements = (PACKAGES / "requirements.txt").read_text()
    assert "tf-slim==1.1.0+tf2.20 " in requirements and "tf-slim==1.1.0 " not in requirements


def extract(sdist: Path, folder: Path) -> Path:
    with tarfile.open(sdist) as tar:
        # The "data" filter where this Python has it (3.11.4+, and Debian's security updates).
        tar.extractall(folder, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    return next(folder.iterdir())


def test_the_trainer_runs_on_python_3_10(tmp_path):
    (sdist,) = PACKAGES.glob("od_tools-*.tar.gz")
    root = extract(sdist, tmp_path)
    assert (root / "od_tools/train.py").exists()
    for source in root.rglob("*.py"):
        ast.parse(source.read_text(), str(source), feature_version=(3, 10))  # Vertex AI's images are 3.10


def test_the_od_api_sdist_is_the_patched_one_with_compiled_protos(tmp_path):
    root = extract(next(PACKAGES.glob("object_detection-*.tar.gz")), tmp_path)
    protos = root / "object_detection/protos/pipeline_pb2.py"
    assert "AddSerializedFile" in protos.read_text()  # today's protoc, not the sdist's old modules
    assert "TF_USE_LEGACY_KERAS" in (root / "object_detection/__init__.py").read_text()
    assert "iteration_callback" in (root / "object_detection/model_lib_v2.py").read_text()


def test_installed_trainer_trains_the_demo_config(trainer_venv, tmp_module):
    work = tmp_module / "run"
    work.mkdir()
    dataset = DATASET.resolve()
    model_dir = work / "model"
    cmd = [str(trainer_venv), "-m", "od_tools.train",
           f"--pipeline_config_path={DEMO_CONFIG.resolve()}", f"--model_dir={model_dir}",
           f"--override=train_input_reader.tf_record_input_reader.input_path={dataset}/train.tfrecord-*",
           f"--override=train_input_reader.label_map_path={dataset}/label_map.pbtxt",
           f"--override=eval_input_reader.tf_record_input_reader.input_path={dataset}/val.tfrecord-*",
           f"--override=eval_input_reader.label_map_path={dataset}/label_map.pbtxt",
           "--override=train_config.batch_size=2", "--num_train_steps=2", "--checkpoint_every_n=2",
           "--noeval_on_train_end"]
    result = subprocess.run(cmd, cwd=work, capture_output=True, text=True,
                            env=clean_env(TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-4000:]
    # The OD API's checkpoints: at step 0, then at step 2.
    assert (model_dir / "ckpt-2.index").exists(), sorted(p.name for p in model_dir.iterdir())
    assert (model_dir / "checkpoint").exists() and (model_dir / "pipeline.config").exists()
    where = subprocess.run([str(trainer_venv), "-c", "import od_tools.train, object_detection, tf_slim; "
                            "print(od_tools.train.__file__, object_detection.__file__, tf_slim.__file__)"],
                           cwd=work, capture_output=True, text=True, env=clean_env())
    files = where.stdout.split()
    assert len(files) == 3 and all(str(tmp_module / "venv") in f for f in files), where.stdout + where.stderr


def test_installed_od_api_trains_with_its_own_command(trainer_venv, tmp_module):
    """`python -m object_detection.model_main_tf2`, as the tutorials run it on a cloud machine."""
    work = tmp_module / "model_main_tf2"
    work.mkdir()
    dataset = DATASET.resolve()
    # model_main_tf2 takes no overrides: the config itself points at the data, as a user's does.
    config = DEMO_CONFIG.read_text()
    config = re.sub(r'input_path: "[^"]*(train|val)\.tfrecord[^"]*"', rf'input_path: "{dataset}/\1.tfrecord-*"', config)
    config = re.sub(r'label_map_path: "[^"]*"', f'label_map_path: "{dataset}/label_map.pbtxt"', config)
    config = re.sub(r"(train_config \{\s*batch_size:) \d+", r"\1 2", config)
    assert config.count(str(dataset)) == 4 and "batch_size: 2" in config, config
    (work / "pipeline.config").write_text(config)
    model_dir = work / "model"
    cmd = [str(trainer_venv), "-m", "object_detection.model_main_tf2", "--pipeline_config_path=pipeline.config",
           f"--model_dir={model_dir}", "--num_train_steps=2", "--checkpoint_every_n=2", "--alsologtostderr"]
    result = subprocess.run(cmd, cwd=work, capture_output=True, text=True,
                            env=clean_env(TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-4000:]
    assert (model_dir / "ckpt-2.index").exists(), sorted(p.name for p in model_dir.iterdir())
    assert list((model_dir / "train").glob("events.out.tfevents.*")), "no TensorBoard summaries"


@pytest.mark.parametrize("prefix", ["od_tools-", "object_detection-", "tf_slim-", "pycocotools-",
                                    "tf_models_official-"])
def test_a_changed_byte_is_refused(tmp_path, prefix):
    tampered = tmp_path / "packages"
    shutil.copytree(PACKAGES, tampered)
    for path in tampered.iterdir():
        path.chmod(0o644)
    (target,) = tampered.glob(prefix + "*")
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    name = prefix.rstrip("-").replace("_", "-")
    lines = (tampered / "requirements.txt").read_text().split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(name + "=="))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("    --hash"))
    only = tmp_path / "only.txt"
    only.write_text("\n".join(lines[start:end]) + "\n")
    venv.EnvBuilder(with_pip=True).create(tmp_path / "venv")
    result = pip_install(tmp_path / "venv" / "bin" / "python3", "--no-deps", f"--find-links={tampered}",
                         "-r", str(only))
    assert result.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in result.stderr
    assert target.name in result.stderr or urllib.parse.quote(target.name) in result.stderr  # a file: URL

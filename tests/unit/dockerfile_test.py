"""The toolchain image's Dockerfile: hadolint-clean, every input pinned (base by digest, Debian packages
by version, Python packages by hash), no CA bundle baked in, a non-root user.

Building the image takes minutes and root (.ci/run does it); these checks read the files, so a
change that unpins the base, installs an unpinned package, bakes a CA bundle in or runs as root
fails in `bazel test` before any build.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

DOCKER = Path("docker")
DOCKERFILE = DOCKER / "Dockerfile"
BASE_DOCKERFILE = DOCKER / "base.Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"
REPO_IN_IMAGE = "/home/od/od_toolchain"
PREBUILT_VENVS = "/opt/venvs"
CA_HINTS = re.compile(r"ca_bundle|ca-certificates\.crt|\.pem\b|\.crt\b|PIP_CERT|SSL_CERT|REQUESTS_CA", re.I)


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, value) of every instruction, comments left out, line continuations joined."""
    parser = DockerfileParser(str(path))
    return [(i["instruction"], i["value"]) for i in parser.structure if i["instruction"] != "COMMENT"]


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE)


def values(dockerfile: list[tuple[str, str]], name: str) -> list[str]:
    return [value for instruction, value in dockerfile if instruction == name]


def host_packages() -> set[str]:
    """tools/debian_packages.txt: what ./bazelw installs on a host; the image needs the same."""
    lines = Path("tools/debian_packages.txt").read_text().splitlines()
    return {line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()}


def run_steps(dockerfile: list[tuple[str, str]]) -> list[str]:
    return values(dockerfile, "RUN")


def apt_install_packages(command: str) -> list[str]:
    """The package arguments of every `apt-get install` in a shell command line."""
    packages = []
    for part in re.split(r"&&|;|\|\|", command):
        words = shlex.split(part)
        if "apt-get" in words and "install" in words:
            packages += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    return packages


def hadolint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(HADOLINT), "--no-color", str(path)], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("path", [DOCKERFILE, BASE_DOCKERFILE], ids=str)
def test_hadolint_reports_nothing(path):
    result = hadolint(path)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_is_really_linting(tmp_path):
    # An unpinned apt package and root as the user: hadolint must object, or the test above
    # proves nothing.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:bookworm-slim\nRUN apt-get update && apt-get install -y curl\n")
    result = hadolint(bad)
    assert result.returncode != 0
    assert "DL3008" in result.stdout


def test_base_is_debian_bookworm_slim_pinned_by_digest(dockerfile):
    args = dict(value.split("=", 1) for value in values(dockerfile, "ARG") if "=" in value)
    assert values(dockerfile, "FROM") == ["${BASE}"]
    assert re.fullmatch(r"(docker\.io/library/)?debian:bookworm-slim@sha256:[0-9a-f]{64}", args["BASE"])
    # The ARG that selects the base comes before FROM, so --build-arg BASE=... can replace it.
    assert dockerfile.index(("ARG", "BASE=" + args["BASE"])) < dockerfile.index(("FROM", "${BASE}"))


def test_local_base_is_one_rootfs_layer():
    assert instructions(BASE_DOCKERFILE)[:2] == [("FROM", "scratch"), ("ADD", "rootfs.tar /")]


def test_every_apt_package_is_pinned_to_a_version(dockerfile):
    packages = [p for run in run_steps(dockerfile) for p in apt_install_packages(run)]
    names = {p.split("=")[0] for p in packages}
    assert host_packages() <= names, "the image lacks packages the host needs (tools/debian_packages.txt)"
    unpinned = [p for p in packages if not re.fullmatch(r"[a-z0-9.+-]+=[0-9][A-Za-z0-9.+~:-]*", p)]
    assert unpinned == []


def test_apt_lists_are_not_left_in_the_image(dockerfile):
    for run in run_steps(dockerfile):
        if apt_install_packages(run):
            assert "rm -rf /var/lib/apt/lists/*" in run


def test_runs_as_a_non_root_user_in_the_repository(dockerfile):
    user = values(dockerfile, "USER")[-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    assert values(dockerfile, "WORKDIR")[-1] == REPO_IN_IMAGE
    # The sources are copied to the WORKDIR and owned by that user, who must write there.
    assert f"--chown={user} . {REPO_IN_IMAGE}" in values(dockerfile, "COPY")
    assert re.search(rf"useradd --uid {uid}\b", " ".join(run_steps(dockerfile)))


def test_tensorboard_port_is_exposed_and_default_command_prints_usage(dockerfile):
    assert "6006" in values(dockerfile, "EXPOSE")
    cmd = values(dockerfile, "CMD")[-1]
    assert cmd.startswith("[")  # exec form
    assert f"{REPO_IN_IMAGE}/docker/welcome.txt" in cmd
    assert "bazel run //od_tools:export_tflite" in (DOCKER / "welcome.txt").read_text()


def workspace_venvs() -> dict[str, str]:
    """python_venv repository name -> lock path, as WORKSPACE declares them."""
    text = Path("WORKSPACE").read_text()
    found = re.findall(r'python_venv\(\s*name = "(\w+)",\s*lock = "//([\w/]*):([\w.]+)"', text)
    return {name: f"{package}/{file}" for name, package, file in found}


def test_venvs_are_made_from_the_workspace_locks_by_make_venv(dockerfile):
    venvs = workspace_venvs()
    assert set(venvs) == {"od_venv", "od_mobile_venv"}
    assert f"OD_PREBUILT_VENVS={PREBUILT_VENVS}" in values(dockerfile, "ENV")[0].split()
    copies, runs = values(dockerfile, "COPY"), run_steps(dockerfile)
    for name, lock in venvs.items():
        locks = f"{PREBUILT_VENVS}/locks/{name}/"
        assert f"tools/venv/make_venv.py {lock} {locks}" in copies
        make = f"python3 {locks}make_venv.py --lock {locks}requirements.lock --dest {PREBUILT_VENVS}/{name}"
        assert [r for r in runs if make in " ".join(r.split())], f"no RUN makes {name} from {lock}"


def test_layers_put_locks_before_sources(dockerfile):
    # Editing a source file must not reinstall TensorFlow: locks and venvs first, sources last.
    lock_copies = [i for i, (op, v) in enumerate(dockerfile) if op == "COPY" and "requirements.lock" in v]
    source_copy = dockerfile.index(("COPY", f"--chown=1000:1000 . {REPO_IN_IMAGE}"))
    assert lock_copies and max(lock_copies) < source_copy


def test_no_ca_bundle_is_baked_in(dockerfile):
    # The proxy CA reaches pip only as a build secret, for the RUN steps that install venvs.
    for op, value in dockerfile:
        if op in ("COPY", "ADD", "ENV", "ARG", "LABEL"):
            assert not CA_HINTS.search(value), f"{op} {value}"
        if op == "RUN" and "ca_bundle" in value:
            assert "--mount=type=secret,id=ca_bundle" in value
            assert "/run/secrets/ca_bundle" in value
            assert not re.search(r"\b(cp|mv|cat|tee|install)\b[^&;]*/run/secrets", value)
    ignore = Path(".dockerignore").read_text().split()
    assert {".git", "bazel-*"} <= set(ignore)


def test_build_script_stamps_the_image_with_the_dockerfiles_source_date_epoch(dockerfile):
    args = dict(value.split("=", 1) for value in values(dockerfile, "ARG") if "=" in value)
    script = (DOCKER / "build.sh").read_text()
    assert f"SOURCE_DATE_EPOCH={args['SOURCE_DATE_EPOCH']}\n" in script
    assert "--timestamp 0" in script

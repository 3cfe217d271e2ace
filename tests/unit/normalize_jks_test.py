"""docker/normalize_jks.py: JKS keystores that differ only in when entries were added become equal.

Uses the JDK's real keytool (a dependency of Debian's bazel-bootstrap) to make the keystores
and to verify the rewritten ones, so a wrong integrity digest fails here as it would in Java.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path("docker/normalize_jks.py")
KEYTOOL = shutil.which("keytool") or "keytool (the JDK that bazel-bootstrap depends on) is missing"
PASS = "changeit"
EPOCH = "1686355200"  # 2023-06-10 UTC


def keytool(*args: str, keystore: Path) -> str:
    result = subprocess.run([KEYTOOL, *args, "-keystore", str(keystore), "-storepass", PASS],
                            capture_output=True, text=True, check=True)
    return result.stdout


def normalize(keystore: Path, *args: str, epoch: str | None = EPOCH) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    if epoch is not None:
        env["SOURCE_DATE_EPOCH"] = epoch
    return subprocess.run([sys.executable, str(SCRIPT), str(keystore), *args],
                          capture_output=True, text=True, env=env, check=False)


@pytest.fixture(scope="module")
def keystores(tmp_path_factory) -> tuple[Path, Path]:
    """Two JKS stores with the same key and certificate, the certificate added at another time."""
    tmp = tmp_path_factory.mktemp("jks")
    first, cert = tmp / "first.jks", tmp / "me.der"
    keytool("-genkeypair", "-alias", "me", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=od",
            "-validity", "2", "-storetype", "JKS", "-keypass", PASS, keystore=first)
    keytool("-exportcert", "-alias", "me", "-file", str(cert), keystore=first)
    keytool("-importcert", "-noprompt", "-alias", "trusted", "-file", str(cert), keystore=first)
    second = tmp / "second.jks"
    shutil.copy(first, second)
    keytool("-delete", "-alias", "trusted", keystore=second)
    keytool("-importcert", "-noprompt", "-alias", "trusted", "-file", str(cert), keystore=second)
    return first, second


def test_stores_differing_only_in_dates_become_identical_and_stay_valid(keystores, tmp_path):
    first, second = (Path(shutil.copy(k, tmp_path / k.name)) for k in keystores)
    assert first.read_bytes() != second.read_bytes()
    for keystore in (first, second):
        result = normalize(keystore)
        assert result.returncode == 0, result.stderr
        assert "2 entries dated 1686355200" in result.stdout
    assert first.read_bytes() == second.read_bytes()
    # keytool checks the integrity digest on load: a wrong one is "Keystore was tampered with".
    listing = keytool("-list", "-v", keystore=first)
    assert listing.count("Creation date: Jun 10, 2023") == 2
    assert "Entry type: PrivateKeyEntry" in listing and "Entry type: trustedCertEntry" in listing


def test_wrong_password_changes_nothing(keystores, tmp_path):
    keystore = Path(shutil.copy(keystores[0], tmp_path / "ks.jks"))
    before = keystore.read_bytes()
    result = normalize(keystore, "--storepass", "wrong-password")
    assert result.returncode == 1
    assert result.stderr.strip() == (f"normalize_jks: {keystore}: integrity check failed: "
                                     "wrong store password or damaged keystore")
    assert keystore.read_bytes() == before


@pytest.mark.parametrize("content, message", [
    (b"not a keystore at all", "not a JKS keystore (bad magic number)"),
    (b"\xfe\xed\xfe\xed\x00\x00\x00\x02\x00\x00\x00\x05\x00\x00\x00\x02", "truncated keystore: an entry runs past the end of the file"),
])
def test_damaged_file_is_a_one_line_error(tmp_path, content, message):
    keystore = tmp_path / "bad.jks"
    keystore.write_bytes(content)
    result = normalize(keystore)
    assert result.returncode == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert keystore.read_bytes() == content


def test_needs_source_date_epoch(keystores, tmp_path):
    keystore = Path(shutil.copy(keystores[0], tmp_path / "ks.jks"))
    result = normalize(keystore, epoch=None)
    assert result.returncode == 1
    assert "set SOURCE_DATE_EPOCH" in result.stderr

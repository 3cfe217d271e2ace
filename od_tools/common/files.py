"""Reading text with one-line errors, and atomic output: a file or folder either appears complete
under its final name, or not at all.

Everything is written under a temporary name in the destination's own folder (so the final
rename stays on one filesystem and is atomic), then renamed into place. An interrupted or
failed run leaves no file that looks complete. A killed one (kill -9) leaves its hidden
temporary behind: the temporary's name holds the host and process that wrote it, and the next
run of the same output removes those whose process is gone.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Iterator

from od_tools.common.errors import UserError


def sha256(data: bytes) -> str:
    """The hex SHA-256 of a file's bytes, as reports and model cards record it."""
    return hashlib.sha256(data).hexdigest()


def is_url(path: str | os.PathLike[str]) -> bool:
    """gs://, s3://, hdfs://...: paths only TensorFlow's file system layer can open."""
    return "://" in str(path)


def _read_url(path: str) -> bytes:
    """A gs://... object through TensorFlow's file system layer, its errors as Python's."""
    import tensorflow as tf

    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    except tf.errors.NotFoundError as e:
        raise FileNotFoundError(errno.ENOENT, e.message) from e
    except tf.errors.OpError as e:
        raise OSError(errno.EIO, e.message) from e


def read_text(path: str | os.PathLike[str], what: str, *, error: type[UserError] = UserError,
              not_found_hint: str = "check the path", encoding: str = "utf-8") -> str:
    """A UTF-8 text file (`what`, e.g. "label map"), local or in a bucket, with one-line errors
    for the usual ways reading fails, raised as `error`."""
    try:
        if is_url(path):
            return _read_url(str(path)).decode(encoding)
        with open(path, encoding=encoding) as f:
            return f.read()
    except FileNotFoundError as e:
        raise error(f"{path}: {what} not found; {not_found_hint}") from e
    except IsADirectoryError as e:
        raise error(f"{path}: is a folder, expected the {what} file") from e
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); save the {what} as UTF-8") from e
    except OSError as e:
        raise error(f"{path}: cannot read the {what} ({e.strerror})") from e


def _writable_parent(path: Path) -> Path:
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{parent}: cannot create the output folder ({e.strerror}); choose a writable location") from e
    if not os.access(parent, os.W_OK):
        raise UserError(f"{parent}: output folder is not writable; choose a writable location")
    return parent


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0]) or "host"


def _temp_prefix(final: Path) -> str:
    """`.NAME.HOST-PID.`: hidden, and naming the process that owns the temporary."""
    return f".{final.name}.{_host()}-{os.getpid()}."


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def remove_stale_temporaries(final: Path) -> list[Path]:
    """Removes the temporaries of `final` left by killed runs on this host; returns them."""
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)\..*\.(tmp|old)$")
    removed = []
    try:
        siblings = list(final.parent.iterdir())
    except OSError:
        return removed
    for path in siblings:
        match = pattern.match(path.name)
        if match and match["host"] == _host() and _process_gone(int(match["pid"])):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yields a temporary path beside `path`; renames it to `path` only if the block succeeds."""
    final = Path(path)
    parent = _writable_parent(final)
    remove_stale_temporaries(final)
    fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(final), suffix=suffix + ".tmp", dir=parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Also to a bucket (gs://..., cloud training), through TensorFlow's file system layer, whose
    object stores publish an object whole when it is closed."""
    if is_url(path):
        import tensorflow as tf

        with tf.io.gfile.GFile(str(path), "w") as f:
            f.write(text)
        return Path(path)
    return write_bytes_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a fresh temporary folder that replaces `path` (if any) when the block succeeds."""
    final = Path(path)
    parent = _writable_parent(final)
    remove_stale_temporaries(final)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(final), suffix=".tmp", dir=parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=_temp_prefix(final), suffix=".old", dir=parent))
            os.replace(final, old / final.name)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

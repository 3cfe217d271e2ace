#!/usr/bin/env python3
"""Sets every entry date of a Java KeyStore (JKS) file to SOURCE_DATE_EPOCH.

    SOURCE_DATE_EPOCH=1686355200 python3 docker/normalize_jks.py /etc/ssl/certs/java/cacerts

Debian's ca-certificates-java (installed with Bazel's JDK) writes /etc/ssl/certs/java/cacerts
stamped with the time each certificate was added, the only file that made two builds of the
toolchain image differ. The dates are rewritten in place and the keystore's integrity digest
(SHA-1 over the store password, "Mighty Aphrodite" and the content) recomputed; the old digest
is checked first, so a wrong password or a damaged file changes nothing. Stdlib only.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import struct
import sys
import tempfile
from pathlib import Path

MAGIC = 0xFEEDFEED
PRIVATE_KEY, TRUSTED_CERT = 1, 2
DIGEST_SALT = b"Mighty Aphrodite"


class KeystoreError(ValueError):
    pass


def _integrity_digest(password: str, content: bytes) -> bytes:
    return hashlib.sha1(password.encode("utf-16-be") + DIGEST_SALT + content).digest()


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def skip_utf(self) -> None:
        length = self.take(">H")
        self.pos += length

    def skip_blob(self) -> None:
        length = self.take(">I")
        self.pos += length


def date_offsets(data: bytes) -> list[int]:
    """Byte offsets of the 8-byte creation date of each entry, in file order."""
    try:
        return _date_offsets(_Reader(data))
    except struct.error as e:
        raise KeystoreError("truncated keystore: an entry runs past the end of the file") from e


def _date_offsets(reader: _Reader) -> list[int]:
    data = reader.data
    if reader.take(">I") != MAGIC:
        raise KeystoreError("not a JKS keystore (bad magic number)")
    version = reader.take(">I")
    if version not in (1, 2):
        raise KeystoreError(f"unsupported JKS version {version}")
    offsets = []
    for _ in range(reader.take(">I")):
        tag = reader.take(">I")
        reader.skip_utf()  # alias
        offsets.append(reader.pos)
        reader.pos += 8
        if tag == PRIVATE_KEY:
            reader.skip_blob()
            chain = reader.take(">I")
        elif tag == TRUSTED_CERT:
            chain = 1
        else:
            raise KeystoreError(f"unknown entry type {tag}")
        for _ in range(chain):
            if version == 2:
                reader.skip_utf()  # certificate type
            reader.skip_blob()
    if len(data) - reader.pos != 20:
        raise KeystoreError("truncated keystore or trailing bytes after the entries")
    return offsets


def normalize(data: bytes, password: str, millis: int) -> bytes:
    """The keystore with every entry dated `millis` (ms since the epoch), digest recomputed."""
    offsets = date_offsets(data)
    content, digest = data[:-20], data[-20:]
    if _integrity_digest(password, content) != digest:
        raise KeystoreError("integrity check failed: wrong store password or damaged keystore")
    out = bytearray(content)
    for offset in offsets:
        struct.pack_into(">Q", out, offset, millis)
    return bytes(out) + _integrity_digest(password, bytes(out))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("keystore", type=Path)
    parser.add_argument("--storepass", default="changeit", help="the keystore's password (Debian's default)")
    args = parser.parse_args(argv)
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if not epoch.isdigit():
        print("normalize_jks: set SOURCE_DATE_EPOCH to the time (seconds) to stamp the entries with",
              file=sys.stderr)
        return 1
    try:
        data = normalize(args.keystore.read_bytes(), args.storepass, int(epoch) * 1000)
    except (OSError, KeystoreError) as e:
        print(f"normalize_jks: {args.keystore}: {e}", file=sys.stderr)
        return 1
    mode = args.keystore.stat().st_mode & 0o7777
    with tempfile.NamedTemporaryFile(dir=args.keystore.parent, delete=False) as tmp:
        tmp.write(data)
    os.chmod(tmp.name, mode)
    os.replace(tmp.name, args.keystore)
    print(f"normalize_jks: {args.keystore}: {len(date_offsets(data))} entries dated {epoch}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

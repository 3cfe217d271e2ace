#!/usr/bin/env python3
"""Proves that a CA bundle given to docker/build.sh --ca-bundle left nothing in the image.

    docker/check_no_ca_bundle.py --image od_toolchain:latest --ca-bundle /etc/ssl/certs/ca-certificates.crt

Reads every layer of the image in podman's local storage (as root) and fails when any file in
any layer is the bundle itself or holds one of its private certificates: those neither in the
image's own Debian bundle nor among the public roots of the host's Debian ca-certificates
(/usr/share/ca-certificates), i.e. the intercepting proxy's CA. (Public roots are everywhere in
the image: pip, certifi and gRPC each ship their own copies.) Checks its own search on the bundle
first, so a search that could never match cannot pass. Stdlib only: runs with the host's python3.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

PEM = re.compile(r"-----BEGIN CERTIFICATE-----\n(.*?)-----END CERTIFICATE-----", re.S)
IMAGE_BUNDLE = "etc/ssl/certs/ca-certificates.crt"
PUBLIC_ROOTS = Path("/usr/share/ca-certificates")


def certificates(text: str) -> dict[str, list[str]]:
    """PEM body -> its base64 lines, for every certificate in a bundle."""
    return {body: body.split() for body in PEM.findall(text)}


def layer_dirs(image: str) -> list[Path]:
    """The image's layer folders in podman's overlay storage, top layer first."""
    out = subprocess.run(["podman", "image", "inspect", image], capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)[0]["GraphDriver"]["Data"]
    lower = [d for d in data.get("LowerDir", "").split(":") if d]
    return [Path(d) for d in [data["UpperDir"], *lower]]


def files_matching(dirs: list[Path], patterns: list[str]) -> list[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
        f.write("\n".join(patterns) + "\n")
        f.flush()
        result = subprocess.run(["grep", "-rlF", "-f", f.name, *map(str, dirs)], capture_output=True, text=True)
    if result.returncode not in (0, 1):
        raise SystemExit(f"check_no_ca_bundle: grep failed: {result.stderr.strip()}")
    return result.stdout.split()


def same_file(dirs: list[Path], bundle: bytes) -> list[str]:
    digest = hashlib.sha256(bundle).hexdigest()
    return [str(p) for d in dirs for p in d.rglob("*")
            if p.is_file() and not p.is_symlink() and p.stat().st_size == len(bundle)
            and hashlib.sha256(p.read_bytes()).hexdigest() == digest]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True)
    parser.add_argument("--ca-bundle", type=Path, required=True)
    args = parser.parse_args(argv)
    bundle = args.ca_bundle.read_bytes()
    dirs = layer_dirs(args.image)
    shipped = next((d / IMAGE_BUNDLE for d in dirs if (d / IMAGE_BUNDLE).is_file()), None)
    if shipped is None:
        raise SystemExit(f"check_no_ca_bundle: {args.image} has no /{IMAGE_BUNDLE} to compare with")
    public = set(certificates(shipped.read_text()))
    for path in sorted(PUBLIC_ROOTS.rglob("*.crt")):
        public |= set(certificates(path.read_text()))
    extra = set(certificates(bundle.decode())) - public
    # Two whole base64 lines of each private certificate: distinctive, and grep -F finds them.
    patterns = sorted({line for body in extra for line in body.split()[2:4]})
    if patterns and not files_matching([args.ca_bundle], patterns):
        raise SystemExit("check_no_ca_bundle: the search does not even match the bundle itself")
    found = same_file(dirs, bundle) + (files_matching(dirs, patterns) if patterns else [])
    print(f"check_no_ca_bundle: {args.image}: {len(dirs)} layers, {len(extra)} certificates of "
          f"{args.ca_bundle} are private; the bundle or one of them is in {len(found)} files")
    for path in found:
        print(f"  {path}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

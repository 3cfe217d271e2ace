#!/usr/bin/env bash
# Builds the od_toolchain image (docker/Dockerfile) and prints its digest.
#
#   docker/build.sh [--tag NAME] [--base IMAGE] [--ca-bundle PATH] [--no-cache]
#   bazel run //docker:build -- [same flags]
#
# Engine: a Docker engine when `docker info` answers, else podman/buildah (installed with apt
# when missing and running as root).
# Base: the Dockerfile's digest-pinned Debian bookworm slim image. When it can be neither found
# locally nor pulled (no registry reachable), the same kind of base is made here with mmdebstrap
# from Debian's archive (reproducibly: fixed SOURCE_DATE_EPOCH, minbase variant, slim dpkg
# excludes), imported as localhost/od-debian-base:bookworm-slim and passed by its digest.
# --ca-bundle PATH: a CA bundle for pip behind an intercepting HTTPS proxy, given to the build as
#   a secret (mounted for the pip steps only, in no layer of the image).
# --no-cache: rebuild every layer (the pip download cache is kept; it is in no layer either).
# Reproducible: with buildah, two builds of the same tree give the same image digest.
set -euo pipefail
source "${BUILD_WORKSPACE_DIRECTORY:-$(dirname "${BASH_SOURCE[0]}")/..}/docker/lib.sh"

# The one time stamp of the build (Debian 12's release day); changing it changes every layer.
SOURCE_DATE_EPOCH=1686355200
LOCAL_BASE=localhost/od-debian-base:bookworm-slim
DEBIAN_MIRROR=${OD_DEBIAN_MIRROR:-http://deb.debian.org}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit "${1:-2}"; }

tag=od_toolchain:latest base="" ca_bundle="" no_cache=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tag) tag=${2:?--tag needs a name}; shift 2 ;;
    --base) base=${2:?--base needs an image}; shift 2 ;;
    --ca-bundle) ca_bundle=${2:?--ca-bundle needs a file}; shift 2 ;;
    --no-cache) no_cache=(--no-cache); shift ;;
    -h|--help) usage 0 ;;
    *) od_log "unknown argument: $1"; usage ;;
  esac
done

root=$(od_repo_root)
dockerfile="$root/docker/Dockerfile"
if [[ -n "$ca_bundle" ]]; then
  [[ -f "$ca_bundle" ]] || od_die "--ca-bundle $ca_bundle: no such file; pass your proxy's CA bundle (PEM)"
  ca_bundle=$(realpath "$ca_bundle")
fi
engine=$(od_engine)
[[ "$engine" == podman ]] && od_podman_conf

# Makes the Debian bookworm slim base from Debian's archive and prints a reference to it.
make_local_base() {
  command -v mmdebstrap >/dev/null 2>&1 || od_install_missing mmdebstrap
  [[ "$(id -u)" -eq 0 ]] || od_die "no image registry is reachable, and making the Debian base" \
    "locally (mmdebstrap) needs root; or pass --base with an image you have"
  local dir ref
  dir=$(mktemp -d)
  od_log "no registry: making the Debian bookworm slim base with mmdebstrap from $DEBIAN_MIRROR"
  SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH mmdebstrap --quiet --variant=minbase --mode=root --format=tar \
    --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    bookworm "$dir/rootfs.tar" \
    "deb $DEBIAN_MIRROR/debian bookworm main" \
    "deb $DEBIAN_MIRROR/debian bookworm-updates main" \
    "deb $DEBIAN_MIRROR/debian-security bookworm-security main" >&2
  if [[ "$engine" == podman ]]; then
    buildah bud --quiet --isolation chroot --timestamp 0 -f "$root/docker/base.Dockerfile" \
      -t "$LOCAL_BASE" "$dir" >/dev/null
    ref="${LOCAL_BASE%%:*}@$(podman image inspect --format '{{.Digest}}' "$LOCAL_BASE")"
  else
    # A Docker engine gives local images no digest to pin until they are pushed: use the tag.
    docker build -q -f "$root/docker/base.Dockerfile" -t "${LOCAL_BASE#localhost/}" "$dir" >/dev/null
    ref="${LOCAL_BASE#localhost/}"
  fi
  rm -rf "$dir"
  echo "$ref"
}

if [[ -z "$base" ]]; then
  base=$(sed -n 's/^ARG BASE=//p' "$dockerfile")
  [[ -n "$base" ]] || od_die "$dockerfile: no 'ARG BASE=' line"
  if ! "$engine" image inspect "$base" >/dev/null 2>&1 && ! timeout 300 "$engine" pull -q "$base" >/dev/null 2>&1; then
    base=$(make_local_base)
  fi
fi
od_log "engine $engine, base $base"

build_args=(--build-arg "BASE=$base" --build-arg "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH" -f "$dockerfile" -t "$tag")
[[ -n "$ca_bundle" ]] && build_args+=(--secret "id=ca_bundle,src=$ca_bundle")
started=$SECONDS
if [[ "$engine" == podman ]]; then
  buildah bud --isolation chroot --layers --timestamp 0 "${no_cache[@]}" "${build_args[@]}" "$root" >&2
  read -r image_id digest < <(podman image inspect --format '{{.Id}} {{.Digest}}' "$tag")
  size=$(podman image inspect --format '{{.Size}}' "$tag")
else
  DOCKER_BUILDKIT=1 docker build "${no_cache[@]}" "${build_args[@]}" "$root" >&2
  image_id=$(docker image inspect --format '{{.Id}}' "$tag")
  image_id=${image_id#sha256:}
  digest="(none until pushed; docker push prints it)"
  size=$(docker image inspect --format '{{.Size}}' "$tag")
fi
od_log "built $tag in $((SECONDS - started)) s, $((size / 1000000)) MB"
echo "image $tag"
echo "id sha256:$image_id"
echo "digest $digest"

# Shared by docker/build.sh and docker/run.sh (sourced, not run): which container engine to use
# and how to make podman work on a bare Debian machine.

# Debian packages the podman path needs; installed on first use when running as root.
OD_PODMAN_PACKAGES=(podman buildah runc mmdebstrap)

od_log() { echo "docker/$(basename "$0"): $*" >&2; }
od_die() { od_log "error: $*"; exit 1; }

# The repository root, also under `bazel run` (which starts in the runfiles tree).
od_repo_root() {
  if [[ -n "${BUILD_WORKSPACE_DIRECTORY:-}" ]]; then
    echo "$BUILD_WORKSPACE_DIRECTORY"
  else
    (cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  fi
}

# Prints `docker` when a Docker engine answers, else `podman` (installing it if needed).
od_engine() {
  if command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; then
    echo docker
    return
  fi
  od_install_missing "${OD_PODMAN_PACKAGES[@]}"
  echo podman
}

od_install_missing() {
  local missing=() pkg
  for pkg in "$@"; do
    command -v "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return
  if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    od_die "no Docker engine answers and ${missing[*]} is missing: install Docker, or run" \
      "sudo apt-get install -y ${OD_PODMAN_PACKAGES[*]}"
  fi
  od_log "installing ${missing[*]} (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# podman as root on machines without CAP_SYS_RESOURCE and with hybrid cgroups: runc (crun
# fails there) and ulimits within what root may set. The file is made here, not by hand, so a
# fresh machine needs nothing else.
od_podman_conf() {
  local dir="${TMPDIR:-/tmp}/od_toolchain-podman"
  mkdir -p "$dir"
  cat >"$dir/containers.conf" <<'EOF'
# Written by docker/lib.sh; used through CONTAINERS_CONF by docker/build.sh and docker/run.sh.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
EOF
  export CONTAINERS_CONF="$dir/containers.conf"
}

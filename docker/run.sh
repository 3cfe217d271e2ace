#!/usr/bin/env bash
# Runs a container of the od_toolchain image with the engine docker/build.sh uses:
#
#   docker/run.sh [RUN OPTIONS...] IMAGE [COMMAND...]
#   docker/run.sh --rm -it -p 6006:6006 od_toolchain:latest bash
#
# The arguments go to `docker run` or `podman run` unchanged; with podman the container gets
# runc and explicit ulimits (docker/lib.sh), which machines like CI's need.
set -euo pipefail
source "${BUILD_WORKSPACE_DIRECTORY:-$(dirname "${BASH_SOURCE[0]}")/..}/docker/lib.sh"

engine=$(od_engine)
[[ "$engine" == podman ]] && od_podman_conf
exec "$engine" run "$@"

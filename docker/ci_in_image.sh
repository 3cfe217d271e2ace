#!/usr/bin/env bash
# What .ci/run runs inside the toolchain image, as its non-root user with the network off, to
# prove the image is self-contained: the fast tests, then the demo export.
#
#   docker/run.sh --rm --network=none od_toolchain:latest docker/ci_in_image.sh
set -uo pipefail

started=$SECONDS
step() { echo "=== docker/ci_in_image.sh: $* ($((SECONDS - started)) s) ==="; }

status=0
step "as $(id -un) (uid $(id -u)) in $PWD"
if [[ "$(id -u)" -eq 0 ]]; then
  echo "docker/ci_in_image.sh: running as root; the image must run as its own user" >&2
  status=1
fi
if getent hosts pypi.org >/dev/null 2>&1; then
  echo "docker/ci_in_image.sh: the network is on; run the container with --network=none" >&2
  status=1
fi

step "fast tests: bazel test //... --test_tag_filters=-slow"
bazel test //... --test_tag_filters=-slow || status=$?

step "demo export: bazel run //od_tools:export_tflite"
if ! targets=$(bazel query //od_tools:all 2>/dev/null); then
  echo "docker/ci_in_image.sh: bazel query //od_tools:all failed" >&2
  status=1
elif grep -qx //od_tools:export_tflite <<<"$targets"; then
  bazel run //od_tools:export_tflite || status=$?
else
  echo "docker/ci_in_image.sh: //od_tools:export_tflite does not exist yet; export skipped"
fi

step "done, status $status"
bazel shutdown
exit "$status"

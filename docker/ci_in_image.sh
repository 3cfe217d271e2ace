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

# --build_tests_only: build what the fast tests need, not every target of //... (the demo detector
# and the cloud packages' 1 GB wheelhouse, which the image leaves out, belong to slow tests).
step "fast tests: bazel test //... --build_tests_only --test_tag_filters=-slow"
bazel test //... --build_tests_only --test_tag_filters=-slow || status=$?

# The main job with no flags: the demo dataset, detector and export built inside the image, then
# the Android assets written into the source tree.
step "demo export: bazel run //od_tools:export_tflite"
assets=android_demo/app/src/main/assets
if bazel run //od_tools:export_tflite; then
  for file in detect.tflite labelmap.txt model_card.json; do
    if [[ ! -s "$assets/$file" ]]; then
      echo "docker/ci_in_image.sh: the export did not write $assets/$file" >&2
      status=1
    fi
  done
else
  status=1
fi

step "done, status $status"
bazel shutdown
exit "$status"

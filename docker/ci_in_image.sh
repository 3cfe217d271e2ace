#!/usr/bin/env bash
# What .ci/run runs inside the toolchain image, as its non-root user with the network off, to
# prove the image is self-contained: the fast tests, then the engine trained and exported.
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

# The engine end to end, offline: the demo dataset, the demo config trained 40 steps by the OD
# API's TF2 loop through //od_tools:train, then exported with its parity check and Android assets
# by //od_tools:export_tflite_tool (the export tool without the demo export in its runfiles). The
# full 800-step demo export runs in the host's tests; training it again here would cost CI about
# 9 minutes for the same code path.
step "engine: demo config, 40 steps with //od_tools:train, then //od_tools:export_tflite_tool"
work=$(mktemp -d)
if bazel build //od_tools/demo:dataset &&
   bazel run //od_tools:train -- --pipeline_config_path=od_tools/demo/pipeline.config \
     --model_dir="$work/model" --num_train_steps=40 --deterministic &&
   bazel run //od_tools:export_tflite_tool -- --trained_checkpoint_dir="$work/model" \
     --output_directory="$work/export" --quantization=float32 --num_parity_images=20; then
  for file in detect_float32.tflite labelmap.txt report.json android/detect.tflite; do
    if [[ ! -s "$work/export/$file" ]]; then
      echo "docker/ci_in_image.sh: the export did not write $work/export/$file" >&2
      status=1
    fi
  done
else
  status=1
fi
rm -rf "$work"

step "done, status $status"
bazel shutdown
exit "$status"

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

# The tutorial's commands, offline, as the tutorials write them, then the project's tools on what
# they wrote: the OD API's model_main_tf2 trains the demo config 2 steps, export_tflite_graph_tf2
# exports its model_dir; //od_tools:train resumes that model_dir to step 40 (the project reads
# the OD API's checkpoints), TensorBoard serves its summaries, and //od_tools:export_tflite
# exports it with the parity check and Android assets (with flags, the tool never builds the
# demo). The full demo export runs in the host's tests; training it again here would cost CI
# minutes for the same code path.
step "tutorial: model_main_tf2 2 steps, export_tflite_graph_tf2, //od_tools:train to 40, TensorBoard, export"
work=$(mktemp -d)
config=od_tools/demo/pipeline.config
check_files() {
  for file in "$@"; do
    if [[ ! -s "$file" ]]; then
      echo "docker/ci_in_image.sh: $file was not written" >&2
      status=1
    fi
  done
}
serves_runs() {  # TensorBoard on port 6006 lists the model_dir's runs
  tensorboard --logdir "$1" --port 6006 >"$work/tensorboard.log" 2>&1 &
  local pid=$! ok=1
  for _ in $(seq 30); do
    if python3 -c 'import json, sys, urllib.request
runs = json.load(urllib.request.urlopen("http://localhost:6006/data/runs", timeout=2))
sys.exit(0 if "train" in runs else 1)' 2>/dev/null; then ok=0; break; fi
    sleep 1
  done
  kill "$pid" 2>/dev/null
  [[ $ok -eq 0 ]] || { echo "docker/ci_in_image.sh: TensorBoard did not serve $1" >&2; cat "$work/tensorboard.log" >&2; }
  return $ok
}
if bazel build //od_tools/demo:dataset &&
   step "python -m object_detection.model_main_tf2" &&
   python -m object_detection.model_main_tf2 --pipeline_config_path="$config" --model_dir="$work/model" \
     --num_train_steps=2 --alsologtostderr 2>"$work/model_main_tf2.log" &&
   step "python -m object_detection.export_tflite_graph_tf2" &&
   python -m object_detection.export_tflite_graph_tf2 --pipeline_config_path="$config" \
     --trained_checkpoint_dir="$work/model" --output_directory="$work/tflite_graph" 2>"$work/export_tflite_graph.log" &&
   step "//od_tools:train, resuming the model_main_tf2 model_dir" &&
   bazel run //od_tools:train -- --pipeline_config_path="$config" \
     --model_dir="$work/model" --num_train_steps=40 --deterministic &&
   step "TensorBoard" && serves_runs "$work/model" &&
   step "//od_tools:export_tflite" &&
   bazel run //od_tools:export_tflite -- --trained_checkpoint_dir="$work/model" \
     --output_directory="$work/export" --quantization=float32 --num_parity_images=20 &&
   step "//od_tools:detect on the demo's val pictures" &&
   bazel run //od_tools:detect -- --model="$work/export/detect_float32.tflite" \
     --source="$(bazel info bazel-bin)/od_tools/demo/dataset/coco/images/val" --output_dir="$work/found"; then
  check_files "$work/tflite_graph/saved_model/saved_model.pb" "$work/model/ckpt-1.index"
  check_files "$work"/export/{detect_float32.tflite,labelmap.txt,report.json,android/detect.tflite}
  check_files "$work"/found/{detections.json,images.json,summary.json}
else
  tail -20 "$work"/*.log >&2
  status=1
fi
rm -rf "$work"

step "done, status $status"
bazel shutdown
exit "$status"

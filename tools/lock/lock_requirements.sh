#!/usr/bin/env bash
# Regenerates the hash-locked requirements from their .in files:
#   third_party/requirements.in         -> third_party/requirements.lock         (the TF venv)
#   third_party/mobile/requirements.in  -> third_party/mobile/requirements.lock  (MediaPipe's venv)
#
# Usage: tools/lock/lock_requirements.sh [--upgrade]
#
# pip-compile (itself pinned by hash in tools/lock/requirements.lock) resolves with pip's own
# resolver for this machine's Python 3.11, which honours Requires-Python upper bounds, and
# records the sha256 of every distribution file of each pinned version. Only pypi.org is asked:
# local pip settings (extra indexes, find-links) must not leak into the lock. Takes ~5 minutes
# (pip downloads each wheel once to hash it). The next Bazel command rebuilds the venvs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="${OD_PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), "lock with Python 3.11, found " + sys.version' \
  || { echo "lock_requirements: set OD_PYTHON to a Python 3.11 interpreter" >&2; exit 1; }

export PIP_CONFIG_FILE=/dev/null
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_INDEX_URL
cert_args=()
if [[ -r /etc/ssl/certs/ca-certificates.crt ]]; then
  # Proxies that intercept TLS add their CA to the system bundle, not to pip's certifi bundle.
  cert_args=(--cert /etc/ssl/certs/ca-certificates.crt)
fi

"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install -q "${cert_args[@]}" --require-hashes --no-deps \
  -r "$root/tools/lock/requirements.lock"

export CUSTOM_COMPILE_COMMAND="tools/lock/lock_requirements.sh"
for in_file in third_party/requirements.in third_party/mobile/requirements.in; do
  echo "lock_requirements: resolving $in_file" >&2
  (cd "$root/$(dirname "$in_file")" && "$work/venv/bin/pip-compile" --quiet \
    --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
    --index-url https://pypi.org/simple "${cert_args[@]}" "$@" \
    --output-file requirements.lock requirements.in)
done
echo "lock_requirements: done; review 'git diff third_party/' and run ./bazelw test //..." >&2

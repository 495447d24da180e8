#!/usr/bin/env bash
# The GPU device check, one command, under 8 minutes on a data-centre GPU (see device_check.py for what it measures):
#
#   benchmarks/perf/device_check.sh [--sage-weights PATH] [--json results.json]   # on a machine with a CUDA GPU
#   benchmarks/perf/device_check.sh --dry                                         # CPU, toy sizes: checks it runs
#
# Runs from any directory; uses $PYTHON, else the repository's .venv, else python3.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="${PYTHON:-}"
if [[ -z "$py" ]]; then
  if [[ -x "$repo/.venv/bin/python" ]]; then py="$repo/.venv/bin/python"; else py="python3"; fi
fi
export YOLO_OFFLINE=1
limit=480  # the whole GPU check; --dry (two loaded CPU cores) is left unbounded, each section has its own limit
for arg in "$@"; do [[ "$arg" == "--dry" ]] && limit=0; done
if (( limit )); then
  exec timeout --signal=INT "$limit" "$py" "$here/device_check.py" "$@"
fi
exec "$py" "$here/device_check.py" "$@"

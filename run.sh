#!/usr/bin/env bash
# The main job: set up whatever is missing, then run the disturbed-push task in sim, headless.
# Extra arguments go to `ftrl sim-batch` (e.g. ./run.sh --episodes 20 --noise).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")" && pwd)
"$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
export MUJOCO_GL=${MUJOCO_GL:-egl}
exec "$ROOT/scripts/isolated.sh" "$ROOT/.venv/bin/python" -m ftrl_ros.cli sim-batch --task disturbed_push "$@"

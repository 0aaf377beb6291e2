#!/usr/bin/env bash
# Rewrite requirements/constraints.txt from the current venv (after changing base.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
{ echo "# Exact versions for every package in the venv (pip freeze). Regenerate: scripts/freeze.sh"
  .venv/bin/pip list --format=freeze --exclude-editable 2>/dev/null \
    | grep -v -i -e '^ftrl' -e '^mujoco.robot.environments' -e '^pip==' -e '^setuptools==' \
    | sed 's/^torch==\(.*\)+cpu$/torch==\1/'
} > requirements/constraints.txt

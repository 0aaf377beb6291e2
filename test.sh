#!/usr/bin/env bash
# The tests: set up whatever is missing, then run pytest inside the isolated network namespace.
# Extra arguments go to pytest (e.g. ./test.sh -k sim -x).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")" && pwd)
"$ROOT/scripts/bootstrap.sh" --test || exit 1
cd "$ROOT"
export MUJOCO_GL=${MUJOCO_GL:-egl}
echo "test.sh: ruff check and ruff format --check (ruff.toml), mypy (mypy.ini)"
"$ROOT/.venv/bin/ruff" check --no-cache ftrl_ros launch test scripts
lint=$?
"$ROOT/.venv/bin/ruff" format --check --no-cache ftrl_ros launch test scripts || lint=1
"$ROOT/.venv/bin/mypy" --cache-dir /dev/null ftrl_ros || lint=1
"$ROOT/scripts/isolated.sh" "$ROOT/.venv/bin/python" -m pytest -p no:cacheprovider --durations=25 "$@"
rc=$?
if [ "$lint" != 0 ] && [ "$rc" = 0 ]; then
  echo "test.sh: the tests passed but ruff or mypy found problems (above)" >&2
  rc=1
fi
if [ "$rc" = 5 ]; then
  echo "test.sh: pytest collected no tests -- that is a failure, not a pass" >&2
  exit 1
fi
exit "$rc"

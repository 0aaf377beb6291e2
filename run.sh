#!/usr/bin/env bash
# The main job: set up whatever is missing, then run the disturbed-push stack in sim, headless:
# every ROS 2 node of `ros2 launch ftrl_ros disturbed_push.launch.py` (sim instead of camera and
# arm), fine-tuning online with the world-model safety filter, for $EPISODES episodes (default 10),
# then a summary table and chart. Extra arguments go to `ftrl launch` (e.g. --record true).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")" && pwd)
"$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
export MUJOCO_GL=${MUJOCO_GL:-egl}
exec "$ROOT/scripts/isolated.sh" "$ROOT/.venv/bin/python" -m ftrl_ros.cli launch disturbed_push --quiet \
  --show episode_manager --show trajectory_logger --show ppo_learner --summary \
  --set "episode_manager.max_episodes=${EPISODES:-10}" "$@"

"""FailureBench: the paper's four Meta-World v3 tasks with intervention-requiring failures,
registered as Gymnasium envs ``FTRL/FailureBench-<Task>-v0`` (500-step time limit, as
Meta-World's) when this package is imported; Meta-World itself loads on first ``make``."""

from __future__ import annotations

import gymnasium as gym

from ..tasks.failurebench import ENV_IDS, TASKS

for _name, _env_id in ENV_IDS.items():
    if _env_id not in gym.registry:
        gym.register(_env_id, entry_point="ftrl_ros.failurebench.envs:FailureBenchEnv", kwargs={"task": _name}, max_episode_steps=500)

__all__ = ["ENV_IDS", "TASKS"]

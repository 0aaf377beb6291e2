"""The three sim tasks as Gymnasium environments, registered with their time limits.

import gymnasium as gym, ftrl_ros.sim.envs
env = gym.make("FTRL/DisturbedPush-v0")
"""

from __future__ import annotations

import gymnasium as gym

from ...tasks import TASKS
from ..env import TaskEnv
from .bounded_soccer import BoundedSoccerEnv
from .disturbed_push import DisturbedPushEnv
from .fragile_push_wall import FragilePushWallEnv

_CLASSES = {"disturbed_push": DisturbedPushEnv, "fragile_push_wall": FragilePushWallEnv, "bounded_soccer": BoundedSoccerEnv}
"""The MuJoCo env of each task in ``tasks.TASKS``."""
ENV_IDS = {task: f"FTRL/{cls.__name__.removesuffix('Env')}-v0" for task, cls in _CLASSES.items()}
"""Gymnasium ids: FTRL/DisturbedPush-v0 ..."""

for _task, _id in ENV_IDS.items():
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=f"{__name__}:{_CLASSES[_task].__name__}", max_episode_steps=TASKS[_task].max_episode_steps)


def make_task_env(task: str, **kwargs) -> TaskEnv:
    """The bare robot-task env (no gymnasium wrappers), typed: benchmarks and tools that reach its
    MuJoCo model, camera or spec."""
    env = make(task, **kwargs).unwrapped
    assert isinstance(env, TaskEnv), f"{task} is not a MuJoCo robot task"
    return env


def make(task: str, **kwargs) -> gym.Env:
    """``gym.make`` by task name (``disturbed_push`` ...), time limit included; ``fb_<task>``
    makes a FailureBench env (Meta-World v3)."""
    if task.startswith("fb_"):
        from ...failurebench import ENV_IDS as FB_IDS

        name = task[3:]
        if name not in FB_IDS:
            raise KeyError(f"unknown FailureBench task {task!r}; known: {sorted('fb_' + t for t in FB_IDS)}")
        return gym.make(FB_IDS[name], **kwargs)
    if task not in ENV_IDS:
        raise KeyError(f"unknown task {task!r}; known: {sorted(ENV_IDS)}")
    return gym.make(ENV_IDS[task], **kwargs)


__all__ = ["ENV_IDS", "make", "DisturbedPushEnv", "FragilePushWallEnv", "BoundedSoccerEnv"]

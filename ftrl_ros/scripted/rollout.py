"""Run a policy for one episode and summarise it: used by the demo job, the tests and the
demo collectors, so they all count success / IR failure the same way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import gymnasium as gym
import numpy as np


@dataclass
class EpisodeResult:
    seed: int
    ret: float = 0.0
    steps: int = 0
    success: bool = False
    """Ever reached the target (success test true at some step)."""
    ir_failure: bool = False
    recovered_at: int | None = None
    """First step at which ``spec.recovered`` held (only tracked when asked)."""
    frames: list = field(default_factory=list)


def run_episode(
    env: gym.Env,
    policy: Callable[[np.ndarray], np.ndarray],
    seed: int,
    start: str = "nominal",
    max_steps: int | None = None,
    track_recovery: bool = False,
    render_every: int = 0,
) -> EpisodeResult:
    state, info = env.reset(seed=seed, options={"start": start})
    if hasattr(policy, "reset"):
        policy.reset()
    task_env: Any = env.unwrapped  # a TaskEnv or a FailureBench env: both carry spec_task, render_rgbd
    spec = task_env.spec_task
    res = EpisodeResult(seed=seed)
    if render_every:
        res.frames.append(task_env.render_rgbd()[0])
    while True:
        state, reward, terminated, truncated, info = env.step(policy(state))
        res.steps += 1
        res.ret += float(reward)
        res.success |= bool(info["success"])
        res.ir_failure |= bool(info["ir_failure"])
        if render_every and res.steps % render_every == 0:
            res.frames.append(task_env.render_rgbd()[0])
        if track_recovery and res.recovered_at is None and not res.ir_failure and spec.recovered(state):
            res.recovered_at = res.steps
            break
        if terminated or truncated or (max_steps is not None and res.steps >= max_steps):
            break
    return res

"""Benchmark: policy steps per second without rendering, and RGB-D render rate at 640x480 --
with the arm's visual meshes as the sim draws them (simplified on a 4 mm grid, ``sim/mesh_lod.py``)
and, for comparison, as menagerie ships them.

Each figure is the median of several runs. Targets (issue 2): >= 500 policy steps/s on one
core, >= 25 RGB-D frames/s.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from ..sim.envs import ENV_IDS, make_task_env
from ..sim.world import VISUAL_MESH_CELL


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repeats", type=int, default=5, help="runs per figure; the median is reported")
    p.add_argument("--steps", type=int, default=300, help="policy steps per run")
    p.add_argument("--frames", type=int, default=30, help="RGB-D frames per run")


def policy_steps_per_second(task: str, steps: int, seed: int) -> float:
    env = make_task_env(task)  # no wrappers: measure the simulator, not gymnasium's checkers
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    actions = rng.uniform(-1, 1, (steps, 2))
    elapsed = 0.0
    for a in actions:
        t0 = time.perf_counter()
        _, _, terminated, _, _ = env.step(a)
        elapsed += time.perf_counter() - t0
        if terminated or env.steps >= env.spec_task.max_episode_steps:
            env.reset()
    env.close()
    return steps / elapsed


def rgbd_fps(task: str, frames: int, seed: int, visual_mesh_cell: float = VISUAL_MESH_CELL) -> float:
    env = make_task_env(task, render_mode="rgbd_array", visual_mesh_cell=visual_mesh_cell)
    env.reset(seed=seed)
    env.render_rgbd()  # create the GL context outside the timing
    t0 = time.perf_counter()
    for _ in range(frames):
        rgb, depth = env.render_rgbd()
    fps = frames / (time.perf_counter() - t0)
    assert rgb.shape == (480, 640, 3) and depth.shape == (480, 640)
    env.close()
    return fps


def run(args: argparse.Namespace) -> int:
    import os

    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the target says
    except (AttributeError, OSError):
        pass
    print(f"MUJOCO_GL={os.environ.get('MUJOCO_GL')}, median of {args.repeats} runs, pinned to one core")
    print(f"{'task':<20} {'policy steps/s':>15} {'RGB-D fps (640x480)':>20} {'... arm as shipped':>20}")
    ok = True
    for task in ENV_IDS:
        sps = statistics.median(policy_steps_per_second(task, args.steps, s) for s in range(args.repeats))
        fps = statistics.median(rgbd_fps(task, args.frames, s) for s in range(args.repeats))
        full = statistics.median(rgbd_fps(task, args.frames, s, visual_mesh_cell=0.0) for s in range(args.repeats))
        ok &= sps >= 500 and fps >= 25
        print(f"{task:<20} {sps:>15.0f} {fps:>20.1f} {full:>20.1f}")
    print("targets: >= 500 policy steps/s, >= 25 fps:", "met" if ok else "NOT met")
    return 0

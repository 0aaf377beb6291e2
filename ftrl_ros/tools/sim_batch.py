"""The main job (for now): a headless batch of sim episodes driven by the scripted expert.

Prints one line per episode (return, success, IR failure), writes a GIF of the first episode and
a summary.json into a fresh run folder under ``runs/``.
"""

from __future__ import annotations

import argparse
import sys
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..scripted.experts import EXPERTS
from ..utils.noise import BurstNoisePolicy
from ..scripted.rollout import run_episode
from ..sim.envs import ENV_IDS, make
from ..utils.atomic import atomic_path, atomic_write_text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default="disturbed_push", choices=sorted(ENV_IDS))
    p.add_argument("--episodes", type=int, default=10, help="number of episodes (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    p.add_argument("--noise", action="store_true", help="add exploration bursts to the expert")
    p.add_argument("--runs-dir", default="runs", help="parent folder of the run folder")
    p.add_argument("--no-video", action="store_true", help="skip rendering the GIF")


def write_gif(path: Path, frames: list[np.ndarray], fps: int = 5) -> None:
    import imageio.v3 as iio

    small = [f[::2, ::2] for f in frames]  # 320x240 keeps the file small
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, small, duration=int(1000 / fps), loop=0)


def run(args: argparse.Namespace) -> int:
    if args.episodes < 1:
        raise SystemExit("--episodes must be >= 1")
    run_dir = Path(args.runs_dir) / time.strftime(f"%Y%m%d-%H%M%S-{args.task}")
    run_dir.mkdir(parents=True, exist_ok=True)
    env = make(args.task, render_mode=None if args.no_video else "rgb_array")
    expert = EXPERTS[args.task]()
    policy = BurstNoisePolicy(expert, np.random.default_rng(args.seed)) if args.noise else expert
    print(f"task {args.task}: {args.episodes} episodes, scripted expert{' + exploration bursts' if args.noise else ''}")
    print(f"{'episode':>7} {'seed':>5} {'steps':>5} {'return':>8} {'success':>7} {'IR failure':>10}")
    results = []
    for i in tqdm(range(args.episodes), desc="episodes", leave=False, disable=not sys.stderr.isatty()):
        res = run_episode(env, policy, seed=args.seed + i, render_every=0 if (args.no_video or i) else 1)
        results.append(res)
        tqdm.write(f"{i:>7} {res.seed:>5} {res.steps:>5} {res.ret:>8.2f} {str(res.success):>7} {str(res.ir_failure):>10}")
        if res.frames:
            write_gif(run_dir / "episode_0.gif", res.frames)
    env.close()
    summary = {
        "task": args.task,
        "episodes": args.episodes,
        "noise": bool(args.noise),
        "success_rate": float(np.mean([r.success for r in results])),
        "ir_failure_rate": float(np.mean([r.ir_failure for r in results])),
        "mean_return": float(np.mean([r.ret for r in results])),
        "episodes_detail": [
            {"seed": r.seed, "steps": r.steps, "return": r.ret, "success": r.success, "ir_failure": r.ir_failure} for r in results
        ],
    }
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
    print(f"success {summary['success_rate']:.0%}  IR failures {summary['ir_failure_rate']:.0%}  mean return {summary['mean_return']:.1f}")
    print(f"run folder: {run_dir}" + ("" if args.no_video else f"  (video: {run_dir / 'episode_0.gif'})"))
    return 0

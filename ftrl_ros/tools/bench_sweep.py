"""What a Ray sweep costs against the local loop, and what a run costs at each budget.

The same bench-farl runs (FailureBench, tuning seeds >= 100, never reported) three ways, each into
its own scratch folder: the local loop (``bench-farl`` without ``--ray``), a Ray instance started
here with 1 CPU (one run at a time, as the local loop: the difference is Ray's own overhead --
start-up, scheduling, shipping each run's files back), and Ray with every core (what a user gets).
Target: <= 5 % extra wall time at equal concurrency (medians of ``--repeats`` alternating pairs). Then the hours of one run at the short
(4x10^4 steps), failurebench (2x10^5) and paper (10^6) budgets, from these runs' measured time per
training step and per evaluation episode (one run uses about one core), and what a sweep costs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .bench_farl import BUDGETS, run_dir
from .sweep import LOCAL_RAY, connect

PAPER_STEPS = 1_000_000
SWEEP_RUNS = 6 * 4 * 3  # the paper's grid: 6 methods x 4 tasks x 3 seeds


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default="fb_bounded_push")
    p.add_argument("--methods", default="farl,uni_o4")
    p.add_argument("--seeds", default="100,101", help="tuning seeds (never reported)")
    p.add_argument("--episodes", type=int, default=4, help="online episodes per run (500 steps each on FailureBench)")
    p.add_argument("--eval-episodes", type=int, default=1)
    p.add_argument(
        "--repeats", type=int, default=2, help="local / Ray-1-CPU pairs, in alternating order (this VM's timing noise is ~10 %%)"
    )
    p.add_argument("--out", default="", help="JSON of the figures (optional)")


def _bench_args(args: argparse.Namespace, out: Path, ray: str | None) -> argparse.Namespace:
    from . import bench_farl

    p = argparse.ArgumentParser()
    bench_farl.add_arguments(p)
    argv = ["--suite", "failurebench", "--budget", "short", "--tasks", args.task, "--methods", args.methods, "--seeds", args.seeds]
    argv += ["--episodes", str(args.episodes), "--eval-episodes", str(args.eval_episodes), "--envs", "1", "--out", str(out)]
    return p.parse_args(argv + (["--ray", ray] if ray else []))


def _sweep(args: argparse.Namespace, ray: str | None, cpus: int | None) -> tuple[float, list[dict]]:
    from . import bench_farl

    with tempfile.TemporaryDirectory(prefix="ftrl-bench-sweep-") as tmp:
        a = _bench_args(args, Path(tmp), ray)
        if ray:
            import ray as ray_lib

            ray_lib.shutdown()
            connect(LOCAL_RAY, num_cpus=cpus)  # started before the clock: a cluster is up before a sweep
        t0 = time.perf_counter()
        rc = bench_farl.run(a)
        wall = time.perf_counter() - t0
        if rc:
            raise SystemExit(f"the sweep failed (exit {rc})")
        runs = [
            json.loads((run_dir(Path(tmp), "short", args.task, m, int(s)) / "result.json").read_text())
            for m in args.methods.split(",")
            for s in args.seeds.split(",")
        ]
    return wall, runs


def run(args: argparse.Namespace) -> int:
    import os

    cores = os.cpu_count() or 1
    print(f"{args.task}: methods {args.methods}, seeds {args.seeds}, {args.episodes} episodes per run, {cores} cores", flush=True)
    local_s: list[float] = []
    ray1_s: list[float] = []
    for r in range(args.repeats):  # alternating order: a slow minute of the VM does not favour one side
        for ray in (None, LOCAL_RAY) if r % 2 == 0 else (LOCAL_RAY, None):
            wall, got = _sweep(args, ray, 1 if ray else None)
            (ray1_s if ray else local_s).append(wall)
            if not ray:
                runs = got
    rayn, _ = _sweep(args, LOCAL_RAY, cores)
    local, ray1 = float(np.median(local_s)), float(np.median(ray1_s))
    n = len(runs)
    print(f"\n{'sweep of ' + str(n) + ' runs':<34} {'wall s (each repeat)':>28} {'median':>8} {'vs local':>9}")
    print(f"{'local loop':<34} {', '.join(f'{x:.1f}' for x in local_s):>28} {local:>8.1f} {'':>9}")
    print(f"{'Ray, 1 CPU (same concurrency)':<34} {', '.join(f'{x:.1f}' for x in ray1_s):>28} {ray1:>8.1f} {ray1 / local - 1:>+9.1%}")
    print(f"{f'Ray, {cores} CPUs':<34} {f'{rayn:.1f}':>28} {rayn:>8.1f} {rayn / local - 1:>+9.1%}")

    eval_eps = 4 * args.eval_episodes  # before / after, with / without the filter
    per_step = sum(r["time"]["train_s"] for r in runs) / sum(r["env_steps"] for r in runs)
    per_eval_episode = sum(r["time"]["eval_s"] for r in runs) / (n * eval_eps)
    budgets = {"short": BUDGETS["short"]["total_steps"], "failurebench": BUDGETS["failurebench"]["total_steps"], "paper": PAPER_STEPS}
    print(f"\nmeasured: {per_step * 1e3:.2f} ms per training step (policy, filter, env, PPO), ", end="")
    print(f"{per_eval_episode:.1f} s per evaluation episode")
    print(f"{'budget':<14} {'steps':>9} {'h per run':>10} {'h, 72-run sweep':>16} {'on 1 machine of ' + str(cores) + ' cores':>26}")
    rows = {}
    for name, steps in budgets.items():
        hours = (steps * per_step + 40 * per_eval_episode) / 3600  # bench-farl evaluates 10 episodes x 4
        rows[name] = {"steps": steps, "hours_per_run": hours, "cpu_hours_sweep": hours * SWEEP_RUNS}
        print(f"{name:<14} {steps:>9} {hours:>10.2f} {hours * SWEEP_RUNS:>16.0f} {hours * SWEEP_RUNS / cores:>23.0f} h")
    print(f"(N machines of {cores} cores: divide the last column by N; a run uses about one core)")
    if args.out:
        from ..utils.atomic import atomic_write_bytes

        fig: dict[str, Any] = {"runs": n, "local_s": local_s, "ray_1cpu_s": ray1_s, "ray_all_s": rayn, "cores": cores}
        fig |= {"ms_per_step": per_step * 1e3, "s_per_eval_episode": per_eval_episode, "budgets": rows, "args": vars(args)}
        atomic_write_bytes(args.out, json.dumps(fig, indent=1).encode())
    return 0

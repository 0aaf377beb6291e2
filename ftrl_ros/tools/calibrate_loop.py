"""eps_safe and the switch's debounce chosen in closed loop (``learning.closed_loop``): the offline
task policy with its exploration noise, in sim, behind each candidate filter, against a budget
of false takeovers per episode. Prints the table; ``--write`` puts the choice into the bundle.

    ftrl calibrate-loop --task fragile_push_wall                 # table only
    ftrl calibrate-loop --task fb_bounded_push --budget 1 --write
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..learning.bundle import load_task_bundle, save_bundle
from ..learning.closed_loop import ClosedLoopConfig, apply_choice, calibrate_closed_loop
from ..learning.methods import FILTERED
from ..learning.offline import write_metrics
from ..learning.vec_env import VecTaskEnv
from ..sim.envs import ENV_IDS
from ..tasks import get_task
from ..tasks.failurebench import PREFIX
from ..tasks.failurebench import TASKS as FB_TASKS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, choices=sorted(ENV_IDS) + sorted(PREFIX + t for t in FB_TASKS))
    p.add_argument("--method", default="farl", choices=[m for m in FILTERED if m != "mppi"], help="whose threshold is chosen")
    p.add_argument("--model", default=None, help="bundle (default: the shipped one of the task)")
    p.add_argument("--episodes", type=int, default=ClosedLoopConfig.episodes)
    p.add_argument("--budget", type=float, default=ClosedLoopConfig.budget, help="false takeovers per episode")
    p.add_argument("--envs", type=int, default=8, help="simulated robots in parallel")
    p.add_argument("--write", action="store_true", help="put the chosen eps_safe / debounce into the bundle (atomically)")
    p.add_argument("--out", default=None, help="also write the table as JSON here")


def model_path(task: str, model: str | None) -> Path:
    from ..utils.paths import package_dir

    if model:
        return Path(model)
    return package_dir("models") / ("failurebench" if task.startswith(PREFIX) else "") / f"{task}.pt"


def run(args: argparse.Namespace) -> int:
    path = model_path(args.task, args.model)
    bundle = load_task_bundle(args.task, path)
    cfg = ClosedLoopConfig(episodes=args.episodes, budget=args.budget)
    dt = get_task(args.task).control_dt
    with VecTaskEnv(args.task, args.envs, n_workers=min(2, args.envs)) as vec:
        res = calibrate_closed_loop(bundle, args.method, vec, dt, cfg, progress=lambda m: print(f"[{args.task}] {m}", flush=True))
    c = res["chosen"]
    print(
        f"[{args.task}] chosen: eps_safe {c['eps_safe']:.3f} (offline {res['offline_eps_safe']:.3f}), confirm {c['confirm_steps']}, "
        f"hold {c['hold_steps']} decisions at {1 / dt:.0f} Hz: {c['failure_episodes']}/{res['episodes']} failure episodes "
        f"(no filter: {res['twin_failure_episodes']}), {c['false_takeovers_per_episode']:.2f} false takeovers/episode "
        f"({'within' if res['within_budget'] else 'OVER'} the budget of {res['budget']:g})"
    )
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2))
    if args.write:
        b = apply_choice(bundle, res)
        save_bundle(path, b)
        write_metrics(path, b.metrics)
        print(f"[{args.task}] wrote {path}")
    return 0

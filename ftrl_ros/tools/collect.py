"""Collect demonstrations in sim into <data-dir>/<task>/<kind>/ep_*.npz.

Kinds: task (scripted expert + mild noise), recovery (recovery controller from near-failure
starts), failure (a trained task policy + exploration bursts; only failing episodes are kept --
needs --model). ``ftrl train-offline`` collects whatever is missing by itself.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from ..learning.bundle import load_bundle
from ..learning.collect import CollectConfig, collect_failure_demos, collect_recovery_demos, collect_task_demos
from ..learning.safety import policy_mean_fn
from ..sim.envs import ENV_IDS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, choices=sorted(ENV_IDS))
    p.add_argument("--kind", required=True, choices=["task", "recovery", "failure"])
    p.add_argument("--episodes", type=int, default=None, help="task/recovery episodes (defaults: 40 / 120)")
    p.add_argument("--transitions", type=int, default=20000, help="failure demos: failing transitions to keep")
    p.add_argument("--model", default=None, help="failure demos: bundle whose task policy explores")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    cfg = CollectConfig(seed=args.seed, failure_transitions=args.transitions)
    if args.episodes is not None:
        if args.episodes < 1:
            raise SystemExit("--episodes must be >= 1")
        cfg = replace(cfg, task_episodes=args.episodes, recovery_episodes=args.episodes)
    out = Path(args.data_dir) / args.task / f"{args.kind}_demo"
    if args.kind == "task":
        eps = collect_task_demos(args.task, out, cfg)
    elif args.kind == "recovery":
        eps = collect_recovery_demos(args.task, out, cfg)
    else:
        if not args.model:
            raise SystemExit("--kind failure needs --model (a bundle from `ftrl train-offline`)")
        eps, run_count = collect_failure_demos(args.task, out, policy_mean_fn(load_bundle(args.model).task_policy), cfg)
        print(f"ran {run_count} episodes, {len(eps)} failed")
    print(f"wrote {len(eps)} episodes ({sum(len(e) for e in eps)} steps) to {out}")
    return 0

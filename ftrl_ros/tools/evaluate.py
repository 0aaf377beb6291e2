"""Evaluate a bundle's task policy (deterministic) with a method's safety filter, next to the
scripted expert on the same seeds: ``ftrl evaluate --task bounded_soccer --method farl``."""

from __future__ import annotations

import argparse

import numpy as np

from ..learning.bundle import load_task_bundle
from ..learning.methods import METHODS
from ..learning.online import evaluate_both
from ..learning.vec_env import VecTaskEnv
from ..scripted.experts import EXPERTS
from ..scripted.rollout import run_episode
from ..sim.envs import ENV_IDS, make
from ..tasks.failurebench import PREFIX
from ..tasks.failurebench import TASKS as FB_TASKS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, choices=sorted(ENV_IDS) + sorted(PREFIX + t for t in FB_TASKS))
    p.add_argument("--method", default="farl", choices=METHODS)
    p.add_argument("--model", default=None, help="bundle (default models/<task>.pt)")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--seed", type=int, default=10_000)
    p.add_argument("--envs", type=int, default=4, help="simulated robots in parallel")


def expert_return(task: str, episodes: int, seed: int) -> float:
    env = make(task)
    return float(np.mean([run_episode(env, EXPERTS[task](), seed=seed + i).ret for i in range(episodes)]))


def run(args: argparse.Namespace) -> int:
    bundle = load_task_bundle(args.task, args.model)
    with VecTaskEnv(args.task, args.envs, n_workers=min(2, args.envs)) as vec:
        both = evaluate_both(bundle, args.method, vec, [args.seed + i for i in range(args.episodes)])
    ref = expert_return(args.task, args.episodes, args.seed)
    for name, res in (("task policy alone", both["plain"]), (f"behind the {args.method} filter", both["filtered"])):
        print(
            f"{args.task} (policy version {bundle.version}), {name}: return {res['return']:.1f} "
            f"({100 * res['return'] / ref:.0f} % of the scripted expert's {ref:.1f}), success {res['success']:.0%}, "
            f"IR failures {res['ir_failure']:.0%}, recovery steps/episode {res['recovery_steps']:.1f}"
        )
    return 0

"""Offline phase for one or all sim tasks: collect demos (reused if the data folder has them),
train task policy, recovery policy, world model and Recovery-RL critic, pick eps_safe on held-out
data, and write ``models/<task>.pt`` (+ ``.json`` with every figure measured on the way).

The shipped models were built with:  ftrl train-offline --task all
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..learning.offline import OfflineConfig, pretrain, recalibrate
from ..sim.envs import ENV_IDS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default="all", choices=["all", *sorted(ENV_IDS)])
    p.add_argument("--data-dir", default="data", help="demos go to <data-dir>/<task>/<kind>/ep_*.npz")
    p.add_argument("--models-dir", default="models", help="bundles go to <models-dir>/<task>.pt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--recalibrate", action="store_true",
                   help="only choose eps_safe again for the existing bundles (same held-out split)")


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    tasks = sorted(ENV_IDS) if args.task == "all" else [args.task]
    for task in tasks:
        cfg = OfflineConfig(seed=args.seed)
        if args.recalibrate:
            recalibrate(task, Path(args.data_dir) / task, Path(args.models_dir) / f"{task}.pt", cfg)
            continue
        pretrain(task, Path(args.data_dir) / task, Path(args.models_dir) / f"{task}.pt", cfg, log=lambda m: print(m, flush=True))
    return 0

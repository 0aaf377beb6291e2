"""Offline phase for one or all sim tasks: collect demos (reused if the data folder has them),
train task policy, recovery policy, world model and Recovery-RL critic, pick eps_safe on held-out
data, and write ``models/<task>.pt`` (+ ``.json`` with every figure measured on the way).

The shipped models were built with:  ftrl train-offline --task all
FailureBench's (Meta-World) with:      ftrl train-offline --task failurebench   (-> models/failurebench/)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from ..tasks.failurebench import TASKS as FB_TASKS
from ..learning.offline import OfflineConfig, pretrain, recalibrate, scaled
from ..sim.envs import ENV_IDS
from ..utils.tensorboard import EventLog

FB_NAMES = [f"fb_{t}" for t in sorted(FB_TASKS)]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--task",
        default="all",
        choices=["all", *sorted(ENV_IDS), "failurebench", *FB_NAMES],
        help="all: the three robot tasks; failurebench: the four Meta-World ones",
    )
    p.add_argument(
        "--data-dir",
        "--data",
        default="data",
        help="demos in <data-dir>/<task>/<kind>/ep_*.npz are used (ftrl bag-to-dataset writes them); missing kinds are collected in sim",
    )
    p.add_argument(
        "--models-dir", default=None, help="bundles go to <models-dir>/<task>.pt (default models/, FailureBench models/failurebench/)"
    )
    p.add_argument("--scale", type=float, default=1.0, help="shrink every count and training step (smoke runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--recalibrate", action="store_true", help="only choose eps_safe again for the existing bundles (same held-out split)")
    p.add_argument(
        "--log-dir",
        default="runs/train_offline",
        help="TensorBoard event files of every loss and figure go to <log-dir>/<task>-<date-time>/ (tensorboard --logdir runs)",
    )


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    tasks = {"all": sorted(ENV_IDS), "failurebench": FB_NAMES}.get(args.task, [args.task])
    for task in tasks:
        if task.startswith("fb_"):
            from ..learning.failurebench_config import offline_config

            cfg, models = offline_config(args.seed, args.scale), Path(args.models_dir or "models/failurebench")
        else:
            cfg, models = scaled(OfflineConfig(seed=args.seed), args.scale), Path(args.models_dir or "models")
        models.mkdir(parents=True, exist_ok=True)
        if args.recalibrate:
            recalibrate(task, Path(args.data_dir) / task, models / f"{task}.pt", cfg)
            continue
        with EventLog(Path(args.log_dir) / f"{task}-{time.strftime('%Y%m%d-%H%M%S')}") as events:
            pretrain(task, Path(args.data_dir) / task, models / f"{task}.pt", cfg, log=lambda m: print(m, flush=True), scalars=events)
            print(f"[{task}] TensorBoard: {events.folder}", flush=True)
    return 0

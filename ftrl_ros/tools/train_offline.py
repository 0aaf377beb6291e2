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
from ..utils.atomic import atomic_write_bytes, atomic_write_folder, read_folder
from ..utils.tensorboard import EventLog
from .sweep import Done, Job, add_ray_options, run_sweep

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
    lands = "bundles land in --models-dir on this machine; demos are read or collected in --data-dir as the worker sees it"
    add_ray_options(p, "task", lands)
    p.add_argument(
        "--log-dir",
        default="runs/train_offline",
        help="TensorBoard event files of every loss and figure go to <log-dir>/<task>-<date-time>/ (tensorboard --logdir runs)",
    )


def config_for(task: str, args: argparse.Namespace) -> tuple[OfflineConfig, Path]:
    """The task's offline settings and the folder its bundle goes to."""
    if task.startswith("fb_"):
        from ..learning.failurebench_config import offline_config

        return offline_config(args.seed, args.scale), Path(args.models_dir or "models/failurebench")
    return scaled(OfflineConfig(seed=args.seed), args.scale), Path(args.models_dir or "models")


def packed_task(task: str, args: argparse.Namespace) -> dict[str, bytes]:
    """The offline phase of one task in a scratch folder, returned as files (bundle, its json, the
    TensorBoard events) for the driver to land: on a Ray worker as on this machine."""
    import tempfile

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg, _ = config_for(task, args)
    with tempfile.TemporaryDirectory(prefix="ftrl-offline-") as tmp:
        with EventLog(Path(tmp) / "events") as events:
            pretrain(task, Path(args.data_dir) / task, Path(tmp) / f"{task}.pt", cfg, log=lambda m: print(m, flush=True), scalars=events)
        return read_folder(tmp)


def land_task(args: argparse.Namespace, stamp: str):
    def land(done: Done) -> str:
        task = done.job.args[0]
        files, (_, models) = dict(done.output), config_for(task, args)
        atomic_write_bytes(models / f"{task}.pt", files.pop(f"{task}.pt"))
        atomic_write_bytes(models / f"{task}.json", files.pop(f"{task}.json"))
        events = Path(args.log_dir) / f"{task}-{stamp}"
        atomic_write_folder(events, {k.removeprefix("events/"): v for k, v in files.items()})
        return f"[{task}] saved {models / f'{task}.pt'}; TensorBoard: {events}"

    return land


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    tasks = {"all": sorted(ENV_IDS), "failurebench": FB_NAMES}.get(args.task, [args.task])
    if args.recalibrate:
        for task in tasks:
            cfg, models = config_for(task, args)
            recalibrate(task, Path(args.data_dir) / task, models / f"{task}.pt", cfg)
        return 0
    args.data_dir = str(Path(args.data_dir).resolve())  # a Ray worker may start in another folder
    jobs = [Job(task, (task, args)) for task in tasks]
    failed = run_sweep(jobs, packed_task, land_task(args, time.strftime("%Y%m%d-%H%M%S")), args.ray, args.cpus_per_run)
    return 1 if failed else 0

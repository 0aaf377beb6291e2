"""Speed of the learning core: the safety-filter decision at batch 1 on CPU (task policy sample +
encode + H-step latent rollout + recovery policy), p50/p99 over many states; and the offline
pre-training time of the three models per task (recorded by ``ftrl train-offline``, or measured
again from the demos in --data-dir with --retrain). Targets: p50 <= 2 ms; <= 10 min per task."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from ..learning.bundle import load_bundle
from ..learning.dataset import load_folder
from ..learning.decide import Decider
from ..sim.envs import ENV_IDS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models-dir", default="models")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--decisions", type=int, default=2000)
    p.add_argument("--threads", type=int, default=1, help="torch threads for the latency figure")
    p.add_argument("--retrain", action="store_true", help="time the offline training again (needs --data-dir)")


def decision_latency(bundle, states: np.ndarray, n: int) -> np.ndarray:
    decider = Decider(bundle, "farl", eps_safe=-1.0)
    decider.eps_safe = -1.0  # every proposal flagged: both policies run, the worst case
    times = []
    for i in range(n + 50):
        s = states[i % len(states)][None]
        t0 = time.perf_counter()
        decider.act(s)
        times.append(time.perf_counter() - t0)
    return np.array(times[50:]) * 1e3


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    print(f"safety-filter decision, batch 1, {args.threads} torch thread(s), {args.decisions} decisions per task")
    print(f"{'task':<20} {'p50 ms':>8} {'p99 ms':>8} {'offline training (3 models)':>28}")
    for task in sorted(ENV_IDS):
        path = Path(args.models_dir) / f"{task}.pt"
        bundle = load_bundle(path)
        try:
            states = np.concatenate([e.states for e in load_folder(Path(args.data_dir) / task / "failure_demo")])
        except ValueError:
            states = np.random.default_rng(0).normal(bundle.task_policy.norm.mean.numpy(), bundle.task_policy.norm.std.numpy(),
                                                     (500, len(bundle.layout))).astype(np.float32)
        ms = decision_latency(bundle, states, args.decisions)
        timings = json.loads(path.with_suffix(".json").read_text())["timings"]
        train_s = timings["training_only_s"]
        if args.retrain:
            from ..learning.offline import OfflineConfig, pretrain
            tmp = Path(args.models_dir) / f".retrain-{task}.pt"
            t0 = time.perf_counter()
            torch.set_num_threads(2)
            pretrain(task, Path(args.data_dir) / task, tmp, OfflineConfig(), log=lambda m: None)
            torch.set_num_threads(args.threads)
            train_s = time.perf_counter() - t0
            tmp.unlink()
            tmp.with_suffix(".json").unlink()
        print(f"{task:<20} {np.percentile(ms, 50):>8.2f} {np.percentile(ms, 99):>8.2f} {train_s / 60:>23.1f} min"
              + ("" if args.retrain else " (recorded)"))
    return 0

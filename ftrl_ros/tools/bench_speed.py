"""Speed of the learning core: the safety-filter decision at batch 1 on CPU (task policy sample +
encode + H-step latent rollout + recovery policy), p50/p99 over many states; and the offline
pre-training time of the three models per task (recorded by ``ftrl train-offline``, or measured
again from the demos in --data-dir with --retrain). Targets: p50 <= 2 ms; <= 10 min per task.
With --vec: filtered env steps/s of the vectorised fine-tuning loop and the ratio to unfiltered
stepping (target >= 1,000 filtered steps/s on 2 cores for the robot tasks, >= 1,500 for
FailureBench with ``--suite failurebench``), then the steps/s of ``online.finetune``'s own loop
with each learner's updates included and where its time goes (decision, env, learner, rest).
The benchmark steps the loop the runs use; nothing here is a copy of it."""

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
    p.add_argument("--vec", action="store_true", help="measure vectorised env steps/s, unfiltered and FARL-filtered")
    p.add_argument("--envs", default="8,32", help="--vec: comma list of vector sizes (the benchmarks use 8)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--vec-steps", type=int, default=4000)
    p.add_argument("--suite", default="franka", choices=("franka", "failurebench"), help="--vec: the robot tasks or FailureBench's")
    p.add_argument(
        "--learn-steps", type=int, default=0, help="--vec: env steps of the PPO fine-tuning slice (default: two of the suite's rollouts)"
    )
    p.add_argument("--sac-steps", type=int, default=400, help="--vec: env steps of the SAC slice (utd 10: slow)")


def decision_latency(bundle, states: np.ndarray, n: int) -> np.ndarray:
    decider = Decider(bundle, "farl")
    decider.eps_safe = -1.0  # every proposal flagged (risk >= 0): both policies run, the worst case
    times = []
    for i in range(n + 50):
        s = states[i % len(states)][None]
        t0 = time.perf_counter()
        decider.act(s)
        times.append(time.perf_counter() - t0)
    return np.array(times[50:]) * 1e3


def vec_throughput(task: str, bundle, n_envs: int, workers: int, steps: int) -> tuple[float, float]:
    """Env steps/s of ``n_envs`` sim robots driven by the task policy through the ``Decider``
    (the loop ``online.finetune`` runs): unfiltered (``uni_o4``: proposals executed as they are)
    and FARL-filtered (proposal + batched C_H + recovery). Both drive the same policy, so the
    ratio is the filter's cost, not a difference in contacts (random actions push objects less
    and step ~25 % faster)."""
    from ..learning.vec_env import VecTaskEnv

    rates = []
    with VecTaskEnv(task, n_envs, workers) as vec:
        for method in ("uni_o4", "farl"):
            decider = Decider(bundle, method, seed=0)
            obs = vec.reset(list(range(n_envs)))
            for _ in range(5):
                obs = vec.step(decider.act(obs)[1].executed).obs
            t0 = time.perf_counter()
            for _ in range(steps // n_envs):
                obs = vec.step(decider.act(obs)[1].executed).obs
            rates.append((steps // n_envs) * n_envs / (time.perf_counter() - t0))
    return rates[0], rates[1]


def learning_throughput(task: str, bundle, learner: str, steps: int, budget: dict, n_envs: int, workers: int) -> dict:
    """``online.finetune`` with FARL and ``learner`` for ``steps`` env steps (2 evaluation episodes
    before and after): training-loop steps/s and the loop's time split."""
    from ..learning.online import FinetuneConfig, finetune
    from ..learning.ppo import PPOConfig

    cfg = FinetuneConfig(
        method="farl",
        learner=learner,
        total_steps=steps,
        rollout_steps=budget["rollout_steps"],
        ppo=PPOConfig(**budget.get("ppo", {})),
        eval_episodes=2,
        n_envs=n_envs,
        n_workers=workers,
    )
    res = finetune(bundle, task, cfg)
    t = res["time"]
    return {"steps_s": res["env_steps"] / t["train_s"], **{k: v / t["train_s"] for k, v in t.items() if k != "train_s"}}


def run_vec(args: argparse.Namespace) -> int:
    from .bench_farl import BUDGETS, SUITES

    suite = SUITES[args.suite]
    tasks, models = list(suite["tasks"]), Path(str(args.models_dir if args.models_dir != "models" else suite["models_dir"]))
    print(
        f"vectorised stepping, task policy through decide.Decider, {args.workers} worker processes, "
        f"{args.vec_steps} steps per figure, {args.threads} torch thread(s)"
    )
    print(f"{'task':<22} {'envs':>5} {'unfiltered steps/s':>19} {'FARL-filtered steps/s':>22} {'ratio':>6}")
    for n_envs in (int(x) for x in args.envs.split(",")):
        for task in tasks:
            plain, filtered = vec_throughput(task, load_bundle(models / f"{task}.pt"), n_envs, args.workers, args.vec_steps)
            print(f"{task:<22} {n_envs:>5} {plain:>19.0f} {filtered:>22.0f} {filtered / plain:>6.2f}", flush=True)
    budget = BUDGETS["short" if args.suite == "failurebench" else "long"]
    rollout = budget["rollout_steps"]
    n_envs = int(args.envs.split(",")[0])
    print(
        f"\nfine-tuning loop (online.finetune, FARL, {n_envs} envs, PPO rollouts of {rollout} steps, SAC utd 10): "
        "steps/s with the learner's updates, and the share of the loop's time in each part"
    )
    print(f"{'task':<22} {'learner':>7} {'steps/s':>8} {'decide':>7} {'env':>6} {'learn':>6} {'rest':>6}")
    for task in tasks:
        for learner, steps in (("ppo", args.learn_steps or 2 * rollout), ("sac", args.sac_steps)):
            r = learning_throughput(task, load_bundle(models / f"{task}.pt"), learner, steps, budget, n_envs, args.workers)
            rest = 1.0 - r["decide_s"] - r["env_s"] - r["learn_s"]
            print(
                f"{task:<22} {learner:>7} {r['steps_s']:>8.0f} {r['decide_s']:>7.0%} {r['env_s']:>6.0%} {r['learn_s']:>6.0%} {rest:>6.0%}",
                flush=True,
            )
    return 0


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    if args.vec:
        return run_vec(args)
    print(f"safety-filter decision, batch 1, {args.threads} torch thread(s), {args.decisions} decisions per task")
    print(f"{'task':<20} {'p50 ms':>8} {'p99 ms':>8} {'offline training (3 models)':>28}")
    for task in sorted(ENV_IDS):
        path = Path(args.models_dir) / f"{task}.pt"
        bundle = load_bundle(path)
        try:
            states = np.concatenate([e.states for e in load_folder(Path(args.data_dir) / task / "failure_demo")])
        except ValueError:
            states = (
                np.random.default_rng(0)
                .normal(bundle.task_policy.norm.mean.numpy(), bundle.task_policy.norm.std.numpy(), (500, len(bundle.layout)))
                .astype(np.float32)
            )
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
        print(
            f"{task:<20} {np.percentile(ms, 50):>8.2f} {np.percentile(ms, 99):>8.2f} {train_s / 60:>23.1f} min"
            + ("" if args.retrain else " (recorded)")
        )
    return 0

"""FailureBench-style benchmark on the three sim tasks: FARL vs Uni-O4 vs the Recovery-RL critic
vs MPPI, each fine-tuned online from the same offline bundle for a fixed budget, several seeds.

Reports failure episodes during fine-tuning and the deterministic return before/after, normalised
to the scripted expert = 100 on the same evaluation seeds; writes results.json, results.md and
PNG charts into --out. Runs two jobs at a time (one torch thread each) on a 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ..learning.online import METHODS
from ..sim.envs import ENV_IDS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tasks", default="all", help="comma list or 'all'")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=3000, help="online budget per run (env steps)")
    p.add_argument("--rollout", type=int, default=600)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--models-dir", default="models")
    p.add_argument("--out", default="runs/bench_farl")
    p.add_argument("--jobs", type=int, default=2)


def _one(job: dict) -> dict:
    import torch
    torch.set_num_threads(1)
    from ..learning.bundle import load_bundle
    from ..learning.online import FinetuneConfig, finetune
    from ..sim.envs import make
    from .evaluate import expert_return
    cfg = FinetuneConfig(method=job["method"], total_steps=job["steps"], rollout_steps=job["rollout"],
                         eval_episodes=job["eval_episodes"], seed=job["seed"])
    res = finetune(load_bundle(job["model"]), make(job["task"]), cfg, Path(job["out"]))
    res["expert_return"] = expert_return(job["task"], job["eval_episodes"], 10_000 + 1000 * job["seed"])
    res["task"] = job["task"]
    return res


def summarise(results: list[dict], tasks: list[str], methods: list[str]) -> tuple[str, dict]:
    table = {}
    lines = ["| task | method | failure episodes (mean ± sd) | episodes | return before (expert = 100) | return after | recovery steps |",
             "|---|---|---|---|---|---|---|"]
    for task in tasks:
        for m in methods:
            rs = [r for r in results if r["task"] == task and r["method"] == m]
            if not rs:
                continue
            f = np.array([r["failure_episodes"] for r in rs], float)
            norm = lambda ph: np.array([100 * r[ph]["return"] / r["expert_return"] for r in rs])  # noqa: E731
            b, a = norm("before"), norm("after")
            table[(task, m)] = {"failures": f.mean(), "before": b.mean(), "after": a.mean()}
            lines.append(f"| {task} | {m} | {f.mean():.1f} ± {f.std():.1f} | {np.mean([r['episodes'] for r in rs]):.0f} | "
                         f"{b.mean():.0f} ± {b.std():.0f} | {a.mean():.0f} ± {a.std():.0f} | "
                         f"{np.mean([r['recovery_steps'] for r in rs]):.0f} |")
    summary = {}
    if all((t, m) in table for t in tasks for m in ("farl", "uni_o4")):
        red = [1 - table[(t, "farl")]["failures"] / max(table[(t, "uni_o4")]["failures"], 1e-9) for t in tasks]
        ret = [table[(t, "farl")]["after"] - table[(t, "uni_o4")]["after"] for t in tasks]
        summary = {"farl_failure_reduction_vs_uni_o4": float(np.mean(red)), "per_task_reduction": dict(zip(tasks, red)),
                   "farl_minus_uni_o4_return_after": float(np.mean(ret))}
        lines += ["", f"FARL vs Uni-O4: {100 * np.mean(red):.1f} % fewer failure episodes on average "
                  f"(per task: {', '.join(f'{t} {100 * r:.0f} %' for t, r in zip(tasks, red))}; paper: 43.6 %); "
                  f"return after fine-tuning {np.mean(ret):+.1f} points (expert = 100)."]
    return "\n".join(lines), summary


def plot(results: list[dict], tasks: list[str], methods: list[str], out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    width = 0.8 / len(methods)
    for j, m in enumerate(methods):
        f = [np.mean([r["failure_episodes"] for r in results if r["task"] == t and r["method"] == m] or [np.nan]) for t in tasks]
        a = [np.mean([100 * r["after"]["return"] / r["expert_return"] for r in results if r["task"] == t and r["method"] == m] or [np.nan]) for t in tasks]
        x = np.arange(len(tasks)) + j * width
        axes[0].bar(x, f, width, label=m)
        axes[1].bar(x, a, width, label=m)
    for ax, title in zip(axes, ("failure episodes during fine-tuning (lower is better)",
                                "return after fine-tuning, scripted expert = 100")):
        ax.set_xticks(np.arange(len(tasks)) + 0.4 - width / 2, tasks)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    axes[1].axhline(100, color="grey", lw=0.8, ls="--")
    fig.tight_layout()
    fig.savefig(out / "results.png", dpi=100)


def run(args: argparse.Namespace) -> int:
    tasks = sorted(ENV_IDS) if args.tasks == "all" else args.tasks.split(",")
    methods = args.methods.split(",")
    bad = [m for m in methods if m not in METHODS] + [t for t in tasks if t not in ENV_IDS]
    if bad:
        raise SystemExit(f"unknown task/method: {bad}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [{"task": t, "method": m, "seed": s, "steps": args.steps, "rollout": args.rollout,
             "eval_episodes": args.eval_episodes, "model": str(Path(args.models_dir) / f"{t}.pt"),
             "out": str(out / f"{t}-{m}-s{s}")} for t in tasks for s in range(args.seeds) for m in methods]
    print(f"{len(jobs)} runs x {args.steps} online steps, {args.jobs} at a time")
    t0, results = time.perf_counter(), []
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for res in pool.map(_one, jobs):
            results.append(res)
            print(f"  {res['task']:<18} {res['method']:<12} seed {res['seed']}: {res['failure_episodes']:>3} failure "
                  f"episodes / {res['episodes']}, return {res['before']['return']:.1f} -> {res['after']['return']:.1f} "
                  f"(expert {res['expert_return']:.1f}) [{res['seconds']:.0f} s]", flush=True)
    md, summary = summarise(results, tasks, methods)
    (out / "results.json").write_text(json.dumps({"args": vars(args), "results": results, "summary": summary}, indent=2))
    (out / "results.md").write_text(md + "\n")
    plot(results, tasks, methods, out)
    print(md)
    print(f"wall time {time.perf_counter() - t0:.0f} s; tables and charts in {out}")
    return 0

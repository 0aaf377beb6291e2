"""FARL vs its baselines and ablations on the three sim tasks, each fine-tuned online from the same
offline bundle, several seeds, through ``online.finetune`` (the ``decide.Decider`` the
``safety_filter`` node runs).

Budgets: ``robot`` = 50 episodes per run (the paper's real-robot runs), ``long`` = 100,000 env
steps per run, ``failurebench`` = 200,000 and ``short`` = 40,000 (see ``BUDGETS``). A sweep is
resumable: each run writes ``<out>/<budget>/<task>/<method>/s<seed>/result.json`` atomically when
it finishes, and a rerun skips runs that have one made from the same bundle (sha256) under the
same budget settings -- a long sweep can be split over several sittings (``--max-runs``).
``--report`` only tabulates what exists.

Per method: failure episodes, failures per 1,000 steps, return before/after (scripted expert =
100 on the same evaluation seeds) without the filter and behind it, recovery share; mean +- sd
(ddof=1) and a 95 % bootstrap CI over seeds. Writes results.json, results.md and results.png.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from typing import Any
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from ..learning.methods import CONSTRAINED, LEARN_FROM, METHODS
from ..tasks.failurebench import TASKS as FB_TASKS
from ..sim.envs import ENV_IDS
from ..utils.atomic import atomic_write_bytes, atomic_write_folder, read_folder
from .sweep import Done, Job, in_ray_worker, add_ray_options, run_sweep

BUDGETS: dict[str, dict[str, Any]] = {
    "robot": {"episodes": 50},
    "long": {"total_steps": 100_000, "rollout_steps": 4096},
    "failurebench": {"total_steps": 200_000, "rollout_steps": 8192, "ppo": {"minibatches": 16}},
    "short": {"total_steps": 40_000, "rollout_steps": 8192, "ppo": {"minibatches": 16}},
}
"""The long budget updates on 4,096-step rollouts (CleanRL-like): with the robot budget's 256, 390
updates took Disturbed Push's FARL policy from 26 to 15 (seed 0); 4,096 took Uni-O4 from 21 to 36
on seed 102 (a tuning seed, never reported). ``short`` (4x10^4 steps, 1/25 of the paper's 10^6 on
FailureBench) is what 2 cores give a whole FailureBench comparison in an afternoon.

FailureBench budgets update on 8,192-step rollouts (16 episodes of 500 steps) in 16 minibatches
(``ppo`` overrides ``PPOConfig``): at 80 Hz one action moves the return so little that 4-episode
rollouts (2,048 steps, 4 minibatches) gave noise-led updates -- Bounded Push, seed 0, 4x10^4 steps,
Uni-O4, 30 evaluation layouts: deterministic return 2,325 -> 541 (success 60 -> 20 %) with those,
2,325 -> 3,226 (60 -> 80 %) with these (hand-run probe)."""
VARIANT_SEP = "+"  # "farl+executed": FARL learning from the executed action (the paper's variant)
VETO = "veto"
"""``farl+veto``: the learner loses ``VETO_PENALTY`` (in the reward units it sees, i.e. after the
task's ``reward_scale``) on each step whose proposal the filter vetoed (``decide.stored_rewards``)."""
VETO_PENALTY = 0.25
SAC = "sac"
"""``farl+sac``: the off-policy learner (``learning.sac``) in place of PPO; flags combine
(``farl+sac+veto``)."""
SUITES = {
    "franka": {"tasks": sorted(ENV_IDS), "models_dir": "models", "budget": "robot"},
    "failurebench": {
        "tasks": [f"fb_{t}" for t in sorted(FB_TASKS)],
        "models_dir": "models/failurebench",
        "budget": "failurebench",
        "methods": "farl,uni_o4,recovery_rl,mppi,ppo_lagrangian,p3o",
        "seeds": "0-2",
    },
}
"""``--suite failurebench``: the paper's four Meta-World tasks (their own bundles, 2x10^5 steps per
run = 1/5 of the paper's 10^6, three seeds as the paper's tables)."""


PAPER_FAILUREBENCH: dict[str, dict[str, float]] = {
    "fb_bounded_push": {"farl": 951.00, "recovery_rl": 1250.67, "mppi": 1112.00},
    "fb_bounded_soccer": {"farl": 878.67, "recovery_rl": 1687.00, "mppi": 2022.67},
    "fb_fragile_push_wall": {"farl": 3393.00, "recovery_rl": 4234.00, "mppi": 3753.00},
    "fb_obstructed_push": {"farl": 1914.67, "recovery_rl": 2175.00, "mppi": 2229.00},
}
"""The paper's Table II: mean failure episodes over 10^6 steps, three seeds."""
PAPER_FAILUREBENCH_RETURNS: dict[str, dict[str, float]] = {
    "fb_bounded_push": {"farl": 4593.96, "ppo_lagrangian": 420.79, "p3o": 95.33},
    "fb_bounded_soccer": {"farl": 2276.53, "ppo_lagrangian": 404.80, "p3o": 598.55},
    "fb_fragile_push_wall": {"farl": 3220.12, "ppo_lagrangian": 268.83, "p3o": -278.62},
    "fb_obstructed_push": {"farl": 1227.18, "ppo_lagrangian": 543.95, "p3o": 455.86},
}
"""The paper's Table I: Meta-World return after fine-tuning, mean over three seeds."""


def common_seed_ratio(methods: dict, name: str, ref: str) -> tuple[float, int] | None:
    """``name``'s failure episodes over ``ref``'s, summed over the seeds both have run (a partial
    sweep compares like with like; with the same seeds it is the ratio of the means), and how
    many seeds that is; None without a common seed or with no failures of ``ref``."""
    if name not in methods or ref not in methods:
        return None
    a, b = methods[name]["failure_episodes_by_seed"], methods[ref]["failure_episodes_by_seed"]
    common = set(a) & set(b)
    denom = sum(b[k] for k in common)
    return (sum(a[k] for k in common) / denom, len(common)) if common and denom > 0 else None


def failure_ratio(methods: dict, name: str, paper: dict[str, float]) -> str:
    """``name``'s failure episodes relative to FARL's, ours (``common_seed_ratio``) / the paper's."""
    r = common_seed_ratio(methods, name, "farl")
    return "-" if r is None else f"{r[0]:.2f} / {paper[name] / paper['farl']:.2f} ({r[1]} seeds)"


def raw_return(methods: dict, name: str, paper: dict[str, float]) -> str:
    return f"{methods[name]['after_plain_raw']['mean']:.0f} / {paper[name]:.0f}" if name in methods else "-"


def paper_table(summary: dict) -> list[str]:
    """Ours next to the paper's Tables I-II, task by task. Failure episodes are compared as ratios
    to FARL's (the paper's runs are 25x longer than ``short``), returns raw (Meta-World's units)."""
    rows = [
        f"| {task} | {failure_ratio(ms, 'recovery_rl', PAPER_FAILUREBENCH[task])} | "
        f"{failure_ratio(ms, 'mppi', PAPER_FAILUREBENCH[task])} | "
        + " | ".join(raw_return(ms, n, PAPER_FAILUREBENCH_RETURNS[task]) for n in ("farl", "ppo_lagrangian", "p3o"))
        + " |"
        for task, ms in summary.items()
        if task in PAPER_FAILUREBENCH
    ]
    if not rows:
        return []
    return [
        "",
        "Against the paper (ours / paper): failure episodes relative to FARL's (Table II); Meta-World "
        "return after fine-tuning, raw, no filter (Table I).",
        "",
        "| task | Rec-RL critic / FARL | MPPI / FARL | FARL return | PPO-Lag return | P3O return |",
        "|---|---|---|---|---|---|",
        *rows,
    ]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--suite",
        default="franka",
        choices=sorted(SUITES),
        help="franka: our three robot tasks; failurebench: the paper's Meta-World tasks",
    )
    p.add_argument("--budget", default=None, choices=sorted(BUDGETS), help="default: the suite's (robot / failurebench)")
    p.add_argument("--tasks", default="all", help="comma list or 'all'")
    p.add_argument(
        "--methods",
        default=None,
        help="comma list of decide.METHODS; '<method>+executed' = learn from the executed action, "
        "'<method>+veto' = a vetoed proposal costs PPO 0.25 "
        "(default: all, +farl+executed; failurebench: the paper's six)",
    )
    p.add_argument(
        "--seeds", default=None, help="e.g. 0-4 or 0,1,2 (default 0-4; failurebench 0-2; tuning used seeds >= 100, never reported)"
    )
    p.add_argument(
        "--eval-episodes", type=int, default=50, help="deterministic evaluation episodes before and after, with and without the filter"
    )
    p.add_argument("--episodes", type=int, default=0, help="override the robot budget's 50 episodes (smoke runs)")
    p.add_argument("--envs", type=int, default=8)
    p.add_argument("--models-dir", default=None, help="default: models (failurebench: models/failurebench)")
    p.add_argument("--out", default="runs/bench_farl")
    p.add_argument("--max-runs", type=int, default=0, help="stop after this many new runs (0: all)")
    add_ray_options(p, "run", "results still land in --out on this machine")
    p.add_argument("--report", action="store_true", help="only tabulate the finished runs")


def parse_seeds(text: str) -> list[int]:
    if "-" in text and "," not in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in text.split(",") if x.strip()]


def parse_method(name: str) -> tuple[str, str, float, str]:
    """``method[+executed][+veto][+sac]`` -> (method, learn_from, veto penalty in the learner's
    reward units, learner)."""
    method, *flags = name.split(VARIANT_SEP)
    unknown = set(flags) - {"executed", VETO, SAC}
    if method not in METHODS or unknown or len(set(flags)) != len(flags):
        raise SystemExit(f"unknown method {name!r}: use one of {METHODS}, optionally +executed, +veto, +sac")
    if SAC in flags and method in CONSTRAINED:
        raise SystemExit(f"{name!r}: {method} is a constrained PPO baseline, it has no +sac variant")
    learn_from = "executed" if "executed" in flags else "proposed"
    assert learn_from in LEARN_FROM
    return method, learn_from, VETO_PENALTY if VETO in flags else 0.0, SAC if SAC in flags else "ppo"


def run_dir(out: Path, budget: str, task: str, method: str, seed: int) -> Path:
    return out / budget / task / method / f"s{seed}"


def expert_returns(task: str, seeds: list[int], episodes: int, cache: Path) -> dict[int, float]:
    """The scripted expert's mean return on each run's evaluation seeds (cached in the sweep folder)."""
    from ..learning.online import eval_seeds
    from .evaluate import expert_return

    known = json.loads(cache.read_text()) if cache.exists() else {}
    for s in seeds:
        key = f"{task}/{s}/{episodes}"
        if key not in known:
            known[key] = expert_return(task, episodes, eval_seeds(s, 1)[0])
            atomic_write_bytes(cache, json.dumps(known, indent=1).encode())
    return {s: known[f"{task}/{s}/{episodes}"] for s in seeds}


def bundle_digest(models_dir: str, task: str) -> str:
    """sha256 of the offline bundle a run starts from: a resumed sweep reruns results of another one."""
    return hashlib.sha256((Path(models_dir) / f"{task}.pt").read_bytes()).hexdigest()[:16]


def run_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What a run's budget really is: the named budget, or ``--episodes`` in place of its length
    (a smoke run must never count as a finished run of the full budget)."""
    budget = BUDGETS[args.budget]
    if not args.episodes:
        return budget
    return {"episodes": args.episodes, **({"ppo": budget["ppo"]} if "ppo" in budget else {})}


def is_finished(d: Path, digest: str, budget: dict) -> bool:
    """A run counts only if it started from the same bundle under the same budget settings."""
    f = d / "result.json"
    if not f.exists():
        return False
    res = json.loads(f.read_text())
    return res.get("bundle_sha256") == digest and res.get("budget_settings") == budget


def one_run(task: str, name: str, seed: int, args: argparse.Namespace, out: Path) -> dict:
    import torch

    torch.set_num_threads(1)
    from ..learning.bundle import load_task_bundle
    from ..learning.online import FinetuneConfig, finetune
    from ..learning.ppo import PPOConfig

    method, learn_from, veto, learner = parse_method(name)
    settings = run_settings(args)
    from ..tasks import get_task

    cfg = FinetuneConfig(
        method=method,
        learn_from=learn_from,
        veto_penalty=veto / get_task(task).reward_scale,
        learner=learner,
        seed=seed,
        eval_episodes=args.eval_episodes,
        n_envs=args.envs,
        ppo=PPOConfig(**settings.get("ppo", {})),
        **{k: v for k, v in settings.items() if k != "ppo"},
    )
    bundle = load_task_bundle(task, Path(args.models_dir) / f"{task}.pt")
    from tqdm import tqdm

    total, unit = (cfg.total_steps, "step") if cfg.total_steps else (cfg.episodes, "episode")
    # a bar per run in the local loop (minutes to hours each); a Ray worker's output would only
    # interleave with the driver's per-run lines, so there the driver's lines are the progress
    with tqdm(total=total, unit=unit, desc=f"{task}/{name}/s{seed}", mininterval=30.0, leave=False, disable=in_ray_worker()) as bar:
        res = finetune(bundle, task, cfg, out, progress=bar.update)
    res.update(
        task=task,
        name=name,
        budget=args.budget,
        budget_settings=settings,
        bundle_sha256=bundle_digest(args.models_dir, task),
    )
    return res


def bootstrap_ci(x: np.ndarray, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    if len(x) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = rng.choice(x, (n, len(x)), replace=True).mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def paired_change_ci(x: ArrayLike, ref: ArrayLike, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap CI of ``sum(x) / sum(ref) - 1``, resampling seeds as pairs (a seed's run of
    both methods shares its bundle and layouts, so the pair is the unit); NaN under two seeds."""
    x, ref = np.asarray(x, float), np.asarray(ref, float)
    if len(x) < 2:
        return float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, len(x), (n, len(x)))
    num, den = x[idx].sum(1), ref[idx].sum(1)
    ratios = num[den > 0] / den[den > 0] - 1
    if not len(ratios):
        return float("nan"), float("nan")
    return float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))


def stat(x) -> dict:
    x = np.asarray(x, float)
    lo, hi = bootstrap_ci(x)
    return {"mean": float(x.mean()), "sd": float(x.std(ddof=1)) if len(x) > 1 else float("nan"), "ci95": [lo, hi], "n": int(len(x))}


def fmt(s: dict, digits: int = 1) -> str:
    return f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f} [{s['ci95'][0]:.{digits}f}, {s['ci95'][1]:.{digits}f}]"


def summarise(results: list[dict], experts: dict) -> dict:
    table: dict = {}
    for r in results:
        table.setdefault(r["task"], {}).setdefault(r["name"], []).append(r)
    out: dict = {}
    for task, methods in table.items():
        for name, rs in methods.items():
            ref = np.array([experts[task][r["seed"]] for r in rs])

            def norm(phase: str, kind: str, rs=rs, ref=ref) -> np.ndarray:
                return 100 * np.array([r[phase][kind]["return"] for r in rs]) / ref

            out.setdefault(task, {})[name] = {
                "seeds": sorted(r["seed"] for r in rs),
                "failure_episodes": stat([r["failure_episodes"] for r in rs]),
                "episodes": stat([r["episodes"] for r in rs]),
                "failures_per_1000_steps": stat([1000 * r["failure_episodes"] / max(r["env_steps"], 1) for r in rs]),
                "recovery_share": stat([r["recovery_steps"] / max(r["env_steps"], 1) for r in rs]),
                "before_plain": stat(norm("before", "plain")),
                "after_plain": stat(norm("after", "plain")),
                "before_filtered": stat(norm("before", "filtered")),
                "after_filtered": stat(norm("after", "filtered")),
                "gain_plain": stat(norm("after", "plain") - norm("before", "plain")),
                "after_plain_raw": stat([r["after"]["plain"]["return"] for r in rs]),
                "failure_episodes_by_seed": {str(r["seed"]): r["failure_episodes"] for r in rs},
                "failures_per_1000_steps_by_seed": {str(r["seed"]): 1000 * r["failure_episodes"] / max(r["env_steps"], 1) for r in rs},
                "gain_plain_by_seed": {str(r["seed"]): float(g) for r, g in zip(rs, norm("after", "plain") - norm("before", "plain"))},
            }
    return out


def paired_vs(summary: dict, ref: str = "uni_o4") -> dict:
    """Every other method against ``ref`` on the seeds both ran (paired: same bundle, same
    training and evaluation layouts): failure episodes and failures per 1,000 steps relative to
    ``ref``'s (failure episodes with a paired bootstrap CI), and the difference of return gains
    (no filter) with a 95 % bootstrap CI over seeds."""
    out: dict = {}
    for task, ms in summary.items():
        if ref not in ms:
            continue
        r = ms[ref]
        for name, m in ms.items():
            common = sorted(set(m["failure_episodes_by_seed"]) & set(r["failure_episodes_by_seed"]), key=int)
            if name == ref or not common or "gain_plain_by_seed" not in m or "gain_plain_by_seed" not in r:
                continue

            def pair(key: str, m=m, r=r, common=common) -> tuple[list[float], list[float]]:
                return [m[key][k] for k in common], [r[key][k] for k in common]

            def rel(key: str) -> float:
                a, b = pair(key)
                return sum(a) / sum(b) - 1 if sum(b) > 0 else float("nan")

            out.setdefault(task, {})[name] = {
                "seeds": [int(k) for k in common],
                "failure_episodes_change": rel("failure_episodes_by_seed"),
                "failure_episodes_change_ci95": list(paired_change_ci(*pair("failure_episodes_by_seed"))),
                "failures_per_1000_steps_change": rel("failures_per_1000_steps_by_seed"),
                "gain": stat([m["gain_plain_by_seed"][k] for k in common]),
                "gain_minus_ref": stat([m["gain_plain_by_seed"][k] - r["gain_plain_by_seed"][k] for k in common]),
            }
    return out


def paired_markdown(paired: dict, ref: str = "uni_o4") -> list[str]:
    if not paired:
        return []
    lines = [
        "",
        f"Paired with {ref} on common seeds (change of failures relative to {ref}'s; return gain = after - before, no filter, "
        "expert = 100; [95 % bootstrap CI over seeds]):",
        "",
        f"| task | method | seeds | failure episodes vs {ref} | failures / 1k steps vs {ref} | return gain | gain - {ref}'s gain |",
        "|---|---|---|---|---|---|---|",
    ]
    for task, ms in paired.items():
        for name, c in ms.items():
            lo, hi = c.get("failure_episodes_change_ci95", (float("nan"), float("nan")))
            ci = f" [{100 * lo:+.0f}, {100 * hi:+.0f}]" if np.isfinite(lo) else ""
            lines.append(
                f"| {task} | {name} | {len(c['seeds'])} | {100 * c['failure_episodes_change']:+.0f} %{ci} | "
                f"{100 * c['failures_per_1000_steps_change']:+.0f} % | {fmt(c['gain'])} | {fmt(c['gain_minus_ref'])} |"
            )
    return lines


def comparisons(summary: dict) -> dict:
    """The issue's targets, per task: FARL's failure reduction vs Uni-O4 and return changes."""
    out = {}
    for task, m in summary.items():
        if "farl" not in m or "uni_o4" not in m:
            continue
        f, u = m["farl"], m["uni_o4"]
        ratio = common_seed_ratio(m, "farl", "uni_o4")
        out[task] = {
            "farl_failure_reduction_vs_uni_o4": 1 - ratio[0] if ratio else float("nan"),
            "farl_return_gain_plain": f["gain_plain"]["mean"],
            "farl_after_minus_uni_o4_after_plain": f["after_plain"]["mean"] - u["after_plain"]["mean"],
        }
    return out


def markdown(summary: dict, comp: dict, budget: str, settings: dict | None = None) -> str:
    """The results table; ``settings``: what the runs really used (``run_settings``), the named budget's by default."""
    lines = [
        f"Budget: {budget} ({settings or BUDGETS[budget]}); mean ± sd (ddof=1) [95 % bootstrap CI] over seeds; "
        "returns normalised to the scripted expert = 100 on the same evaluation seeds.",
        "",
        "| task | method | seeds | failure episodes | episodes | failures / 1k steps | recovery share | "
        "return before (no filter) | after (no filter) | before (filter) | after (filter) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for task, ms in summary.items():
        for name, s in ms.items():
            lines.append(
                f"| {task} | {name} | {len(s['seeds'])} | {fmt(s['failure_episodes'])} | {s['episodes']['mean']:.0f} | "
                f"{fmt(s['failures_per_1000_steps'], 2)} | {s['recovery_share']['mean']:.2f} | "
                f"{fmt(s['before_plain'], 0)} | {fmt(s['after_plain'], 0)} | {fmt(s['before_filtered'], 0)} | "
                f"{fmt(s['after_filtered'], 0)} |"
            )
    if comp:
        lines += [
            "",
            "| task | FARL failure episodes vs Uni-O4 | FARL return after - before (no filter) | FARL after - Uni-O4 after (no filter) |",
            "|---|---|---|---|",
        ]
        for task, c in comp.items():
            lines.append(
                f"| {task} | {-100 * c['farl_failure_reduction_vs_uni_o4']:+.0f} % | "
                f"{c['farl_return_gain_plain']:+.1f} | {c['farl_after_minus_uni_o4_after_plain']:+.1f} |"
            )
    lines += paper_table(summary)
    return "\n".join(lines)


def plot(summary: dict, out: Path, budget: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(summary)
    names = sorted({n for ms in summary.values() for n in ms}, key=lambda n: (n.split("+")[0] not in ("farl",), n))
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    width = 0.8 / max(len(names), 1)
    for j, name in enumerate(names):
        x = np.arange(len(tasks)) + j * width
        for ax, key in zip(axes, ("failure_episodes", "after_plain", "gain_plain")):
            vals = [summary[t].get(name, {}).get(key) for t in tasks]
            mean = [v["mean"] if v else np.nan for v in vals]
            err = [[v["mean"] - v["ci95"][0] if v else 0 for v in vals], [v["ci95"][1] - v["mean"] if v else 0 for v in vals]]
            ax.bar(x, mean, width, yerr=np.nan_to_num(err), capsize=2, label=name)
    titles = (
        "failure episodes during fine-tuning (lower is better)",
        "return after fine-tuning, no filter (expert = 100)",
        "return after - before, no filter (points)",
    )
    for ax, title in zip(axes, titles):
        ax.set_xticks(np.arange(len(tasks)) + 0.4 - width / 2, [t.removeprefix("fb_").replace("_", "\n") for t in tasks], fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.axhline(0, color="grey", lw=0.6)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"bench-farl, budget {budget}: mean and 95 % bootstrap CI over seeds", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "results.png", dpi=100)
    plt.close(fig)


def packed_run(task: str, name: str, seed: int, args: argparse.Namespace) -> dict[str, bytes]:
    """One run in a scratch folder, returned as its files (CSV, TensorBoard events, checkpoint)
    plus ``result.json``: what the driver lands (``sweep``), wherever this ran."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ftrl-run-") as tmp:
        res = one_run(task, name, seed, args, Path(tmp))
        files = read_folder(tmp)
    files["result.json"] = json.dumps(res, indent=1, default=float).encode()
    return files


def land_run(out: Path, budget: str):
    """The driver's side of a run: its folder written whole (result.json and all), and the line to print."""

    def land(done: Done) -> str:
        task, name, seed = done.job.args[:3]
        atomic_write_folder(run_dir(out, budget, task, name, seed), done.output)
        res = json.loads(done.output["result.json"])
        return (
            f"{task:<18} {name:<15} seed {seed}: {res['failure_episodes']:>3} failure episodes / "
            f"{res['episodes']} in {res['env_steps']} steps, return (no filter) {res['before']['plain']['return']:.1f} -> "
            f"{res['after']['plain']['return']:.1f}"
        )

    return land


def apply_suite(args: argparse.Namespace) -> None:
    """Fill the options left unset from the suite's defaults."""
    suite = SUITES[args.suite]
    args.budget = args.budget or suite["budget"]
    args.models_dir = args.models_dir or suite["models_dir"]
    args.methods = args.methods or suite.get("methods", ",".join(METHODS) + ",farl+executed")
    args.seeds = args.seeds or suite.get("seeds", "0-4")


def run(args: argparse.Namespace) -> int:
    apply_suite(args)
    known = SUITES[args.suite]["tasks"]
    tasks = known if args.tasks == "all" else args.tasks.split(",")
    names = [n for n in args.methods.split(",") if n]
    for n in names:
        parse_method(n)
    if bad := [t for t in tasks if t not in known]:
        raise SystemExit(f"unknown task(s): {bad}")
    seeds = parse_seeds(args.seeds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    jobs = [(t, n, s) for s in seeds for t in tasks for n in names]
    digests = {t: bundle_digest(args.models_dir, t) for t in tasks}
    settings = run_settings(args)
    todo = [j for j in jobs if not is_finished(run_dir(out, args.budget, *j), digests[j[0]], settings)]
    failed: list[Job] = []
    if not args.report:
        finished = len(jobs) - len(todo)
        if args.max_runs:
            todo = todo[: args.max_runs]
        print(
            f"{len(jobs)} runs ({args.budget} budget: {settings}), {finished} finished before, {len(todo)} to run now",
            flush=True,
        )
        # workers may start elsewhere (a Ray node's own working folder): they get absolute paths
        args.models_dir = str(Path(args.models_dir).resolve())
        jobs_now = [Job(f"{t}/{n}/s{s}", (t, n, s, args)) for t, n, s in todo]
        failed = run_sweep(jobs_now, packed_run, land_run(out, args.budget), args.ray, args.cpus_per_run)
        if failed:
            print(f"{len(failed)} run(s) failed: {[j.key for j in failed]}; rerun the same command to retry them", flush=True)
    results = [
        json.loads((run_dir(out, args.budget, *j) / "result.json").read_text())
        for j in jobs
        if is_finished(run_dir(out, args.budget, *j), digests[j[0]], settings)
    ]
    if not results:
        print("no finished runs yet")
        return 1 if failed else 0
    experts = {t: expert_returns(t, seeds, args.eval_episodes, out / "expert_returns.json") for t in tasks}
    summary = summarise(results, experts)
    comp = comparisons(summary)
    paired = paired_vs(summary)
    md = "\n".join([markdown(summary, comp, args.budget, settings), *paired_markdown(paired)])
    dest = out / args.budget
    atomic_write_bytes(
        dest / "results.json",
        json.dumps(
            {
                "args": vars(args),
                "summary": summary,
                "comparisons": comp,
                "paired_vs_uni_o4": paired,
                "runs": len(results),
                "of": len(jobs),
            },
            indent=1,
        ).encode(),
    )
    atomic_write_bytes(dest / "results.md", (md + "\n").encode())
    plot(summary, dest, args.budget)
    print(md)
    print(f"{len(results)} of {len(jobs)} runs finished; tables and chart in {dest}")
    return 1 if failed else 0

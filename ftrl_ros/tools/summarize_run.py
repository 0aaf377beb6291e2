"""Summarise a run of the ROS stack (`ftrl launch`): one line per logged episode, the policy
versions the learner produced, and a chart (return per episode, IR failures, share of recovery
steps) written next to the episodes as summary.png, with summary.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..learning.dataset import SOURCES, episode_paths, load_episode
from ..utils.atomic import atomic_path, atomic_write_text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", type=Path, help="a run folder of `ftrl launch` (runs/ros/<task>_<time>)")


def summarize(run_dir: Path) -> dict:
    rows: list = []
    for path in episode_paths(run_dir / "episodes"):
        ep = load_episode(path)
        rows.append(
            {
                "episode": int(ep.meta.get("episode", len(rows) + 1)),
                "steps": len(ep),
                "return": round(ep.ret, 3),
                "success": bool(ep.success.any()),
                "ir_failure": ep.failed,
                "end": ep.meta.get("end_reason", "?"),
                "recovery_steps": int((ep.source == SOURCES["recovery"]).sum()),
                "policy_versions": ep.meta.get("policy_versions", []),
            }
        )
    versions = sorted((run_dir / "checkpoints").glob("policy_v*.pt")) if (run_dir / "checkpoints").is_dir() else []
    out = {
        "run_dir": str(run_dir),
        "episodes": len(rows),
        "ir_failures": sum(r["ir_failure"] for r in rows),
        "successes": sum(r["success"] for r in rows),
        "policy_versions": len(versions),
        "detail": rows,
    }
    return out


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["detail"]
    x = [r["episode"] for r in rows]
    fig, ax = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    ax[0].plot(x, [r["return"] for r in rows], "o-", label="return")
    for r in rows:
        if r["ir_failure"]:
            ax[0].axvline(r["episode"], color="tab:red", alpha=0.3)
    ax[0].set_ylabel("return (red: IR failure)")
    ax[1].bar(x, [r["recovery_steps"] / max(r["steps"], 1) for r in rows], color="tab:orange")
    ax[1].set_ylabel("recovery share")
    ax[1].set_xlabel("episode")
    fig.suptitle(f"{summary['episodes']} episodes, {summary['ir_failures']} IR failures, {summary['policy_versions']} policy updates")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    summary = summarize(args.run_dir)
    if not summary["episodes"]:
        print(f"no episodes in {args.run_dir / 'episodes'}")
        return 1
    print(f"{'episode':>7} {'steps':>5} {'return':>8} {'success':>7} {'IR failure':>10} {'recovery':>8}  end")
    for r in summary["detail"]:
        print(
            f"{r['episode']:>7} {r['steps']:>5} {r['return']:>8.2f} {str(r['success']):>7} {str(r['ir_failure']):>10} "
            f"{r['recovery_steps']:>8}  {r['end']}"
        )
    print(
        f"{summary['episodes']} episodes: {summary['successes']} reached the target, {summary['ir_failures']} IR "
        f"failures; {summary['policy_versions']} policy updates. Mean return {np.mean([r['return'] for r in summary['detail']]):.2f}"
    )
    atomic_write_text(args.run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    plot(summary, args.run_dir / "summary.png")
    print(f"wrote {args.run_dir / 'summary.json'} and {args.run_dir / 'summary.png'}")
    return 0

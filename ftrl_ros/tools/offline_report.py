"""The offline phase's figures of every bundle in a models folder, as one table: what each
``models/<task>.json`` holds (written by ``ftrl train-offline``), read back, nothing recomputed.

    ftrl offline-report                       # robot tasks (models/) and FailureBench (models/failurebench/)
    ftrl offline-report --models-dir DIR      # one folder
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--models-dir", action="append", default=None, help="folder of <task>.json (repeatable; default models, models/failurebench)"
    )


def row(task: str, m: dict) -> str:
    cal = m["calibration"]
    wm, rrl = cal["world_model"]["test"], cal["recovery_rl"]["test"]
    alone = cal.get("unguarded_test_auc", {})
    guard = cal.get("guard") or {}
    tc = cal.get("time_constants", {})
    dt = tc.get("control_dt")
    h = f"{cal['horizon']} ({cal['horizon'] * dt:.2f} s)" if dt else str(cal["horizon"])
    pol = m["task_policy"]
    rounds = f"{pol.get('improve/accepted_rounds', 0)}/{pol.get('improve/rounds', '?')} ({pol.get('improve/gate', 'q')})"

    def f(x, d=3):
        return "--" if x is None else f"{x:.{d}f}"

    return (
        f"| {task} | {f(wm['auc'])} ({f(alone.get('world_model'))}) | {f(rrl['auc'])} ({f(alone.get('recovery_rl'))}) | {h} | "
        f"{wm['precision']:.2f} / {wm['recall']:.2f} | {f(wm.get('false_alarms_per_episode'), 2)} | "
        f"{f(guard.get('false_alarms_per_episode'), 2)} / {f(guard.get('recall'), 2)} | {rounds} |"
    )


HEADER = (
    "| task | C_H test AUC, guarded (alone) | Rec-RL critic AUC, guarded (alone) | H | precision / recall at eps_safe | "
    "false alarms per episode | OOD guard: false alarms per episode / recall | improvement rounds kept (gate) |\n"
    "|---|---|---|---|---|---|---|---|"
)


def run(args: argparse.Namespace) -> int:
    folders = [Path(d) for d in (args.models_dir or ["models", "models/failurebench"])]
    print(HEADER)
    for folder in folders:
        for path in sorted(folder.glob("*.json")):
            m = json.loads(path.read_text())
            if "calibration" in m:
                print(row(path.stem, m))
    return 0

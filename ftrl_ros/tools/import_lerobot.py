"""A LeRobotDataset that ``ftrl export-lerobot`` wrote -> episode files the offline phase trains on,
``<out>/<task>/<kind>/ep_*.npz`` (kind: task_demo, recovery_demo, failure_demo or online), as
``ftrl bag-to-dataset`` writes them. Then

    ftrl train-offline --task disturbed_push --data <out>

takes them as its demos (the very arrays that were exported: training on them is training on the
original episodes).

    ftrl import-lerobot datasets/push --out data/imported
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from ..interop.lerobot import LeRobotError, read_dataset
from ..learning.dataset import next_episode_path, save_episode


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("datasets", nargs="+", type=Path, help="LeRobotDataset v3.0 folders (meta/info.json)")
    p.add_argument("--out", type=Path, default=Path("data/imported"))
    p.add_argument("--kinds", default="", help="keep only these kinds (comma list; default: all)")


def run(args: argparse.Namespace) -> int:
    kinds = {k for k in args.kinds.split(",") if k}
    counts: Counter = Counter()
    for root in args.datasets:
        try:
            episodes = read_dataset(root)
        except LeRobotError as exc:
            raise SystemExit(str(exc)) from None
        for ep in episodes:
            kind = str(ep.meta.get("kind", "online"))
            if kinds and kind not in kinds:
                continue
            save_episode(next_episode_path(args.out / str(ep.meta["task"]) / kind), ep)
            counts[(ep.meta["task"], kind)] += 1
        print(f"{root}: {len(episodes)} episodes")
    for (task, kind), n in sorted(counts.items()):
        print(f"  {task}/{kind}: {n} episodes -> {args.out / task / kind}")
    return 0 if counts else 1

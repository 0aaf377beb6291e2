"""Turn a recorded bag (MCAP or sqlite3; ``ftrl launch ... --record true``) into episode files
the offline phase trains on: ``<out>/<task>/<kind>/ep_*.npz``, kind = the operator's record mode
at the time (task_demo, recovery_demo, failure_demo) or ``online``. Then

    ftrl train-offline --task disturbed_push --data <out>

uses them as its demos (and collects in sim only the kinds the bags did not give).

    ftrl bag-to-dataset runs/ros/disturbed_push_*/bags/<bag> --out data/recorded
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from ..control.bag_episodes import episodes_from_bag
from ..learning.dataset import next_episode_path, save_episode


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bags", nargs="+", type=Path, help="rosbag2 folders")
    p.add_argument("--task", default=None, help="default: the task whose state layout the bag's decisions carry")
    p.add_argument("--out", type=Path, default=Path("data/recorded"))
    p.add_argument("--kinds", default="task_demo,recovery_demo,failure_demo,online", help="which kinds to write (comma list)")


def run(args: argparse.Namespace) -> int:
    wanted = set(args.kinds.split(","))
    counts: Counter = Counter()
    for bag in args.bags:
        try:
            episodes = episodes_from_bag(bag, args.task)
        except (FileNotFoundError, ValueError) as exc:
            raise SystemExit(f"{bag}: {exc}") from None
        for ep in episodes:
            kind = ep.meta["kind"]
            if kind not in wanted:
                continue
            save_episode(next_episode_path(args.out / ep.meta["task"] / kind), ep)
            counts[(ep.meta["task"], kind)] += 1
        print(f"{bag}: {len(episodes)} episodes")
    for (task, kind), n in sorted(counts.items()):
        print(f"  {task}/{kind}: {n} episodes -> {args.out / task / kind}")
    if not counts:
        print("no episodes written (did the bag hold /ftrl/decision and /ftrl/episode/event?)")
        return 1
    return 0

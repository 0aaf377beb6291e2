"""The offline phase's demos of a task, for learners that keep them in their replay buffer
(``sac``): read from the data folder ``ftrl train-offline`` wrote, or collected there with the
same seeds and counts (so they are the demos the bundle was trained on)."""

from __future__ import annotations

from pathlib import Path

from .collect import CollectConfig, collect_recovery_demos, collect_task_demos
from .dataset import Transitions, load_folder, to_transitions


def collect_config(task: str, seed: int = 0) -> CollectConfig:
    """The demo settings ``ftrl train-offline`` uses for ``task``."""
    if task.startswith("fb_"):
        from .failurebench_config import offline_config

        return offline_config(seed).collect
    return CollectConfig(seed=seed)


def demo_transitions(task: str, folder: Path, seed: int = 0) -> Transitions:
    """Task + recovery demos of ``task`` from ``folder`` (``data/<task>``), collected if missing."""
    cfg = collect_config(task, seed)
    folder = Path(folder)
    episodes = []
    for kind, collect in (("task_demo", collect_task_demos), ("recovery_demo", collect_recovery_demos)):
        sub = folder / kind
        episodes += load_folder(sub) if sub.is_dir() and any(sub.glob("*.npz")) else collect(task, sub, cfg)
    return to_transitions(episodes)

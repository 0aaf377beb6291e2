"""The offline phase's demos of a task, for learners that keep them in their replay buffer
(``sac``): read from the data folder ``ftrl train-offline`` wrote, or collected there with the
same seeds and counts (so they are the demos the bundle was trained on)."""

from __future__ import annotations

from pathlib import Path

from .collect import CollectConfig, collect_recovery_demos, collect_task_demos
from .dataset import Episode, Transitions, load_folder, to_transitions

KINDS = ("task_demo", "recovery_demo")
"""The demo folders a learner's replay buffer takes (``ftrl train-offline`` writes them)."""


def collect_config(task: str, seed: int = 0) -> CollectConfig:
    """The demo settings ``ftrl train-offline`` uses for ``task``."""
    if task.startswith("fb_"):
        from .failurebench_config import offline_config

        return offline_config(seed).collect
    return CollectConfig(seed=seed)


def saved(folder: Path) -> list[Episode]:
    """The episodes in ``folder``; none if it holds no episode file."""
    return load_folder(folder) if folder.is_dir() and any(folder.glob("*.npz")) else []


def saved_demos(folder: Path) -> Transitions | None:
    """Task + recovery demos already in ``folder`` (``data/<task>``), None if there are none
    (on the robot: teleop demos converted with ``ftrl bag-to-dataset``)."""
    episodes = [ep for kind in KINDS for ep in saved(Path(folder) / kind)]
    return to_transitions(episodes) if episodes else None


def demo_transitions(task: str, folder: Path, seed: int = 0) -> Transitions:
    """Task + recovery demos of ``task`` from ``folder`` (``data/<task>``), collected if missing."""
    cfg = collect_config(task, seed)
    folder = Path(folder)
    episodes = []
    for kind, collect in zip(KINDS, (collect_task_demos, collect_recovery_demos)):
        episodes += saved(folder / kind) or collect(task, folder / kind, cfg)
    return to_transitions(episodes)

"""Collect the three kinds of demonstrations in sim, one episode file each (dataset.py format).

- task demos: the scripted expert with mild exploration noise ("medium-expert", as the paper's
  BAC demos are), from nominal starts;
- recovery demos: the scripted recovery controller from near-failure starts, cut when the state
  is recovered (``spec.recovered``);
- failure demos: the offline task policy with exploration bursts (what online exploration will
  look like); only episodes that end in an IR failure are kept, until ``target_transitions``;
- calibration rollouts: the same noisy offline policy on other seeds, *every* episode kept (safe
  ones too), as validation and test sets for the safety critics.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable

import numpy as np
from tqdm import tqdm

from ..scripted.experts import EXPERTS
from ..utils.noise import BurstNoise, BurstNoisePolicy
from ..scripted.recovery import RECOVERY
from ..sim.envs import make
from .dataset import Episode, EpisodeRecorder, next_episode_path, save_episode

Policy = Callable[[np.ndarray], np.ndarray]


@dataclass
class CollectConfig:
    task_episodes: int = 40
    """Task demos per task (the paper uses 20-80)."""
    task_noise: BurstNoise = BurstNoise(p=0.05, length=2, sigma=0.1)
    """Mild noise on the expert for medium-expert demos."""
    recovery_episodes: int = 120
    recovery_max_steps: int = 20
    failure_transitions: int = 20000
    """Stop collecting failure demos once the kept (failing) episodes hold this many steps."""
    failure_max_episodes: int = 4000
    failure_noise: BurstNoise = BurstNoise()
    calibration_episodes: int = 300
    """Noisy offline-policy rollouts, safe and failing, in each of the validation and test sets."""
    seed: int = 0


def record_episode(
    env,
    policy: Policy,
    seed: int,
    kind: str,
    source: str,
    start: str = "nominal",
    max_steps: int | None = None,
    stop_when_recovered: bool = False,
) -> Episode:
    spec = env.unwrapped.spec_task
    state, _ = env.reset(seed=seed, options={"start": start})
    if hasattr(policy, "reset"):
        policy.reset()
    rec = EpisodeRecorder(state, {"task": spec.name, "layout": list(spec.layout.names), "kind": kind, "seed": seed, "start": start})
    steps = 0
    while True:
        action = np.asarray(policy(state), np.float32)
        # a scripted expert's command before exploration noise (DART): BC's label for this step
        intended = getattr(policy, "intended", None) if source == "expert" else None
        state, reward, terminated, truncated, info = env.step(action)
        steps += 1
        cut = (max_steps is not None and steps >= max_steps) or (stop_when_recovered and not info["ir_failure"] and spec.recovered(state))
        rec.add(
            action,
            state,
            reward,
            info["cost"],
            info["success"],
            info["ir_failure"],
            terminated,
            truncated or (cut and not terminated),
            source=source,
            proposal=None if intended is None else np.asarray(intended, np.float32),
        )
        if terminated or truncated or cut:
            return rec.finish()


def progress_bar(total: int, desc: str):
    """A progress bar on terminals only (logs stay clean)."""
    return tqdm(total=total, desc=desc, leave=False, disable=not sys.stderr.isatty())


@contextmanager
def complete_folder(out: Path) -> Iterator[Path]:
    """Episodes are written to ``<out>.partial``, renamed to ``out`` only once the collection is
    complete: an interrupted run is never reused as a finished data set (``pretrain`` reuses any
    folder of episodes it finds); the next run starts that collection again. Into a folder that
    already holds episodes, the new ones are moved after them."""
    out = Path(out)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    yield tmp
    if not out.exists():
        tmp.rename(out)
        return
    for f in sorted(tmp.glob("*.npz")):  # adding to a folder that holds episodes (ftrl collect)
        f.rename(next_episode_path(out))
    tmp.rmdir()


def collect_task_demos(task: str, out: Path, cfg: CollectConfig) -> list[Episode]:
    env = make(task)
    policy = BurstNoisePolicy(EXPERTS[task](), np.random.default_rng(cfg.seed), cfg.task_noise)
    eps = []
    with complete_folder(out) as tmp, progress_bar(cfg.task_episodes, f"{task} task demos") as bar:
        for i in range(cfg.task_episodes):
            eps.append(record_episode(env, policy, cfg.seed * 100000 + i, "task_demo", "expert"))
            save_episode(next_episode_path(tmp), eps[-1])
            bar.update()
    return eps


def collect_recovery_demos(task: str, out: Path, cfg: CollectConfig) -> list[Episode]:
    env = make(task)
    policy = RECOVERY[task]()
    eps = []
    with complete_folder(out) as tmp, progress_bar(cfg.recovery_episodes, f"{task} recovery demos") as bar:
        for i in range(cfg.recovery_episodes):
            eps.append(
                record_episode(
                    env,
                    policy,
                    cfg.seed * 100000 + 50000 + i,
                    "recovery_demo",
                    "expert",
                    start="near_failure",
                    max_steps=cfg.recovery_max_steps,
                    stop_when_recovered=True,
                )
            )
            save_episode(next_episode_path(tmp), eps[-1])
            bar.update()
    return eps


def collect_failure_demos(task: str, out: Path, policy: Policy, cfg: CollectConfig) -> tuple[list[Episode], int]:
    """Returns the kept failing episodes and how many episodes were run to get them."""
    env = make(task)
    noisy = BurstNoisePolicy(policy, np.random.default_rng(cfg.seed + 1), cfg.failure_noise)
    kept, steps, run = [], 0, 0
    with complete_folder(out) as tmp, progress_bar(cfg.failure_transitions, f"{task} failure demos") as bar:
        while steps < cfg.failure_transitions and run < cfg.failure_max_episodes:
            ep = record_episode(env, noisy, cfg.seed * 100000 + 200000 + run, "failure_demo", "task")
            run += 1
            if ep.failed:
                save_episode(next_episode_path(tmp), ep)
                kept.append(ep)
                steps += len(ep)
                bar.update(len(ep))
    return kept, run


CALIBRATION_SEEDS = {"val": 300000, "test": 400000}


def collect_calibration_rollouts(task: str, out: Path, policy: Policy, cfg: CollectConfig, split: str) -> list[Episode]:
    """``cfg.calibration_episodes`` noisy rollouts of ``policy`` on seeds no other set uses, all kept."""
    env = make(task)
    noisy = BurstNoisePolicy(policy, np.random.default_rng(cfg.seed + 7 + CALIBRATION_SEEDS[split]), cfg.failure_noise)
    eps = []
    with complete_folder(out) as tmp, progress_bar(cfg.calibration_episodes, f"{task} calibration ({split})") as bar:
        for i in range(cfg.calibration_episodes):
            eps.append(record_episode(env, noisy, cfg.seed * 100000 + CALIBRATION_SEEDS[split] + i, f"calibration_{split}", "task"))
            save_episode(next_episode_path(tmp), eps[-1])
            bar.update()
    return eps

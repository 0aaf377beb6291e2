"""The episode dataset format, shared by sim demos, real teleop demos, online data and the ROS
trajectory logger, so all of them are interchangeable.

One episode = one ``.npz`` file (written atomically) holding, for T steps:

=============  ==========  ==========================================================
key            shape       meaning
=============  ==========  ==========================================================
states         (T+1, D)    state before each step, plus the final state (float32)
actions        (T, A)      executed action, normalised to [-1, 1] (float32); A = 2 for the
                           robot tasks (planar velocity), 4 for FailureBench (Meta-World)
source         (T,)        who produced it: see ``SOURCES`` (int8)
logp           (T,)        task policy's log-prob of the executed action at collection
                           time; NaN where no task policy ran (float32)
proposals      (T, A)      the task policy's own (sampled, unclipped) proposal; NaN where no
                           task policy ran. PPO learns from it by default (float32). On
                           scripted-expert rows (source ``expert``): the expert's intended
                           command before exploration noise, BC's label (DART style)
proposal_logp  (T,)        the task policy's log-prob of that proposal (float32)
risk           (T,)        safety critic's C_H for the task proposal; NaN if none (float32)
rewards        (T,)        reward of the step (float32)
costs          (T,)        c_t: 1 if the step ended in an IR failure (float32)
success        (T,)        success test after the step (bool)
ir_failure     (T,)        IR failure during the step (bool)
terminated     (T,)        episode ended by the MDP (IR failure): do not bootstrap (bool)
truncated      (T,)        episode cut by the time limit / operator: bootstrap (bool)
meta           JSON str    format version, task, state layout names, kind, seeds, ...
=============  ==========  ==========================================================
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, NamedTuple

import numpy as np

from ..utils.atomic import atomic_write_bytes

FORMAT_VERSION = 2
"""2 added ``proposals`` and ``proposal_logp``; version-1 files still load (see ``load_episode``)."""
SOURCES = {"expert": 0, "task": 1, "recovery": 2, "operator": 3, "mppi": 4}
"""Who produced each executed action. ``operator``: the person at the arm took over (teleop)."""
SOURCE_NAMES = {code: name for name, code in SOURCES.items()}
"""``source`` codes -> names."""
FALLBACK_SOURCES = ("recovery", "mppi")
"""Sources that act when the filter vetoes the task policy (``methods.Method.fallback`` is one of them)."""
STEP_KEYS = (
    "actions",
    "source",
    "logp",
    "risk",
    "rewards",
    "costs",
    "success",
    "ir_failure",
    "terminated",
    "truncated",
    "proposals",
    "proposal_logp",
)
PAIR_KEYS = ("actions", "proposals")
DTYPES = {
    "states": np.float32,
    "actions": np.float32,
    "source": np.int8,
    "logp": np.float32,
    "risk": np.float32,
    "rewards": np.float32,
    "costs": np.float32,
    "success": bool,
    "ir_failure": bool,
    "terminated": bool,
    "truncated": bool,
    "proposals": np.float32,
    "proposal_logp": np.float32,
}


def decision_source(code: float, hold: bool) -> str:
    """What a decision shows as who acted: ``hold`` when the arm held still, else the ``SOURCES``
    name of ``code`` (``task`` when the code is missing or unknown)."""
    if hold:
        return "hold"
    return SOURCE_NAMES.get(int(code), "task") if math.isfinite(code) else "task"


class DatasetError(ValueError):
    """An episode file that does not follow the format (names the file and the field)."""


@dataclass
class Episode:
    states: np.ndarray
    actions: np.ndarray
    source: np.ndarray
    logp: np.ndarray
    risk: np.ndarray
    rewards: np.ndarray
    costs: np.ndarray
    success: np.ndarray
    ir_failure: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    proposals: np.ndarray
    proposal_logp: np.ndarray
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.actions.shape[0])

    @property
    def failed(self) -> bool:
        return bool(self.ir_failure.any())

    @property
    def ret(self) -> float:
        return float(self.rewards.sum())

    def validate(self, where: str = "episode") -> None:
        t = len(self)
        if self.states.ndim != 2 or self.states.shape[0] != t + 1:
            raise DatasetError(f"{where}: states must be (T+1, D) with T={t}, got {self.states.shape}")
        a = self.actions.shape[1] if self.actions.ndim == 2 else -1
        for key in PAIR_KEYS:
            if getattr(self, key).ndim != 2 or getattr(self, key).shape != (t, a) or a < 1:
                raise DatasetError(f"{where}: {key} must be (T, A) with T={t} and A = the action size, got {getattr(self, key).shape}")
        for key in STEP_KEYS:
            if key not in PAIR_KEYS and getattr(self, key).shape != (t,):
                raise DatasetError(f"{where}: {key} must have shape ({t},), got {getattr(self, key).shape}")
        if not np.all(np.isfinite(self.states)) or not np.all(np.isfinite(self.actions)):
            raise DatasetError(f"{where}: states/actions contain NaN or inf")
        layout = self.meta.get("layout")
        if layout is not None and len(layout) != self.states.shape[1]:
            raise DatasetError(f"{where}: meta.layout has {len(layout)} names for {self.states.shape[1]} state columns")


class EpisodeRecorder:
    """Accumulates one episode step by step; ``finish()`` returns a validated :class:`Episode`."""

    def __init__(self, first_state: np.ndarray, meta: dict):
        self.states = [np.asarray(first_state, np.float32)]
        self.steps: dict[str, list] = {k: [] for k in STEP_KEYS}
        self.meta = dict(meta)

    def add(
        self,
        action,
        next_state,
        reward: float,
        cost: float,
        success: bool,
        ir_failure: bool,
        terminated: bool,
        truncated: bool,
        source: str = "expert",
        logp: float = np.nan,
        risk: float = np.nan,
        proposal=None,
        proposal_logp: float = np.nan,
    ) -> None:
        """One step. ``proposal``/``proposal_logp``: the task policy's own sample and its
        log-prob (PPO's on-policy data); ``logp``: its log-prob of the executed ``action``."""
        self.states.append(np.asarray(next_state, np.float32))
        values = dict(
            actions=np.asarray(action, np.float32),
            source=SOURCES[source],
            logp=logp,
            risk=risk,
            rewards=reward,
            costs=cost,
            success=success,
            ir_failure=ir_failure,
            terminated=terminated,
            truncated=truncated,
            proposals=np.full(np.shape(action), np.nan, np.float32) if proposal is None else np.asarray(proposal, np.float32),
            proposal_logp=proposal_logp,
        )
        for k, v in values.items():
            self.steps[k].append(v)

    def finish(self) -> Episode:
        arrays = {k: np.asarray(v, dtype=DTYPES[k]).reshape((len(v), -1) if k in PAIR_KEYS else (len(v),)) for k, v in self.steps.items()}
        ep = Episode(states=np.stack(self.states).astype(np.float32), meta=self.meta, **arrays)
        ep.validate()
        return ep


def save_episode(path: str | Path, ep: Episode) -> None:
    """Write ``ep`` to ``path`` (.npz) atomically."""
    ep.validate(str(path))
    meta = {**ep.meta, "format_version": FORMAT_VERSION}
    buf = io.BytesIO()
    arrays = {k: getattr(ep, k) for k in ("states", *STEP_KEYS)}
    np.savez_compressed(buf, meta=np.array(json.dumps(meta)), **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_episode(path: str | Path) -> Episode:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"])) if "meta" in z.files else {}
            keys = (
                ("states", *STEP_KEYS)
                if meta.get("format_version") != 1
                else ("states", *(k for k in STEP_KEYS if k not in ("proposals", "proposal_logp")))
            )
            missing = [k for k in ("meta", *keys) if k not in z.files]
            if missing:
                raise DatasetError(f"{path}: missing fields {missing}")
            arrays = {k: z[k].astype(DTYPES[k], copy=False) for k in keys}
    except (OSError, ValueError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{path}: not a readable episode file ({exc})") from exc
    if meta.get("format_version") not in (1, FORMAT_VERSION):
        raise DatasetError(f"{path}: format_version {meta.get('format_version')!r}, expected 1 or {FORMAT_VERSION}")
    if meta["format_version"] == 1:  # v1 had no proposals: the task policy's rows proposed what ran
        own = (arrays["source"] == SOURCES["task"])[:, None]
        arrays["proposals"] = np.where(own, arrays["actions"], np.nan).astype(np.float32)
        arrays["proposal_logp"] = np.where(own[:, 0], arrays["logp"], np.nan).astype(np.float32)
    ep = Episode(meta=meta, **arrays)
    ep.validate(str(path))
    return ep


def episode_paths(folder: str | Path) -> list[Path]:
    return sorted(Path(folder).glob("*.npz"))


def load_folder(folder: str | Path) -> list[Episode]:
    paths = episode_paths(folder)
    if not paths:
        raise DatasetError(f"no episode files (*.npz) in {folder}")
    return [load_episode(p) for p in paths]


def next_episode_path(folder: str | Path, prefix: str = "ep") -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n = len(list(folder.glob(f"{prefix}_*.npz")))
    return folder / f"{prefix}_{n:05d}.npz"


class Transitions(NamedTuple):
    """Flat arrays of transitions from many episodes (what offline learners sample from)."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    costs: np.ndarray
    next_states: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    logp: np.ndarray
    source: np.ndarray
    proposals: np.ndarray
    proposal_logp: np.ndarray


def to_transitions(episodes: Iterable[Episode]) -> Transitions:
    eps = list(episodes)
    if not eps:
        raise DatasetError("no episodes given")
    cat = lambda f: np.concatenate([f(e) for e in eps])  # noqa: E731
    return Transitions(
        states=cat(lambda e: e.states[:-1]),
        actions=cat(lambda e: e.actions),
        rewards=cat(lambda e: e.rewards),
        costs=cat(lambda e: e.costs),
        next_states=cat(lambda e: e.states[1:]),
        terminated=cat(lambda e: e.terminated),
        truncated=cat(lambda e: e.truncated),
        logp=cat(lambda e: e.logp),
        source=cat(lambda e: e.source),
        proposals=cat(lambda e: e.proposals),
        proposal_logp=cat(lambda e: e.proposal_logp),
    )

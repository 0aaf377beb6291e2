"""Safety critics and the filter that switches between task and recovery actions.

``WorldModelCritic`` is the paper's C_H (Eq. 11): starting from the state and the *proposed*
action, roll the latent model H steps ahead, each later action being the task policy's mean on
the decoded state, and sum the gamma_risk-discounted constraint probabilities (H + 1 terms).
``switch`` is Eq. 12 (recovery where C_H > eps_safe); ``decide.Decider`` applies it.

``OODGuard`` keeps a critic cautious out of distribution: a learned critic extrapolates a
hazard approaching faster than anything in its training data to whatever its weights happen to
give -- on FailureBench that was "safe" (C_H ~0 one decision before contact). The guard reads
the task's hazard geometry (gap and closing speed) and, for a closing speed beyond the training
range that would close the gap within the look-ahead, reports the largest risk the critic can
report. Familiar states are left to the critic: its false-alarm cost is measured on the
calibration rollouts (``calibrate.guard_false_alarms``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np
import torch

from .nets import GaussianPolicy
from .world_model import WorldModel


@dataclass
class SafetyConfig:
    horizon: int = 3
    """H: look-ahead steps of C_H (3 x 0.2 s = 0.6 s). Chosen on held-out data: longer
    horizons predict worse when a person moves things at random (AUC by H is in each model's
    .json, ``calibration.horizon_sweep``), shorter ones leave the recovery no time to act."""
    gamma_risk: float = 0.9
    """Discount of later constraint predictions."""
    eps_safe: float = 0.3
    """Threshold on C_H above which the recovery action runs (chosen on held-out data by
    ``calibrate``; the shipped value lives in the model file)."""
    ood_closing_speed: float = float("inf")
    """Fastest closing speed on the hazard (m/s) in the critics' training data: a faster one is
    unfamiliar (inf: no guard, as in bundles built before it)."""
    ood_lookahead_s: float = 0.0
    """An unfamiliar approach that would reach the hazard within this many seconds is risky."""
    confirm_steps: int = 1
    """Debounce: the recovery takes over only after this many consecutive flagged decisions
    (1: at once, Eq. 12 as the paper). Chosen in closed loop (``closed_loop``) from seconds."""
    hold_steps: int = 1
    """Once the recovery has taken over it keeps control for at least this many decisions (1: it
    hands back as soon as the risk drops), so a risk hovering at eps_safe does not chatter."""

    def __post_init__(self) -> None:
        if int(self.confirm_steps) < 1 or int(self.hold_steps) < 1:
            raise ValueError(f"SafetyConfig: confirm_steps and hold_steps must be >= 1, got {self.confirm_steps}, {self.hold_steps}")


class Critic(Protocol):
    def risk(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor: ...


class _Rollout(torch.nn.Module):
    """C_H as a module, so it can be traced into one TorchScript graph."""

    def __init__(self, model: WorldModel, policy: GaussianPolicy, horizon: int, gamma_risk: float):
        super().__init__()
        self.model, self.policy, self.horizon, self.gamma_risk = model, policy, horizon, gamma_risk

    def forward(self, states: torch.Tensor, hazard: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        z, a = self.model.encode(states, hazard), actions
        total = torch.zeros(states.shape[0])
        for i in range(self.horizon + 1):
            total = total + self.gamma_risk**i * self.model.constraint(z, a)
            if i < self.horizon:
                z = self.model.next(z, a)
                a = self.policy.mean(self.model.decode(z))
        return total


class WorldModelCritic:
    """C_H of Eq. 11. The rollout is traced once into TorchScript (about 5x faster at batch 1
    than eager mode); the trace shares the live parameters, so online updates of the task policy
    are seen at once."""

    def __init__(self, model: WorldModel, task_policy: GaussianPolicy, cfg: SafetyConfig):
        self.model, self.policy, self.cfg = model, task_policy, cfg
        self._rollout = _Rollout(model, task_policy, cfg.horizon, cfg.gamma_risk)
        self._traced: Any = None  # torch.jit trace of _rollout, made on first use

    @property
    def ceiling(self) -> float:
        """The largest C_H can be: every one of its H + 1 terms at probability 1."""
        return float(sum(self.cfg.gamma_risk**i for i in range(self.cfg.horizon + 1)))

    @torch.no_grad()
    def risk_eager(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self._rollout(states, self.model.hazard_features(states), actions)

    @torch.no_grad()
    def risk(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """C_H for a batch of (state, proposed action) pairs."""
        hazard = self.model.hazard_features(states)  # numpy geometry: outside the trace
        if self._traced is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._traced = torch.jit.trace(self._rollout, (states[:1], hazard[:1], actions[:1]), check_trace=False)
        return self._traced(states, hazard, actions)


class OODGuard:
    """Risk for threats unlike the training data, from the task's hazard geometry alone."""

    def __init__(self, hazard: Callable[[np.ndarray], np.ndarray], closing_speed: float, lookahead_s: float, ceiling: float):
        self.hazard, self.closing_speed, self.lookahead_s, self.ceiling = hazard, closing_speed, lookahead_s, ceiling

    def fires(self, states: np.ndarray) -> np.ndarray:
        """(N,) bool: closing faster than any training state and within the look-ahead of contact."""
        hz = self.hazard(np.asarray(states, np.float64))
        gap, closing = hz[:, 0], hz[:, 1]
        return (closing > self.closing_speed) & (gap < closing * self.lookahead_s)

    def floor(self, states: np.ndarray) -> np.ndarray:
        return np.where(self.fires(states), self.ceiling, 0.0).astype(np.float32)


class GuardedCritic:
    """``critic``'s risk, raised to the guard's ceiling where the guard fires."""

    def __init__(self, critic: "Critic", guard: OODGuard):
        self.critic, self.guard = critic, guard

    @torch.no_grad()
    def risk(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        r = self.critic.risk(states, actions)
        return torch.maximum(r, torch.as_tensor(self.guard.floor(states.numpy()), dtype=r.dtype))


def guard_for(task: str, cfg: SafetyConfig, ceiling: float) -> OODGuard | None:
    """The OOD guard a bundle's safety settings ask for (None where it has none)."""
    if not np.isfinite(cfg.ood_closing_speed) or cfg.ood_lookahead_s <= 0:
        return None
    from ..tasks import get_task

    return OODGuard(get_task(task).hazard_features, cfg.ood_closing_speed, cfg.ood_lookahead_s, ceiling)


def guarded(critic, guard: OODGuard | None):
    return critic if guard is None else GuardedCritic(critic, guard)


def switch(risk, eps_safe: float) -> np.ndarray:
    """Eq. 12, element-wise: True (recovery) only where the risk is strictly above eps_safe."""
    return np.asarray(risk) > eps_safe


class Debounce:
    """Hysteresis of the switch, one state per robot (row of a batch): a takeover needs
    ``confirm`` consecutive flagged decisions and then lasts at least ``hold`` decisions.
    With confirm = hold = 1 it is the plain switch (no state). ``reset`` at an episode start."""

    def __init__(self, confirm: int = 1, hold: int = 1):
        if confirm < 1 or hold < 1:
            raise ValueError(f"Debounce: confirm and hold must be >= 1, got {confirm}, {hold}")
        self.confirm, self.hold = int(confirm), int(hold)
        self.streak = np.zeros(0, np.int64)
        self.left = np.zeros(0, np.int64)

    @property
    def stateless(self) -> bool:
        return self.confirm == 1 and self.hold == 1

    def reset(self, rows: np.ndarray | None = None) -> None:
        """Forget the history of ``rows`` (bool mask or indices; None: all). A mask for another
        number of robots than the last decision's is ignored: the next decision starts afresh."""
        idx = slice(None) if rows is None else np.asarray(rows)
        if isinstance(idx, np.ndarray) and idx.dtype == bool and len(idx) != len(self.streak):
            return
        self.streak[idx] = 0
        self.left[idx] = 0

    def __call__(self, flagged: np.ndarray) -> np.ndarray:
        """(N,) bool: which rows the recovery controls now."""
        flagged = np.asarray(flagged, bool)
        if self.stateless:
            return flagged
        if len(self.streak) != len(flagged):  # a new batch size: a new set of robots
            self.streak, self.left = np.zeros(len(flagged), np.int64), np.zeros(len(flagged), np.int64)
        self.streak = np.where(flagged, self.streak + 1, 0)
        confirmed = self.streak >= self.confirm
        take = confirmed | (self.left > 0)
        self.left = np.where(confirmed, self.hold - 1, np.maximum(self.left - 1, 0))
        return take


def policy_mean_fn(policy: GaussianPolicy) -> Callable[[np.ndarray], np.ndarray]:
    """A deterministic callable from a Gaussian policy (the frozen recovery policy online)."""

    def act(state: np.ndarray) -> np.ndarray:
        return policy.act(state, deterministic=True)[0]

    return act

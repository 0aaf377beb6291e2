"""Recovery RL's safety critic (Thananjeyan et al.; paper Eq. 16-17): an MLP Q_safe(s, a)
estimating the discounted probability of a future constraint violation under the task policy,
trained on the same task + failure data as the world model. The ablation swaps it for C_H.
For a fair ablation it gets what the world model gets: the task's hazard features as inputs
(``hazard_task``) and its discount from the same half-life in seconds (``timescale``)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .dataset import Transitions
from .nets import GaussianPolicy, Normalizer, mlp
from .scalars import LOG_EVERY, Scalars, no_scalars
from .world_model import HazardInput, hazard_fn, hazard_tensor


@dataclass
class RecoveryRLConfig:
    gamma_safe: float = 0.8
    """Discount of Eq. 16 (Recovery RL uses short effective horizons; ``timescale.apply`` sets
    it from a half-life in seconds)."""
    hidden: int = 256
    steps: int = 3000
    batch: int = 256
    lr: float = 3e-4
    tau: float = 0.005
    failure_fraction: float = 0.3
    """Share of each batch drawn from failing transitions (they are rare)."""
    seed: int = 0


class SafetyQ(nn.Module):
    def __init__(self, normalizer: Normalizer, action_dim: int = 2, hidden: int = 256, hazard_task: str = ""):
        super().__init__()
        self.norm = normalizer
        self.hazard_task = hazard_task
        self.hazard = hazard_fn(hazard_task)
        extra = 2 if self.hazard is not None else 0
        if self.hazard is not None:  # only then in the state dict: older bundles load unchanged
            self.hazard_in = HazardInput(extra)
        self.net = mlp(normalizer.mean.shape[0] + extra + action_dim, hidden, 1)

    def features(self, s: torch.Tensor) -> torch.Tensor:
        """The hazard features of ``s`` (numpy geometry), empty without."""
        return hazard_tensor(self.hazard, s, 2)

    def forward(self, s: torch.Tensor, a: torch.Tensor, hazard: torch.Tensor | None = None) -> torch.Tensor:
        x = [self.norm(s)]
        if self.hazard is not None:
            x.append(self.hazard_in(self.features(s) if hazard is None else hazard))
        return torch.sigmoid(self.net(torch.cat([*x, a], -1))).squeeze(-1)


class RecoveryRLCritic:
    def __init__(self, q: SafetyQ):
        self.q = q

    @torch.no_grad()
    def risk(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.q(states, actions)


def train_safety_q(
    tr: Transitions,
    task_policy: GaussianPolicy,
    cfg: RecoveryRLConfig = RecoveryRLConfig(),
    hazard_task: str = "",
    scalars: Scalars = no_scalars,
) -> tuple[SafetyQ, dict[str, float]]:
    """Eq. 17: Q_safe(s, a) <- c + (1 - c) gamma_safe Q_safe'(s', pi_task(s'))."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    q = SafetyQ(Normalizer.from_data(np.asarray(tr.states)), tr.actions.shape[1], cfg.hidden, hazard_task)
    t = lambda x: torch.as_tensor(np.asarray(x, np.float32))  # noqa: E731
    s, a, c, s2 = t(tr.states), t(tr.actions), t(tr.costs), t(tr.next_states)
    h, h2 = q.features(s), q.features(s2)  # computed once: the geometry is numpy
    if q.hazard is not None:
        q.hazard_in.fit(h.numpy())
    q_t = copy.deepcopy(q).requires_grad_(False)
    opt = torch.optim.Adam(q.parameters(), lr=cfg.lr)
    fail = np.flatnonzero(tr.costs > 0)
    loss = torch.zeros(())
    for step in range(cfg.steps):
        n_fail = int(cfg.batch * cfg.failure_fraction) if len(fail) else 0
        idx = torch.as_tensor(
            np.concatenate([rng.integers(0, len(c), cfg.batch - n_fail), rng.choice(fail, n_fail) if n_fail else []]).astype(int)
        )
        with torch.no_grad():
            target = c[idx] + (1 - c[idx]) * cfg.gamma_safe * q_t(s2[idx], task_policy.mean(s2[idx]), h2[idx])
        loss = F.mse_loss(q(s[idx], a[idx], h[idx]), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            for p, pt in zip(q.parameters(), q_t.parameters()):
                pt.lerp_(p, cfg.tau)
        if step % LOG_EVERY == 0 or step == cfg.steps - 1:
            scalars("recovery_rl/q_loss", loss.item(), step)
    return q, {"recovery_rl/q_loss": loss.item()}

"""The gate of the offline improvement rounds, as Uni-O4 does it: a candidate policy is kept only
if it beats the policy it came from in roll-outs through a learned dynamics ensemble.

Why not the fitted Q: the rounds *maximise* the IQL advantage, so scoring a candidate by mean
Q(s, mu(s)) on the same data states grades it with the quantity it was trained to raise -- every
round passed (4 of 4 in every robot bundle), including rounds that cut the return to a third.
Here both policies are rolled out from the same data states, with the same ensemble member
drawn at every step, and the candidate passes only if the paired difference of discounted model
returns is above zero with 95 % confidence. A model error the candidate does not exploit hurts
both policies alike; one it exploits still has to survive the ensemble's disagreement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .nets import GaussianPolicy, Normalizer, StateFeatures, mlp


@dataclass
class GateConfig:
    members: int = 4
    """Dynamics models in the ensemble (each on a bootstrap resample)."""
    hidden: int = 200
    steps: int = 1500
    """Gradient steps per member."""
    batch: int = 256
    lr: float = 1e-3
    starts: int = 256
    """Data states the two policies are rolled out from."""
    horizon: int = 10
    """Roll-out length in steps (``timescale``: 2 s of robot time)."""
    gamma: float = 0.99
    z: float = 1.96
    """The candidate passes when mean - z * standard error of the paired difference > 0."""
    seed: int = 0


class DynamicsModel(nn.Module):
    """(s, a) -> (s' - s, r), in normalised units."""

    def __init__(self, normalizer: Normalizer, action_dim: int, hidden: int, delta_std: torch.Tensor, reward_std: float):
        super().__init__()
        self.norm = normalizer
        d = normalizer.in_dim
        self.net = mlp(normalizer.out_dim + action_dim, hidden, d + 1)
        self.register_buffer("delta_std", delta_std)
        self.register_buffer("reward_std", torch.tensor(float(reward_std)))

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(torch.cat([self.norm(s), a], -1))
        return s + out[..., :-1] * self.delta_std, out[..., -1] * self.reward_std


class ModelGate:
    """A dynamics ensemble fitted on (s, a, r, s') and the paired model-return test."""

    def __init__(self, models: list[DynamicsModel], states: torch.Tensor, cfg: GateConfig):
        self.models, self.cfg = models, cfg
        g = np.random.default_rng(cfg.seed + 1)
        self.starts = states[torch.as_tensor(g.integers(0, states.shape[0], cfg.starts))]
        self.member_seq = g.integers(0, len(models), (cfg.horizon, cfg.starts))

    @torch.no_grad()
    def returns(self, policy: GaussianPolicy) -> np.ndarray:
        """(starts,) discounted model returns of ``policy``'s mean action."""
        s, total = self.starts.clone(), torch.zeros(self.starts.shape[0])
        rows = torch.arange(s.shape[0])
        for t in range(self.cfg.horizon):
            a = policy.mean(s)
            preds = [m(s, a) for m in self.models]
            nxt = torch.stack([p[0] for p in preds])  # (M, N, D)
            rew = torch.stack([p[1] for p in preds])  # (M, N)
            pick = torch.as_tensor(self.member_seq[t])
            total += self.cfg.gamma**t * rew[pick, rows]
            s = nxt[pick, rows]
        return total.numpy()

    def compare(self, candidate: GaussianPolicy, behaviour: GaussianPolicy) -> dict[str, float]:
        """The paired test; ``accept`` is 1.0 when the candidate is better with 95 % confidence."""
        diff = self.returns(candidate) - self.returns(behaviour)
        mean, se = float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))
        return {"diff": mean, "se": se, "accept": float(mean - self.cfg.z * se > 0.0)}


def fit_gate(
    states: np.ndarray,
    actions: np.ndarray,
    rewards: np.ndarray,
    next_states: np.ndarray,
    cfg: GateConfig = GateConfig(),
    features: StateFeatures | None = None,
) -> tuple[ModelGate, dict[str, float]]:
    """Fit the ensemble (one-step MSE in normalised units) and return the gate and its losses."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    t = lambda x: torch.as_tensor(np.asarray(x, np.float32))  # noqa: E731
    s, a, r, s2 = t(states), t(actions), t(rewards), t(next_states)
    delta = s2 - s
    delta_std = delta.std(0, unbiased=False).clamp(min=1e-4)
    reward_std = float(r.std().clamp(min=1e-4))
    norm = Normalizer.from_data(np.asarray(states, np.float32), features)
    models, losses = [], []
    n = s.shape[0]
    for _ in range(cfg.members):
        m = DynamicsModel(norm, a.shape[1], cfg.hidden, delta_std, reward_std)
        opt = torch.optim.Adam(m.parameters(), lr=cfg.lr)
        pool = rng.integers(0, n, n)  # bootstrap resample
        loss = torch.zeros(())
        for _step in range(cfg.steps):
            idx = torch.as_tensor(pool[rng.integers(0, n, min(cfg.batch, n))])
            out = m.net(torch.cat([m.norm(s[idx]), a[idx]], -1))
            loss = ((out[:, :-1] - delta[idx] / delta_std) ** 2).mean() + ((out[:, -1] - r[idx] / reward_std) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        models.append(m.requires_grad_(False))
        losses.append(loss.item())
    return ModelGate(models, s, cfg), {"gate/model_loss": float(np.mean(losses))}

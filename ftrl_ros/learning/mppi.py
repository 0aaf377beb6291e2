"""MPPI with the world model in place of the recovery policy (ablation): when the critic flags a
proposal, plan an action sequence in latent space that keeps the predicted constraint low and the
reward high, and execute its first action."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .world_model import WorldModel


@dataclass
class MPPIConfig:
    horizon: int = 5
    samples: int = 64
    iterations: int = 2
    temperature: float = 0.5
    std: float = 0.5
    """Initial sampling std of each action component."""
    constraint_weight: float = 20.0
    """Cost per unit of predicted constraint probability (vs. 1 per unit of reward)."""
    gamma: float = 0.9
    seed: int = 0


class MPPIRecovery:
    def __init__(self, model: WorldModel, cfg: MPPIConfig = MPPIConfig()):
        self.model, self.cfg = model, cfg
        self.gen = torch.Generator().manual_seed(cfg.seed)

    def __call__(self, state: np.ndarray) -> np.ndarray:
        return self.plan(np.asarray(state)[None])[0]

    @torch.no_grad()
    def plan(self, states: np.ndarray) -> np.ndarray:
        """First actions (B, A) of the plans for a batch of states (B, D): each state is
        planned on its own samples, all in one pass through the world model."""
        cfg, m = self.cfg, self.model
        z0 = m.encode(torch.as_tensor(np.asarray(states, np.float32)))
        b, s, h, k = z0.shape[0], cfg.samples, cfg.horizon, m.action_dim
        mean = torch.zeros(b, 1, h, k)
        std = torch.full((b, 1, h, k), cfg.std)
        for _ in range(cfg.iterations):
            noise = torch.randn(b, s, h, k, generator=self.gen)
            acts = (mean + std * noise).clamp(-1, 1)
            z = z0[:, None].expand(b, s, -1).reshape(b * s, -1)
            score = torch.zeros(b * s)
            for i in range(h):
                a = acts[:, :, i].reshape(b * s, k)
                score += cfg.gamma**i * (m.reward(z, a) - cfg.constraint_weight * m.constraint(z, a)).reshape(-1)
                z = m.next(z, a)
            score = score.reshape(b, s)
            w = torch.softmax((score - score.max(1, keepdim=True).values) / cfg.temperature, 1)[:, :, None, None]
            mean = (w * acts).sum(1, keepdim=True)
            std = ((w * (acts - mean) ** 2).sum(1, keepdim=True)).sqrt().clamp(min=0.05)
        return mean[:, 0, 0].numpy().astype(np.float32)

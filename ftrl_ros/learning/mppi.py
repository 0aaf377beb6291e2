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

    @torch.no_grad()
    def __call__(self, state: np.ndarray) -> np.ndarray:
        cfg, m = self.cfg, self.model
        z0 = m.encode(torch.as_tensor(np.asarray(state, np.float32)).unsqueeze(0))
        mean = torch.zeros(cfg.horizon, 2)
        std = torch.full((cfg.horizon, 2), cfg.std)
        for _ in range(cfg.iterations):
            noise = torch.randn(cfg.samples, cfg.horizon, 2, generator=self.gen)
            acts = (mean + std * noise).clamp(-1, 1)
            z = z0.expand(cfg.samples, -1)
            score = torch.zeros(cfg.samples)
            for i in range(cfg.horizon):
                a = acts[:, i]
                score += cfg.gamma ** i * (m.reward(z, a) - cfg.constraint_weight * m.constraint(z, a))
                z = m.next(z, a)
            w = torch.softmax((score - score.max()) / cfg.temperature, 0)
            mean = (w[:, None, None] * acts).sum(0)
            std = ((w[:, None, None] * (acts - mean) ** 2).sum(0)).sqrt().clamp(min=0.05)
        return mean[0].numpy().astype(np.float32)

"""Networks shared by the learners: MLPs, a frozen observation normaliser, a Gaussian policy, V
and twin-Q critics. Small on purpose: everything trains on 2 CPU cores."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.distributions import Normal


def mlp(in_dim: int, hidden: int, out_dim: int, layers: int = 2, norm: bool = True) -> nn.Sequential:
    """``layers`` hidden layers of Linear -> (LayerNorm) -> Mish, then a linear head."""
    mods: list[nn.Module] = []
    d = in_dim
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), *([nn.LayerNorm(hidden)] if norm else []), nn.Mish()]
        d = hidden
    mods.append(nn.Linear(d, out_dim))
    return nn.Sequential(*mods)


class Normalizer(nn.Module):
    """(x - mean) / std with statistics frozen from offline data (never updated online)."""

    mean: torch.Tensor  # buffers (in the state dict, moved with the module)
    std: torch.Tensor

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @classmethod
    def from_data(cls, x: np.ndarray) -> "Normalizer":
        n = cls(x.shape[1])
        n.mean.copy_(torch.as_tensor(x.mean(0), dtype=torch.float32))
        n.std.copy_(torch.as_tensor(np.maximum(x.std(0), 1e-3), dtype=torch.float32))
        return n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class GaussianPolicy(nn.Module):
    """a ~ N(tanh(mu(s)), sigma): the mean stays inside the action box, samples are clipped by
    the robot. State-independent log-std, as in PPO."""

    def __init__(self, normalizer: Normalizer, action_dim: int = 2, hidden: int = 256, init_log_std: float = -1.0):
        super().__init__()
        self.norm = normalizer
        self.net = mlp(normalizer.mean.shape[0], hidden, action_dim)
        self.log_std = nn.Parameter(torch.full((action_dim,), float(init_log_std)))

    def mean(self, s: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(self.norm(s)))

    def dist(self, s: torch.Tensor) -> Normal:
        return Normal(self.mean(s), self.log_std.clamp(-5.0, 1.0).exp().expand(s.shape[0], -1))

    def log_prob(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.dist(s).log_prob(a).sum(-1)

    @torch.no_grad()
    def act(self, s: np.ndarray, deterministic: bool = False, generator: torch.Generator | None = None) -> tuple[np.ndarray, float]:
        """One action for one state (numpy in/out) and its log-probability."""
        st = torch.as_tensor(np.asarray(s, np.float32)).unsqueeze(0)
        d = self.dist(st)
        a = d.mean if deterministic else d.mean + d.stddev * torch.randn(d.mean.shape, generator=generator)
        return a[0].numpy().astype(np.float32), float(d.log_prob(a).sum(-1))


class ValueNet(nn.Module):
    def __init__(self, normalizer: Normalizer, hidden: int = 256):
        super().__init__()
        self.norm = normalizer
        self.net = mlp(normalizer.mean.shape[0], hidden, 1)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(s)).squeeze(-1)


class TwinQ(nn.Module):
    def __init__(self, normalizer: Normalizer, action_dim: int = 2, hidden: int = 256):
        super().__init__()
        self.norm = normalizer
        d = normalizer.mean.shape[0] + action_dim
        self.q1, self.q2 = mlp(d, hidden, 1), mlp(d, hidden, 1)

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([self.norm(s), a], -1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)

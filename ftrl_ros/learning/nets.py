"""Networks shared by the learners: MLPs, a frozen observation normaliser, a Gaussian policy, V
and twin-Q critics. Small on purpose: everything trains on 2 CPU cores."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.distributions import Normal

from ..tasks.features import StateFeatures

__all__ = ["GaussianPolicy", "Normalizer", "StateFeatures", "TwinQ", "ValueNet", "mlp", "shift_scene"]


def mlp(in_dim: int, hidden: int, out_dim: int, layers: int = 2, norm: bool = True, act: type[nn.Module] = nn.Mish) -> nn.Sequential:
    """``layers`` hidden layers of Linear -> (LayerNorm) -> ``act`` (Mish), then a linear head."""
    mods: list[nn.Module] = []
    d = in_dim
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), *([nn.LayerNorm(hidden)] if norm else []), act()]
        d = hidden
    mods.append(nn.Linear(d, out_dim))
    return nn.Sequential(*mods)


class Normalizer(nn.Module):
    """(x - mean) / std with statistics frozen from offline data (never updated online); with
    :class:`StateFeatures`, the differences are appended first and dropped dimensions zeroed."""

    mean: torch.Tensor  # buffers (in the state dict, moved with the module)
    std: torch.Tensor
    feat_a: torch.Tensor  # with features only
    feat_b: torch.Tensor
    keep: torch.Tensor

    def __init__(self, dim: int, features: StateFeatures | None = None):
        super().__init__()
        a = [i for ai, _, n in (features.diffs if features else ()) for i in range(ai, ai + n)]
        b = [i for _, bi, n in (features.diffs if features else ()) for i in range(bi, bi + n)]
        out = dim + len(a)
        self.register_buffer("mean", torch.zeros(out))
        self.register_buffer("std", torch.ones(out))
        self.features = features is not None
        if features is not None:  # only then in the state dict: older bundles load unchanged
            keep = torch.ones(out)
            keep[list(features.drop)] = 0.0
            self.register_buffer("feat_a", torch.as_tensor(a, dtype=torch.long))
            self.register_buffer("feat_b", torch.as_tensor(b, dtype=torch.long))
            self.register_buffer("keep", keep)

    @property
    def out_dim(self) -> int:
        return int(self.mean.shape[0])

    @property
    def in_dim(self) -> int:
        """The raw state's size (``out_dim`` less the appended differences)."""
        return self.out_dim - (int(self.feat_a.shape[0]) if self.features else 0)

    def expand(self, x: torch.Tensor) -> torch.Tensor:
        """The state with its difference features appended (the state itself without features)."""
        if not self.features:
            return x
        return torch.cat([x, x[..., self.feat_a] - x[..., self.feat_b]], -1)

    @classmethod
    def from_data(cls, x: np.ndarray, features: StateFeatures | None = None) -> "Normalizer":
        n = cls(x.shape[1], features)
        f = n.expand(torch.as_tensor(np.asarray(x), dtype=torch.float32))
        n.mean.copy_(f.mean(0))
        n.std.copy_(torch.clamp(f.std(0, unbiased=False), min=1e-3))
        return n

    @classmethod
    def from_state_dict(cls, sd: dict, prefix: str = "norm.") -> "Normalizer":
        """An empty normaliser shaped like the one saved in ``sd`` (load the weights after)."""
        if prefix + "feat_a" not in sd:
            return cls(sd[prefix + "mean"].shape[0])
        extra = sd[prefix + "feat_a"].shape[0]  # the indices themselves come with load_state_dict
        return cls(sd[prefix + "mean"].shape[0] - extra, StateFeatures(diffs=((0, 0, extra),)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (self.expand(x) - self.mean) / self.std
        return z * self.keep if self.features else z


def shift_scene(
    states: torch.Tensor, features: StateFeatures | None, scale: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Data augmentation for behaviour cloning: the whole scene (hand, object, goal, ...) moved by
    one random planar offset in [-scale, scale] per row. A velocity command does not change when
    everything it relates to moves together, so the demo's action stays right."""
    if features is None or not features.shift_xy or scale <= 0:
        return states
    d = (torch.rand(states.shape[0], 2, generator=generator) * 2 - 1) * scale
    out = states.clone()
    for i in features.shift_xy:
        out[:, i : i + 2] += d
    return out


class GaussianPolicy(nn.Module):
    """a ~ N(tanh(mu(s)), sigma): the mean stays inside the action box, samples are clipped by
    the robot. State-independent log-std, as in PPO."""

    def __init__(self, normalizer: Normalizer, action_dim: int = 2, hidden: int = 256, init_log_std: float = -1.0):
        super().__init__()
        self.norm = normalizer
        self.net = mlp(normalizer.out_dim, hidden, action_dim)
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
    """V(s). ``return_scale`` records its units: outputs are discounted returns times this (1 from
    offline IQL, which fits raw rewards; PPO's ``reward_scale`` once online PPO has rescaled it)."""

    return_scale: torch.Tensor  # buffer, saved with the weights

    def __init__(self, normalizer: Normalizer, hidden: int = 256):
        super().__init__()
        self.norm = normalizer
        self.net = mlp(normalizer.out_dim, hidden, 1)
        self.register_buffer("return_scale", torch.ones(()))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(s)).squeeze(-1)

    @torch.no_grad()
    def rescale(self, scale: float) -> None:
        """Express V in units of ``scale`` x return: the output layer is multiplied by the ratio,
        so V(s) keeps its meaning when PPO scales the rewards it learns from."""
        ratio = scale / float(self.return_scale)  # the buffer is float32: compare loosely
        if abs(ratio - 1.0) < 1e-6:
            return
        head = self.net[-1]
        assert isinstance(head, nn.Linear)
        head.weight.mul_(ratio)
        head.bias.mul_(ratio)
        self.return_scale.fill_(scale)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Older files have no ``return_scale``: their values are raw returns."""
        return super().load_state_dict({"return_scale": torch.ones(()), **state_dict}, strict, assign)


class TwinQ(nn.Module):
    def __init__(self, normalizer: Normalizer, action_dim: int = 2, hidden: int = 256):
        super().__init__()
        self.norm = normalizer
        d = normalizer.out_dim + action_dim
        self.q1, self.q2 = mlp(d, hidden, 1), mlp(d, hidden, 1)

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([self.norm(s), a], -1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)

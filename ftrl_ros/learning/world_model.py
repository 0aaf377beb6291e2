"""Latent world model with a constraint head (paper Eq. 4-10), in the style of TD-MPC2.

Components, named for what they predict:
  encode  h(s) -> z            next     d(z, a) -> z'        decode  S(z) -> s
  reward  R(z, a) -> r         Q        Q(z, a) -> value     constraint  C(z, a) -> P(c = 1)
  pi      pi(z) -> a (the policy prior, used for value targets)

Training (Eq. 4): over windows of H steps from task + failure demos, the lambda^i-weighted sum of
  reward MSE (Eq. 5); value cross-entropy against two-hot TD targets from a target network
  (Eq. 6); latent consistency of d(z_i, a_i) with the target encoder's h(s_{i+1}) (Eq. 7, as in
  TD-MPC2 we use squared error); the constraint loss (Eq. 8, binary cross-entropy on the logit:
  same minimiser as squared error for a 0/1 target, better gradients when failures are rare);
  decoder MSE in normalised state space (Eq. 9). The policy prior maximises Q with a BC term.

Two things beyond the paper, both off in bundles built before them (their ``wm_config`` lacks
the fields): the constraint head's target looks ``constraint_horizon`` steps ahead ("an IR
failure within K steps", not only on the failure step itself), and with ``hazard_task`` set the
encoder also sees the task's hazard geometry (gap to the hazard and its closing speed,
``TaskSpec.hazard_features``), clamped to the range seen in training so an unfamiliar value is
never extrapolated.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .dataset import Episode
from .nets import Normalizer, StateFeatures, mlp


@dataclass
class WorldModelConfig:
    latent: int = 64
    """Latent size (multiple of ``simnorm_group``)."""
    hidden: int = 128
    """Width of every MLP (training is FLOP-bound on CPU: 128 keeps a step near 50 ms)."""
    simnorm_group: int = 8
    """SimNorm group size: the latent is a set of small softmax simplices (TD-MPC2)."""
    horizon: int = 5
    """H: training window length in steps (``timescale.apply`` sets it from seconds)."""
    constraint_horizon: int = 0
    """K: the constraint head's target at step t is "an IR failure at one of steps t .. t+K"
    (0: the failure step only, the paper's c_t; ``timescale.apply`` sets it from seconds)."""
    hazard_task: str = ""
    """Task whose ``hazard_features`` the encoder also sees ("": none)."""
    hazard_head: bool = False
    """With ``hazard_task``: the model also predicts the hazard features from every latent (an
    auxiliary target, so the latent keeps the geometry through a roll-out) and the constraint
    head reads that prediction beside the latent."""
    coef_hazard: float = 1.0
    rho: float = 0.7
    """lambda of Eq. 4: weight decay of later steps in the window."""
    gamma: float = 0.99
    coef_reward: float = 0.5
    coef_value: float = 0.1
    coef_consistency: float = 10.0
    coef_constraint: float = 2.0
    coef_decoder: float = 1.0
    num_bins: int = 65
    """Bins of the two-hot value distribution (in symlog space)."""
    vmin: float = -6.0
    vmax: float = 6.0
    tau: float = 0.01
    """EMA rate of the target network."""
    failure_fraction: float = 0.5
    """Share of each batch drawn from windows that contain an IR failure."""
    batch: int = 128
    lr: float = 3e-4
    steps: int = 3000
    seed: int = 0


class SeqBatch(NamedTuple):
    states: torch.Tensor  # (B, H+1, D)
    actions: torch.Tensor  # (B, H, A)
    rewards: torch.Tensor  # (B, H)
    costs: torch.Tensor  # (B, H): the constraint head's target (far-sighted when K > 0)
    terminated: torch.Tensor  # (B, H)
    mask: torch.Tensor  # (B, H): 1 where the step exists (windows may run past the episode end)
    hazard: torch.Tensor  # (B, H+1, F): hazard features of the states (F = 0 without)


class HazardInput(nn.Module):
    """The hazard features as the encoder sees them: clamped to the range seen in training (an
    unfamiliar closing speed is never extrapolated by the network; the OOD guard in
    ``safety`` treats it instead), then standardised."""

    lo: torch.Tensor
    hi: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, dim: int = 2):
        super().__init__()
        for name, v in (("lo", -1e9), ("hi", 1e9), ("mean", 0.0), ("std", 1.0)):
            self.register_buffer(name, torch.full((dim,), v))

    def fit(self, features: np.ndarray) -> None:
        f = torch.as_tensor(np.asarray(features, np.float32))
        self.lo.copy_(f.min(0).values)
        self.hi.copy_(f.max(0).values)
        self.mean.copy_(f.mean(0))
        self.std.copy_(f.std(0, unbiased=False).clamp(min=1e-3))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return (torch.maximum(torch.minimum(h, self.hi), self.lo) - self.mean) / self.std


def hazard_fn(task: str):
    """``task``'s ``hazard_features`` (numpy, (N, D) -> (N, 2)); None for ``task == ""``."""
    if not task:
        return None
    from ..tasks import get_task

    return get_task(task).hazard_features


def hazard_tensor(hazard, s: torch.Tensor, dim: int) -> torch.Tensor:
    """``hazard`` (numpy, (N, D) -> (N, dim)) on a tensor of states of any leading shape; an
    empty last axis where there is no hazard function."""
    if hazard is None:
        return s.new_zeros((*s.shape[:-1], 0))
    flat = s.detach().reshape(-1, s.shape[-1]).cpu().numpy()
    return torch.as_tensor(hazard(flat)).reshape(*s.shape[:-1], dim)


def constraint_targets(costs: np.ndarray, horizon: int) -> np.ndarray:
    """Far-sighted constraint target of an episode: 1 at step t when a cost is incurred at one
    of the steps t .. t+horizon (horizon 0: the cost itself)."""
    c = np.asarray(costs) > 0
    out = c.copy()
    for k in range(1, horizon + 1):
        out[:-k] |= c[k:]
    return out.astype(np.float32)


def symlog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * (torch.exp(x.abs()) - 1)


class SimNorm(nn.Module):
    def __init__(self, group: int):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        return F.softmax(x.view(*shape[:-1], -1, self.group), dim=-1).view(shape)


class WorldModel(nn.Module):
    bins: torch.Tensor  # buffer: the two-hot value bins
    target: nn.ModuleDict | None  # EMA copy of encoder + Q, outside the state dict

    def __init__(self, normalizer: Normalizer, action_dim: int = 2, cfg: WorldModelConfig = WorldModelConfig()):
        super().__init__()
        self.cfg, self.action_dim = cfg, action_dim
        d, h, z = normalizer.mean.shape[0], cfg.hidden, cfg.latent
        self.norm = normalizer
        self.hazard = hazard_fn(cfg.hazard_task)
        self.hazard_dim = 2 if self.hazard is not None else 0
        if self.hazard is not None:  # only then in the state dict: older bundles load unchanged
            self.hazard_in = HazardInput(self.hazard_dim)
        self._encoder = nn.Sequential(mlp(d + self.hazard_dim, h, z), SimNorm(cfg.simnorm_group))
        self._dynamics = nn.Sequential(mlp(z + action_dim, h, z), SimNorm(cfg.simnorm_group))
        self._reward = mlp(z + action_dim, h, 1)
        self._q = mlp(z + action_dim, h, cfg.num_bins)
        self.hazard_head = self.hazard is not None and cfg.hazard_head
        if self.hazard_head:  # only then in the state dict
            self._hazard = mlp(z, h, self.hazard_dim)
        self._constraint = mlp(z + action_dim + (self.hazard_dim if self.hazard_head else 0), h, 1)
        self._decoder = mlp(z, h, d)
        self._pi = mlp(z, h, action_dim)
        self.register_buffer("bins", torch.linspace(cfg.vmin, cfg.vmax, cfg.num_bins))
        object.__setattr__(self, "target", None)  # EMA copy of encoder + Q: make_target()

    # --- what the model predicts ---------------------------------------------------------
    def hazard_features(self, s: torch.Tensor) -> torch.Tensor:
        """(..., D) states -> (..., F) hazard features (F = 0 for a model without them)."""
        return hazard_tensor(self.hazard, s, self.hazard_dim)

    def encoder_input(self, s: torch.Tensor, hazard: torch.Tensor | None = None) -> torch.Tensor:
        """What the encoder sees: the normalised state (+ the hazard features, computed from
        ``s`` unless given)."""
        x = self.norm(s)
        if self.hazard is None:
            return x
        hz = self.hazard_features(s) if hazard is None else hazard
        return torch.cat([x, self.hazard_in(hz)], -1)

    def encode(self, s: torch.Tensor, hazard: torch.Tensor | None = None) -> torch.Tensor:
        return self._encoder(self.encoder_input(s, hazard))

    def next(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self._dynamics(torch.cat([z, a], -1))

    def reward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self._reward(torch.cat([z, a], -1)).squeeze(-1)

    def Q_logits(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self._q(torch.cat([z, a], -1))

    def Q(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.expected_value(self.Q_logits(z, a))

    def expected_value(self, logits: torch.Tensor) -> torch.Tensor:
        """Expected value of a two-hot value distribution, back from symlog space."""
        return symexp((F.softmax(logits, -1) * self.bins).sum(-1))

    def hazard_from_latent(self, z: torch.Tensor) -> torch.Tensor:
        """The hazard features (standardised, as ``hazard_in`` gives them) predicted from ``z``."""
        return self._hazard(z)

    def constraint_logit(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        x = [z, a, self._hazard(z)] if self.hazard_head else [z, a]
        return self._constraint(torch.cat(x, -1)).squeeze(-1)

    def constraint(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """P(c = 1): the probability that taking ``a`` in ``z`` ends in an IR failure."""
        return torch.sigmoid(self.constraint_logit(z, a))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstructed state in original units (what the task policy consumes; with state
        features the decoder also predicts the differences, which are not part of the state)."""
        return (self._decoder(z) * self.norm.std + self.norm.mean)[..., : self.norm.in_dim]

    def pi(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self._pi(z))

    # --- training --------------------------------------------------------------------------
    def make_target(self) -> None:
        """EMA target of encoder + Q, kept out of the state dict (only training needs it)."""
        target = copy.deepcopy(nn.ModuleDict({"encoder": self._encoder, "q": self._q})).requires_grad_(False)
        object.__setattr__(self, "target", target)

    def two_hot(self, x: torch.Tensor) -> torch.Tensor:
        x = symlog(x).clamp(self.cfg.vmin, self.cfg.vmax)
        step = (self.cfg.vmax - self.cfg.vmin) / (self.cfg.num_bins - 1)
        pos = (x - self.cfg.vmin) / step
        lo = pos.floor().long().clamp(0, self.cfg.num_bins - 1)
        hi = (lo + 1).clamp(max=self.cfg.num_bins - 1)
        w_hi = (pos - lo.float()).unsqueeze(-1)
        out = torch.zeros(*x.shape, self.cfg.num_bins)
        out.scatter_(-1, lo.unsqueeze(-1), 1 - w_hi)
        out.scatter_add_(-1, hi.unsqueeze(-1), w_hi)
        return out

    def losses(self, b: SeqBatch) -> dict[str, torch.Tensor]:
        """Every loss of Eq. 4-9 over one batch of windows, each already lambda-weighted."""
        cfg, H = self.cfg, b.actions.shape[1]
        assert self.target is not None, "call make_target() first"
        with torch.no_grad():
            z_target = self.target["encoder"](self.encoder_input(b.states, b.hazard))  # (B, H+1, Z)
            a_next = self.pi(z_target[:, 1:])
            q_next = self.expected_value(self.target["q"](torch.cat([z_target[:, 1:], a_next], -1)))
            td = b.rewards + cfg.gamma * (1 - b.terminated) * q_next
        # roll the latent forward (the only sequential part), then every head on all steps at once
        zs = [self.encode(b.states[:, 0], b.hazard[:, 0])]
        for i in range(H):
            zs.append(self.next(zs[-1], b.actions[:, i]))
        z = torch.stack(zs[:-1], 1)  # (B, H, Z): z_0 .. z_{H-1}
        w = cfg.rho ** torch.arange(H, dtype=torch.float32)
        valid = b.mask.sum(0).clamp(min=1.0)

        def wmean(per_step: torch.Tensor) -> torch.Tensor:
            """(B, H) -> mean over the valid steps of each position, lambda-weighted sum."""
            return ((per_step * b.mask).sum(0) / valid * w).sum()

        za = torch.cat([z, b.actions], -1)
        total = {
            "reward": wmean((self._reward(za).squeeze(-1) - b.rewards) ** 2),
            "value": wmean(-(self.two_hot(td) * F.log_softmax(self._q(za), -1)).sum(-1)),
            "constraint": wmean(F.binary_cross_entropy_with_logits(self.constraint_logit(z, b.actions), b.costs, reduction="none")),
            "decoder": wmean(((self._decoder(z) - self.norm(b.states[:, :-1])) ** 2).mean(-1)),
            "consistency": wmean(((torch.stack(zs[1:], 1) - z_target[:, 1:]) ** 2).mean(-1)),
        }
        if self.hazard_head:
            total["hazard"] = wmean(((self._hazard(z) - self.hazard_in(b.hazard[:, :-1])) ** 2).mean(-1))
        # policy prior: high Q, close to the data's actions. Latents and Q are frozen for this
        # term (as TD-MPC2's track_q_grad(False)): it trains pi only, never pushes Q up.
        zd = z.detach()
        a_pi = self.pi(zd)
        frozen_q = {k: v.detach() for k, v in self._q.named_parameters()}
        q_pi = self.expected_value(torch.func.functional_call(self._q, frozen_q, (torch.cat([zd, a_pi], -1),)))
        n = b.mask.sum().clamp(min=1.0)
        q_valid = (q_pi * b.mask).sum() / n
        bc = (((a_pi - b.actions) ** 2).mean(-1) * b.mask).sum() / n
        total["pi"] = -q_valid / (q_pi.abs().mean().detach() + 1e-3) + bc
        return total

    def total_loss(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        c = self.cfg
        return (
            c.coef_reward * losses["reward"]
            + c.coef_value * losses["value"]
            + c.coef_consistency * losses["consistency"]
            + c.coef_constraint * losses["constraint"]
            + c.coef_decoder * losses["decoder"]
            + c.coef_hazard * losses.get("hazard", torch.zeros(()))
        )


class WindowSampler:
    """Samples H-step windows from episodes, a fixed share of them containing a positive
    constraint target (a failure within K steps of one of the window's steps).

    Windows may start at any step and run past the episode's end (masked), so that a failure --
    always an episode's last step -- appears at every window position, including the first: the
    constraint head must learn to fire on encoded states, not only on rolled-out latents.
    """

    def __init__(
        self,
        episodes: list[Episode],
        horizon: int,
        failure_fraction: float,
        seed: int,
        constraint_horizon: int = 0,
        hazard=None,
    ):
        self.eps, self.H, self.frac = episodes, horizon, failure_fraction
        self.rng = np.random.default_rng(seed)
        self.targets = [constraint_targets(ep.costs, constraint_horizon) for ep in episodes]
        self.hazard = [hazard(ep.states) if hazard is not None else np.zeros((len(ep.states), 0), np.float32) for ep in episodes]
        self.windows = [(i, t) for i, ep in enumerate(episodes) for t in range(len(ep))]
        if not self.windows:
            raise ValueError("no steps in the episodes")
        self.fail_windows = [(i, t) for i, t in self.windows if self.targets[i][t : t + horizon].any()]

    def sample(self, batch: int) -> SeqBatch:
        n_fail = int(batch * self.frac) if self.fail_windows else 0
        picks = [self.windows[j] for j in self.rng.integers(0, len(self.windows), batch - n_fail)]
        picks += [self.fail_windows[j] for j in self.rng.integers(0, max(len(self.fail_windows), 1), n_fail)]
        H, steps = self.H, np.arange(self.H)
        st, act, rew, cost, term, mask, hz = [], [], [], [], [], [], []
        for i, t in picks:
            ep, T = self.eps[i], len(self.eps[i])
            idx = np.minimum(t + steps, T - 1)
            sidx = np.minimum(t + np.arange(H + 1), T)
            st.append(ep.states[sidx])
            hz.append(self.hazard[i][sidx])
            act.append(ep.actions[idx])
            m = (t + steps) < T
            rew.append(ep.rewards[idx] * m)
            cost.append(self.targets[i][idx] * m)
            term.append(ep.terminated[idx] | ~m)
            mask.append(m)
        f = lambda x: torch.as_tensor(np.asarray(x, np.float32))  # noqa: E731
        return SeqBatch(f(st), f(act), f(rew), f(cost), f(term), f(mask), f(hz))


def train_world_model(
    episodes: list[Episode], cfg: WorldModelConfig = WorldModelConfig(), progress=None, features: StateFeatures | None = None
) -> tuple[WorldModel, dict[str, float]]:
    """Train on task + failure demos; ``progress(step, metrics)`` is called every 100 steps.
    ``features``: the encoder also sees the task's relative features (as the policies do)."""
    torch.manual_seed(cfg.seed)
    states = np.concatenate([ep.states for ep in episodes])
    model = WorldModel(Normalizer.from_data(states, features), episodes[0].actions.shape[1], cfg)
    sampler = WindowSampler(episodes, cfg.horizon, cfg.failure_fraction, cfg.seed, cfg.constraint_horizon, model.hazard)
    if model.hazard is not None:
        model.hazard_in.fit(np.concatenate(sampler.hazard))
    model.make_target()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    metrics: dict[str, float] = {}
    for step in range(cfg.steps):
        metrics = update(model, opt, sampler.sample(cfg.batch))
        if progress and (step % 100 == 0 or step == cfg.steps - 1):
            progress(step, metrics)
    return model, metrics


def update(model: WorldModel, opt: torch.optim.Optimizer, batch: SeqBatch) -> dict[str, float]:
    """One gradient step on all losses; returns them as a dict of scalars."""
    losses = model.losses(batch)
    loss = model.total_loss(losses) + losses["pi"]
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 20.0)
    opt.step()
    with torch.no_grad():
        online = nn.ModuleDict({"encoder": model._encoder, "q": model._q})
        assert model.target is not None, "call make_target() first"
        for p, pt in zip(online.parameters(), model.target.parameters()):
            pt.lerp_(p, model.cfg.tau)
    return {f"wm/{k}": v.item() for k, v in losses.items()} | {"wm/total": loss.item()}

"""An off-policy learner that pays off within a real-robot budget, in the style of RLPD / SERL:
soft actor-critic with a high update-to-data ratio, the offline demos in every batch, LayerNorm
twin critics, and the actor warm-started from the offline task policy.

Why beside PPO: a 50-episode robot run is ~2,500-5,000 transitions, i.e. 10-20 PPO updates that
each see their batch once; measured on main, no method's return rose in 50 episodes. An
off-policy learner reuses every transition ``utd`` times and keeps learning from the demos
(half of each batch, RLPD's symmetric sampling), so the same budget moves the policy.

The actor is the bundle's :class:`GaussianPolicy` itself (tanh mean, state-independent std), so
the decider, the safety critics and the ROS nodes see every update at once and nothing else
changes. Critics start fresh; the actor waits ``warmup_updates`` critic updates before it
moves, so a random critic never drags the pre-trained policy off.

What it stores is what ``decide.Decider`` says (``stored_action``: the task policy's proposal,
or the executed action) and what ``decide.stored_rewards`` pays (a veto penalty), like PPO.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .dataset import Transitions
from .nets import GaussianPolicy, Normalizer, mlp
from .timescale import discount


@dataclass
class SACConfig:
    gamma: float = 0.99
    """Discount per step (``online.finetune`` sets it from ``value_half_life_s`` at the task's rate)."""
    value_half_life_s: float = 13.8
    """The discount as a half-life in seconds: 0.99 per step at 5 Hz."""
    reward_scale: float | None = None
    """Rewards are multiplied by this (None: the task's ``reward_scale``)."""
    utd: int = 10
    """Gradient updates per environment transition (update-to-data ratio; RLPD / SERL use 10-20)."""
    batch: int = 256
    demo_fraction: float = 0.5
    """Share of each batch drawn from the offline demos (RLPD's symmetric sampling)."""
    critic_lr: float = 3e-4
    actor_lr: float = 1e-4
    alpha_lr: float = 3e-4
    tau: float = 0.005
    """EMA rate of the target critics."""
    hidden: int = 256
    init_alpha: float = 0.01
    """Initial entropy temperature (tuned online towards ``target_entropy``)."""
    target_entropy: float | None = None
    """Target policy entropy in nats (None: -action_dim, SAC's default)."""
    warmup_updates: int = 1000
    """Critic-only updates before the actor moves."""
    buffer_size: int = 1_000_000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.utd < 1 or self.batch < 2 or not 0.0 <= self.demo_fraction < 1.0:
            raise ValueError(
                f"SACConfig: need utd >= 1, batch >= 2, 0 <= demo_fraction < 1 (got {self.utd}, {self.batch}, {self.demo_fraction})"
            )


class ReplayBuffer:
    """A ring buffer of (s, a, r, s', terminated) in float32 numpy arrays."""

    def __init__(self, state_dim: int, action_dim: int, size: int):
        self.s = np.zeros((size, state_dim), np.float32)
        self.a = np.zeros((size, action_dim), np.float32)
        self.r = np.zeros(size, np.float32)
        self.s2 = np.zeros((size, state_dim), np.float32)
        self.term = np.zeros(size, np.float32)
        self.size, self.n, self.i = size, 0, 0

    def __len__(self) -> int:
        return self.n

    def add(self, s, a, r, s2, terminated) -> None:
        """A batch of transitions (leading axis N)."""
        s, a, r, s2, terminated = (np.atleast_1d(np.asarray(x, np.float32)) for x in (s, a, r, s2, terminated))
        for k in range(len(r)):
            j = self.i
            self.s[j], self.a[j], self.r[j], self.s2[j], self.term[j] = s[k], a[k], r[k], s2[k], terminated[k]
            self.i = (self.i + 1) % self.size
            self.n = min(self.n + 1, self.size)

    @classmethod
    def from_transitions(cls, tr: Transitions) -> "ReplayBuffer":
        buf = cls(tr.states.shape[1], tr.actions.shape[1], max(len(tr.rewards), 1))
        buf.add(tr.states, np.clip(tr.actions, -1, 1), tr.rewards, tr.next_states, tr.terminated)
        return buf

    def sample(self, rng: np.random.Generator, k: int) -> tuple[np.ndarray, ...]:
        idx = rng.integers(0, self.n, k)
        return self.s[idx], self.a[idx], self.r[idx], self.s2[idx], self.term[idx]


class Critics(nn.Module):
    """Twin Q(s, a) with LayerNorm (``nets.mlp``), on the policy's frozen normaliser."""

    def __init__(self, normalizer: Normalizer, action_dim: int, hidden: int):
        super().__init__()
        self.norm = normalizer
        d = normalizer.out_dim + action_dim
        # ReLU, as RLPD's critics: Mish cost a fifth of every update on CPU
        self.q = nn.ModuleList([mlp(d, hidden, 1, act=nn.ReLU), mlp(d, hidden, 1, act=nn.ReLU)])

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """(2, N) Q values."""
        x = torch.cat([self.norm(s), a], -1)
        return torch.stack([q(x).squeeze(-1) for q in self.q])


class SAC:
    """Soft actor-critic on ``policy`` (trained in place) with demos mixed into every batch."""

    def __init__(self, policy: GaussianPolicy, demos: Transitions | None, cfg: SACConfig = SACConfig(), reward_scale: float = 1.0):
        torch.manual_seed(cfg.seed)
        self.policy, self.cfg, self.reward_scale = policy, cfg, reward_scale
        self.rng = np.random.default_rng(cfg.seed)
        state_dim, action_dim = policy.norm.in_dim, int(policy.log_std.shape[0])
        self.critics = Critics(copy.deepcopy(policy.norm), action_dim, cfg.hidden)
        self.target = copy.deepcopy(self.critics).requires_grad_(False)
        self.online = ReplayBuffer(state_dim, action_dim, cfg.buffer_size)
        self.demos = ReplayBuffer.from_transitions(demos) if demos is not None and len(demos.rewards) else None
        self.log_alpha = torch.tensor(float(np.log(cfg.init_alpha)), requires_grad=True)
        self.target_entropy = -float(action_dim) if cfg.target_entropy is None else cfg.target_entropy
        self.q_opt = torch.optim.Adam(self.critics.parameters(), lr=cfg.critic_lr)
        self.pi_opt = torch.optim.Adam(policy.parameters(), lr=cfg.actor_lr)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=cfg.alpha_lr)
        self.updates = 0

    def add(self, s, a, r, s2, terminated) -> None:
        """Online transitions (what ``Decider`` stored, rewards as ``stored_rewards`` paid)."""
        self.online.add(s, np.clip(np.asarray(a, np.float32), -1.0, 1.0), r, s2, terminated)

    def _batch(self) -> tuple[torch.Tensor, ...]:
        n = self.cfg.batch
        n_demo = int(n * self.cfg.demo_fraction) if self.demos is not None else 0
        if len(self.online) == 0:
            n_demo = n
        parts = []
        if n - n_demo:
            parts.append(self.online.sample(self.rng, n - n_demo))
        if n_demo:
            assert self.demos is not None
            parts.append(self.demos.sample(self.rng, n_demo))
        return tuple(torch.as_tensor(np.concatenate(cols)) for cols in zip(*parts))

    def _sample(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised action (clipped to the box, as the robot clips it) and its log-prob."""
        d = self.policy.dist(s)
        raw = d.rsample()
        return raw.clamp(-1.0, 1.0), d.log_prob(raw).sum(-1)

    def update(self) -> dict[str, float]:
        """One gradient step of the critics (and, after the warm-up, of actor and temperature)."""
        cfg = self.cfg
        s, a, r, s2, term = self._batch()
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            a2, logp2 = self._sample(s2)
            q_next = self.target(s2, a2).min(0).values - alpha * logp2
            y = r * self.reward_scale + cfg.gamma * (1.0 - term) * q_next
        q = self.critics(s, a)
        q_loss = F.mse_loss(q[0], y) + F.mse_loss(q[1], y)
        self.q_opt.zero_grad()
        q_loss.backward()
        self.q_opt.step()
        with torch.no_grad():
            for p, pt in zip(self.critics.parameters(), self.target.parameters()):
                pt.lerp_(p, cfg.tau)
        out = {
            "sac/q_loss": q_loss.item(),
            "sac/q_mean": float(q.detach().mean()),
            "sac/alpha": float(alpha),
            "sac/pi_loss": float("nan"),  # the actor waits for the critics' warm-up
            "sac/entropy": float("nan"),
        }
        self.updates += 1
        if self.updates > cfg.warmup_updates:
            a_pi, logp = self._sample(s)
            q_pi = self.critics(s, a_pi).min(0).values
            pi_loss = (alpha * logp - q_pi).mean()
            self.pi_opt.zero_grad()
            pi_loss.backward()
            self.pi_opt.step()
            alpha_loss = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()
            self.alpha_opt.zero_grad()
            alpha_loss.backward()
            self.alpha_opt.step()
            out |= {"sac/pi_loss": pi_loss.item(), "sac/entropy": float(-logp.detach().mean())}
        return out

    @classmethod
    def for_task(cls, policy: GaussianPolicy, task: str, demos: Transitions | None, cfg: SACConfig = SACConfig()) -> "SAC":
        """SAC for ``task``: the discount from ``cfg.value_half_life_s`` at the task's rate,
        rewards in the task's scale unless ``cfg.reward_scale`` says otherwise."""
        from dataclasses import replace

        from ..tasks import get_task

        spec = get_task(task)
        scale = spec.reward_scale if cfg.reward_scale is None else cfg.reward_scale
        return cls(policy, demos, replace(cfg, gamma=discount(cfg.value_half_life_s, spec.control_dt)), scale)

    def train(self, new_transitions: int) -> dict[str, float]:
        """``utd`` updates per new transition; the last update's losses, averaged where repeated."""
        stats: dict[str, list[float]] = {}
        for _ in range(self.cfg.utd * new_transitions):
            for k, v in self.update().items():
                stats.setdefault(k, []).append(v)
        mean = {k: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for k, v in stats.items()}
        return mean | {"sac/updates": float(self.updates)}

"""Online PPO with GAE (Uni-O4's online phase), on the safe transitions of Eq. 12.

Each transition stores the *executed* action and the task policy's log-probability of it at
collection time -- also when the recovery policy chose it -- so the importance ratio is always
pi_task(a|s) / pi_task_old(a|s) for the action that was really taken.
Values bootstrap through time-limit truncations but not through IR failures (terminal).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from .nets import GaussianPolicy, ValueNet


@dataclass
class PPOConfig:
    gamma: float = 0.99
    """Discount."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip: float = 0.2
    """Ratio clip epsilon."""
    epochs: int = 5
    """Passes over each rollout."""
    minibatch: int = 256
    lr: float = 1e-4
    """Adam learning rate (small: fine-tuning a pre-trained policy)."""
    vf_coef: float = 0.5
    ent_coef: float = 0.0
    max_grad_norm: float = 0.5
    target_kl: float = 0.03
    """Stop the epoch loop early when the approximate KL exceeds this."""


class PPOBatch(NamedTuple):
    states: torch.Tensor
    actions: torch.Tensor
    old_logp: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor


def gae(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray, terminated: np.ndarray,
        truncated: np.ndarray, gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimates and value targets for a time-ordered rollout.

    ``next_values[t]`` is V(s_{t+1}) of the state actually reached, also at the last step of an
    episode. Terminated steps (IR failure) get no bootstrap; truncated ones do. Both end the
    recursion, so advantages never leak across episodes.
    """
    T = len(rewards)
    adv = np.zeros(T, np.float64)
    last = 0.0
    for t in reversed(range(T)):
        boot = 0.0 if terminated[t] else gamma * next_values[t]
        delta = rewards[t] + boot - values[t]
        end = terminated[t] or truncated[t]
        last = delta + (0.0 if end else gamma * lam * last)
        adv[t] = last
    return adv.astype(np.float32), (adv + values).astype(np.float32)


def ppo_loss(policy: GaussianPolicy, value: ValueNet, batch: PPOBatch, cfg: PPOConfig
             ) -> tuple[torch.Tensor, dict[str, float]]:
    dist = policy.dist(batch.states)
    logp = dist.log_prob(batch.actions).sum(-1)
    log_ratio = logp - batch.old_logp
    ratio = log_ratio.exp()
    adv = batch.advantages
    pg_loss = -torch.minimum(ratio * adv, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * adv).mean()
    v_loss = F.mse_loss(value(batch.states), batch.returns)
    entropy = dist.entropy().sum(-1).mean()
    loss = pg_loss + cfg.vf_coef * v_loss - cfg.ent_coef * entropy
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean()
        clipfrac = ((ratio - 1).abs() > cfg.clip).float().mean()
    return loss, {"ppo/pg_loss": pg_loss.item(), "ppo/v_loss": v_loss.item(), "ppo/entropy": entropy.item(),
                  "ppo/approx_kl": approx_kl.item(), "ppo/clipfrac": clipfrac.item()}


class PPO:
    def __init__(self, policy: GaussianPolicy, value: ValueNet, cfg: PPOConfig = PPOConfig(), seed: int = 0):
        self.policy, self.value, self.cfg = policy, value, cfg
        self.opt = torch.optim.Adam([*policy.parameters(), *value.parameters()], lr=cfg.lr)
        self.rng = np.random.default_rng(seed)

    @torch.no_grad()
    def values(self, states: np.ndarray) -> np.ndarray:
        return self.value(torch.as_tensor(states, dtype=torch.float32)).numpy()

    def update(self, states: np.ndarray, actions: np.ndarray, old_logp: np.ndarray, rewards: np.ndarray,
               next_states: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> dict[str, float]:
        """One PPO update on a time-ordered rollout; returns a dict of scalars."""
        cfg = self.cfg
        adv, ret = gae(rewards, self.values(states), self.values(next_states), terminated, truncated,
                       cfg.gamma, cfg.gae_lambda)
        adv_n = (adv - adv.mean()) / (adv.std() + 1e-8)
        t = lambda x: torch.as_tensor(np.asarray(x, np.float32))  # noqa: E731
        data = PPOBatch(t(states), t(actions), t(old_logp), t(adv_n), t(ret))
        n = len(rewards)
        stats: dict[str, float] = {}
        for epoch in range(cfg.epochs):
            perm = self.rng.permutation(n)
            for start in range(0, n, cfg.minibatch):
                idx = torch.as_tensor(perm[start:start + cfg.minibatch])
                loss, stats = ppo_loss(self.policy, self.value, PPOBatch(*(x[idx] for x in data)), cfg)
                self.opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_([*self.policy.parameters(), *self.value.parameters()], cfg.max_grad_norm)
                self.opt.step()
            if stats.get("ppo/approx_kl", 0.0) > cfg.target_kl:
                break
        stats.update({"ppo/epochs": epoch + 1, "ppo/adv_mean": float(adv.mean()), "ppo/return_mean": float(ret.mean())})
        return stats

"""Online PPO with GAE (Uni-O4's online phase) on the safe transitions of Eq. 12, plus the two
constrained baselines of the paper's Table I that fine-tune the same policy with the cost:
PPO-Lagrangian (Ray et al. 2019) and P3O (Zhang et al. 2022).

Data comes as :class:`rollout.PPOData`. Values bootstrap through truncations (time limit, end of
rollout) but not through IR failures (terminal). Policy and value have their own optimiser and
their own gradient-norm clip: a value loss of 10-70 early in fine-tuning must not scale down the
policy's step. The KL early stop is checked after every minibatch, not once per epoch.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from .nets import GaussianPolicy, ValueNet
from .rollout import PPOData

CONSTRAINTS = ("none", "lagrangian", "p3o")


@dataclass
class PPOConfig:
    gamma: float = 0.99
    """Discount of the task reward."""
    reward_scale: float | None = None
    """Rewards are multiplied by this before GAE, so values stay O(1-10) for the value net and its
    gradient clip. None: the task's ``reward_scale`` in ``online.finetune`` (Meta-World pays up
    to 10 per step, 80 steps a second, and its returns reach ~1,000), 1 elsewhere."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip: float = 0.2
    """Ratio clip epsilon."""
    epochs: int = 10
    """Passes over each rollout (cut short by ``target_kl``)."""
    minibatches: int = 4
    """Minibatches per epoch (the rollout is split into this many)."""
    lr: float = 1e-4
    """Adam learning rate of the policy (mean network and log-std). Picked on seeds 100-102 (never
    reported) from 3e-5 / 1e-4 / 3e-4 at the 50-episode budget; all three were within noise."""
    value_lr: float = 1e-3
    """Adam learning rate of the value (and cost value) network."""
    ent_coef: float = 0.0
    """Entropy bonus weight."""
    max_grad_norm: float = 0.5
    """Gradient-norm clip, applied to policy and value separately."""
    target_kl: float = 0.05
    """Stop the update once the approximate KL of a minibatch exceeds 1.5 x this."""
    value_warmup_epochs: int = 20
    """Value-only epochs on the first rollout: the offline V was fit to the demos' behaviour,
    and advantages from it would point the first updates the wrong way."""
    constraint: str = "none"
    """none (Uni-O4 / FARL), lagrangian (PPO-Lagrangian) or p3o: how the cost enters the update."""
    cost_gamma: float = 0.99
    """Discount of the cost (IR failures)."""
    cost_limit: float = 0.05
    """d: allowed IR failures per episode for the constrained baselines."""
    lagrangian_lr: float = 0.5
    """Step size of the multiplier's dual ascent (per update, on J_c - d)."""
    p3o_kappa: float = 5.0
    """P3O's penalty factor on the clipped cost surrogate."""


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
    lam: float,
) -> tuple[np.ndarray, np.ndarray]:
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


def clipped_surrogate(ratio: torch.Tensor, adv: torch.Tensor, clip: float) -> torch.Tensor:
    """PPO's pessimistic objective per row: min(r A, clip(r, 1 - eps, 1 + eps) A)."""
    return torch.minimum(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv)


def episode_cost(data: PPOData) -> float:
    """J_c estimate: IR failures per episode in the rollout (unfinished streams count as episodes)."""
    ends = int((data.terminated | data.truncated).sum())
    return float(data.costs.sum()) / max(ends, 1)


class PPO:
    """PPO on a Gaussian task policy and its value; the cost value exists for the constrained
    baselines only. ``update`` returns a dict of scalars."""

    def __init__(self, policy: GaussianPolicy, value: ValueNet, cfg: PPOConfig = PPOConfig(), seed: int = 0):
        if cfg.constraint not in CONSTRAINTS:
            raise ValueError(f"PPOConfig.constraint must be one of {CONSTRAINTS}, got {cfg.constraint!r}")
        self.policy, self.value, self.cfg = policy, value, cfg
        self.reward_scale = 1.0 if cfg.reward_scale is None else cfg.reward_scale
        # the offline V fit raw returns: in scaled units at once, or the first targets and
        # advantages would mix 0.01 x rewards with 1 x values (advantages ~ -V / 100 of noise)
        value.rescale(self.reward_scale)
        self.cost_value: ValueNet | None = None
        value_params = list(value.parameters())
        if cfg.constraint != "none":
            self.cost_value = cost_value = copy.deepcopy(value)
            last = cost_value.net[-1]
            assert isinstance(last, torch.nn.Linear)
            torch.nn.init.zeros_(last.weight)
            torch.nn.init.zeros_(last.bias)
            cost_value.return_scale.fill_(1.0)  # costs are not scaled
            value_params += list(cost_value.parameters())
        self.pi_opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
        self.v_opt = torch.optim.Adam(value_params, lr=cfg.value_lr)
        self.multiplier = 0.0
        self.updates = 0
        self.rng = np.random.default_rng(seed)

    @torch.no_grad()
    def _values(self, net: ValueNet, states: np.ndarray) -> np.ndarray:
        return net(torch.as_tensor(states, dtype=torch.float32)).numpy()

    def _targets(self, net: ValueNet, data: PPOData, signal: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
        return gae(
            signal,
            self._values(net, data.states),
            self._values(net, data.next_states),
            data.terminated,
            data.truncated,
            gamma,
            self.cfg.gae_lambda,
        )

    def _fit_values(self, states: torch.Tensor, returns: torch.Tensor, cost_returns: torch.Tensor | None, idx: torch.Tensor) -> float:
        v_loss = ((self.value(states[idx]) - returns[idx]) ** 2).mean()
        loss = v_loss
        if self.cost_value is not None:
            assert cost_returns is not None
            loss = loss + ((self.cost_value(states[idx]) - cost_returns[idx]) ** 2).mean()
        self.v_opt.zero_grad()
        loss.backward()
        for group in self.v_opt.param_groups:
            torch.nn.utils.clip_grad_norm_(group["params"], self.cfg.max_grad_norm)
        self.v_opt.step()
        return v_loss.item()

    def update(self, data: PPOData) -> dict[str, float]:
        """One PPO update on a rollout; returns a dict of scalars."""
        cfg, n = self.cfg, len(data)
        t = lambda x: torch.as_tensor(np.asarray(x, np.float32))  # noqa: E731
        states = t(data.states)
        mb = max(1, int(np.ceil(n / cfg.minibatches)))
        stats: dict[str, float] = {}
        if self.updates == 0 and cfg.value_warmup_epochs:
            _, ret = self._targets(self.value, data, data.rewards * self.reward_scale, cfg.gamma)
            _, cret = self._targets(self.cost_value, data, data.costs, cfg.cost_gamma) if self.cost_value else (None, None)
            for _ in range(cfg.value_warmup_epochs):
                perm = torch.as_tensor(self.rng.permutation(n))
                for start in range(0, n, mb):
                    stats["ppo/warmup_v_loss"] = self._fit_values(
                        states, t(ret), t(cret) if cret is not None else None, perm[start : start + mb]
                    )
        adv, ret = self._targets(self.value, data, data.rewards * self.reward_scale, cfg.gamma)
        mask = data.policy_mask > 0
        adv_n = (adv - adv[mask].mean()) / (adv[mask].std() + 1e-8) if mask.any() else adv
        cadv = cret = None
        jc = episode_cost(data)
        if self.cost_value is not None:
            cadv, cret = self._targets(self.cost_value, data, data.costs, cfg.cost_gamma)
            cadv = cadv - (cadv[mask].mean() if mask.any() else 0.0)
            if cfg.constraint == "lagrangian":  # dual ascent on J_c - d before the policy step
                self.multiplier = max(0.0, self.multiplier + cfg.lagrangian_lr * (jc - cfg.cost_limit))
        actions, old_logp, weights = t(data.actions), t(data.logp), t(data.policy_mask)
        A, R = t(adv_n), t(ret)
        CA, CR = (t(cadv), t(cret)) if cadv is not None else (None, None)
        stop, epochs_done, kls, clipfracs = False, 0, [], []
        for epoch in range(cfg.epochs):
            perm = torch.as_tensor(self.rng.permutation(n))
            for start in range(0, n, mb):
                idx = perm[start : start + mb]
                w = weights[idx]
                dist = self.policy.dist(states[idx])
                logp = dist.log_prob(actions[idx]).sum(-1)
                log_ratio = logp - old_logp[idx]
                ratio = log_ratio.exp()
                surr = clipped_surrogate(ratio, A[idx], cfg.clip)
                wsum = w.sum().clamp(min=1.0)
                pg_loss = -(surr * w).sum() / wsum
                if cfg.constraint == "lagrangian" and CA is not None:
                    cost_surr = (ratio * CA[idx] * w).sum() / wsum
                    pg_loss = (pg_loss + self.multiplier * cost_surr) / (1.0 + self.multiplier)
                elif cfg.constraint == "p3o" and CA is not None:
                    cost_surr = (-clipped_surrogate(ratio, -CA[idx], cfg.clip) * w).sum() / wsum  # max(r Ac, clip Ac)
                    pg_loss = pg_loss + cfg.p3o_kappa * torch.relu(cost_surr + (1 - cfg.cost_gamma) * (jc - cfg.cost_limit))
                entropy = dist.entropy().sum(-1).mean()
                loss = pg_loss - cfg.ent_coef * entropy
                self.pi_opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
                self.pi_opt.step()
                stats["ppo/v_loss"] = self._fit_values(states, R, CR, idx)
                with torch.no_grad():
                    kl = float((((ratio - 1) - log_ratio) * w).sum() / wsum)
                    kls.append(kl)
                    clipfracs.append(float((((ratio - 1).abs() > cfg.clip).float() * w).sum() / wsum))
                stats.update({"ppo/pg_loss": pg_loss.item(), "ppo/entropy": entropy.item()})
                if kl > 1.5 * cfg.target_kl:
                    stop = True
                    break
            epochs_done = epoch + 1
            if stop:
                break
        self.updates += 1
        stats.update(
            {
                "ppo/approx_kl": float(np.mean(kls)),
                "ppo/max_kl": float(np.max(kls)),
                "ppo/clipfrac": float(np.mean(clipfracs)),
                "ppo/epochs": epochs_done,
                "ppo/minibatch_steps": len(kls),
                "ppo/adv_mean": float(adv.mean()),
                "ppo/return_mean": float(ret.mean()),
                "ppo/episode_cost": jc,
                "ppo/log_std": self.policy.log_std.mean().item(),
                "ppo/multiplier": self.multiplier,
            }
        )
        return stats

"""DAgger for the recovery policy, and the measurement that says whether it is good enough.

Behaviour cloning on 120 recovery demos leaves the learned policy on states the scripted
controller never visits (soccer: 83 % recovered vs 97 %). DAgger (Ross et al. 2011) runs the
*learned* policy from near-failure starts, asks the scripted controller (stateless: a function
of the state) what it would have done on every visited state, adds those labels and regresses
again. Near-failure starts are not where the filter hands over online, though: soccer's policy
recovered 97 % of them (scripted 99 %) yet FARL with it had 38 failure episodes in 80 vs 24 with
the scripted controller, so a second pass (``dagger_in_the_loop``) relabels the states on which
the FARL filter actually switches to recovery. The policy's mean network is trained; its exploration std is unused online (the recovery
action is the mean).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .nets import GaussianPolicy
from .safety import policy_mean_fn

Policy = Callable[[np.ndarray], np.ndarray]


@dataclass
class DaggerConfig:
    iterations: int = 8
    """Roll-out / relabel / regress rounds (4 left soccer 6 points below the scripted controller)."""
    episodes_per_iteration: int = 60
    """Near-failure starts rolled out with the learned policy per round."""
    max_steps: int = 20
    """Steps per recovery attempt (as the recovery demos)."""
    regress_steps: int = 1500
    """Gradient steps of the mean network per round, on all labels so far."""
    batch: int = 256
    lr: float = 3e-4
    eval_episodes: int = 100
    """Near-failure starts (other seeds) on which learned and scripted are both measured."""
    seed: int = 0


def regress(
    policy: GaussianPolicy, opt: torch.optim.Optimizer, states: list, labels: list, cfg, rng: np.random.Generator
) -> tuple[int, float]:
    """One DAgger regression: ``cfg.regress_steps`` minibatch steps of the policy's mean onto all
    labels so far (clipped to the action box). Both DAgger stages call it. Returns (labels, last mse)."""
    S, A = torch.as_tensor(np.concatenate(states)), torch.as_tensor(np.clip(np.concatenate(labels), -1, 1))
    loss = torch.zeros(())
    for _ in range(cfg.regress_steps):
        idx = torch.as_tensor(rng.integers(0, len(S), cfg.batch))
        loss = ((policy.mean(S[idx]) - A[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return len(S), float(loss.item())


def recovery_rate(env, policy: Policy, seeds: list[int], max_steps: int) -> tuple[float, list[np.ndarray]]:
    """Share of near-failure starts from which ``policy`` reaches a recovered state without an IR
    failure within ``max_steps``; also every state visited (for relabelling)."""
    spec = env.unwrapped.spec_task
    ok, visited = 0, []
    for seed in seeds:
        state, _ = env.reset(seed=seed, options={"start": "near_failure"})
        for _ in range(max_steps):
            visited.append(state)
            state, _, term, trunc, info = env.step(np.clip(policy(state), -1, 1))
            if info["ir_failure"]:
                break
            if spec.recovered(state):
                ok += 1
                break
            if term or trunc:
                break
    return ok / max(len(seeds), 1), visited


def dagger(
    policy: GaussianPolicy,
    env,
    expert: Policy,
    demo_states: np.ndarray,
    cfg: DaggerConfig = DaggerConfig(),
    log: Callable[[str], None] = lambda m: None,
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Improve ``policy`` in place; returns recovery rates (learned before/after, scripted) and
    every (state, scripted action) label, for ``dagger_in_the_loop`` to build on."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    eval_seeds = [900_000 + cfg.seed * 1000 + i for i in range(cfg.eval_episodes)]
    before, _ = recovery_rate(env, policy_mean_fn(policy), eval_seeds, cfg.max_steps)
    scripted, _ = recovery_rate(env, expert, eval_seeds, cfg.max_steps)
    states = [np.asarray(demo_states, np.float32)]
    labels = [np.stack([expert(s) for s in demo_states]).astype(np.float32)]
    opt = torch.optim.Adam(policy.net.parameters(), lr=cfg.lr)
    for it in range(cfg.iterations):
        seeds = [800_000 + cfg.seed * 10_000 + it * 1000 + i for i in range(cfg.episodes_per_iteration)]
        rate, visited = recovery_rate(env, policy_mean_fn(policy), seeds, cfg.max_steps)
        states.append(np.asarray(visited, np.float32))
        labels.append(np.stack([expert(s) for s in visited]).astype(np.float32))
        n, mse = regress(policy, opt, states, labels, cfg, rng)
        log(f"DAgger round {it + 1}: learned policy recovered {rate:.0%} of its rollouts; {n} labels, mse {mse:.4f}")
    after, _ = recovery_rate(env, policy_mean_fn(policy), eval_seeds, cfg.max_steps)
    metrics = {
        "recovery/learned_before_dagger": before,
        "recovery/learned": after,
        "recovery/scripted": scripted,
        "recovery/eval_starts": len(eval_seeds),
        "recovery/labels": int(sum(len(s) for s in states)),
    }
    return metrics, np.concatenate(states), np.concatenate(labels)


# --- DAgger in the loop: the states where C_H actually hands over ------------------------------------
@dataclass
class LoopDaggerConfig:
    iterations: int = 6
    """Rounds of: FARL rollouts -> relabel the recovery steps -> regress."""
    episodes_per_iteration: int = 40
    """Online-like episodes (sampled task actions, the bundle's filter) per round."""
    eval_episodes: int = 80
    """Episodes (other seeds) on which IR failures under FARL are counted with the learned and
    the scripted recovery policy."""
    regress_steps: int = 1500
    batch: int = 256
    lr: float = 3e-4
    n_envs: int = 8
    seed: int = 0


def farl_rollouts(bundle, task: str, seeds: list[int], n_envs: int, seed: int = 0) -> tuple[int, int, np.ndarray]:
    """Episodes of the task policy (sampled, as online) behind the bundle's FARL filter: (IR
    failure episodes, episodes, the states on which the recovery policy acted)."""
    from .decide import RECOVERY as RECOVERY_SOURCE, Decider
    from .vec_env import VecTaskEnv

    dec = Decider(bundle, "farl", seed=seed)
    vec = VecTaskEnv(task, n_envs, 0)
    fails = done = 0
    handed_over = []
    try:
        for start in range(0, len(seeds), n_envs):  # a batch of episodes at a time, as online.evaluate
            batch = seeds[start : start + n_envs]
            obs = vec.reset(batch + [None] * (n_envs - len(batch)))
            active = np.arange(n_envs) < len(batch)
            while active.any():
                _, d = dec.act(obs)
                handed_over.extend(obs[active & (d.source == RECOVERY_SOURCE)])
                st = vec.step(d.executed, active=active, autoreset=False)
                ended = active & (st.terminated | st.truncated)
                done += int(ended.sum())
                fails += int((ended & st.ir_failure).sum())
                active &= ~ended
                obs = st.obs
    finally:
        vec.close()
    return fails, done, np.asarray(handed_over, np.float32).reshape(-1, len(bundle.layout))


class _ScriptedMean(torch.nn.Module):
    """A scripted controller dressed as a policy mean, to score the filter with it."""

    def __init__(self, expert: Policy):
        super().__init__()
        self.expert = expert

    def mean(self, s: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(np.stack([self.expert(x) for x in s.numpy()]), dtype=torch.float32)


def dagger_in_the_loop(
    bundle,
    task: str,
    expert: Policy,
    states: np.ndarray,
    labels: np.ndarray,
    cfg: LoopDaggerConfig = LoopDaggerConfig(),
    log: Callable[[str], None] = lambda m: None,
) -> dict[str, float]:
    """Improve ``bundle.recovery_policy`` on the states where the FARL filter hands over to it
    (not only near-failure starts): roll out, relabel those states by the scripted controller,
    regress on them plus the earlier labels (``states``/``labels``). Returns IR failures under
    FARL with the learned (before/after) and the scripted recovery policy on held-out seeds."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    policy = bundle.recovery_policy
    eval_seeds = [700_000 + cfg.seed * 1000 + i for i in range(cfg.eval_episodes)]

    def failures_with(recovery) -> int:
        kept, bundle.recovery_policy = bundle.recovery_policy, recovery
        try:
            return farl_rollouts(bundle, task, eval_seeds, cfg.n_envs, cfg.seed)[0]
        finally:
            bundle.recovery_policy = kept

    before, scripted = failures_with(policy), failures_with(_ScriptedMean(expert))
    S, A = [np.asarray(states, np.float32)], [np.asarray(labels, np.float32)]
    opt = torch.optim.Adam(policy.net.parameters(), lr=cfg.lr)
    for it in range(cfg.iterations):
        seeds = [600_000 + cfg.seed * 10_000 + it * 1000 + i for i in range(cfg.episodes_per_iteration)]
        fails, done, handed = farl_rollouts(bundle, task, seeds, cfg.n_envs, cfg.seed + it)
        if len(handed):
            S.append(handed)
            A.append(np.stack([expert(s) for s in handed]).astype(np.float32))
        n, mse = regress(policy, opt, S, A, cfg, rng)
        log(
            f"DAgger in the loop, round {it + 1}: {fails}/{done} IR failures, {len(handed)} hand-over states "
            f"relabelled ({n} labels), mse {mse:.4f}"
        )
    after = failures_with(policy)
    return {
        "recovery/loop_failures_before": before,
        "recovery/loop_failures_learned": after,
        "recovery/loop_failures_scripted": scripted,
        "recovery/loop_eval_episodes": cfg.eval_episodes,
    }

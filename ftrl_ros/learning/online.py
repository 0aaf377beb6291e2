"""Online fine-tuning (paper Sec. V-B) and its baselines behind one switch.

=============  ====================================  ==============================
method         safety critic                         action when flagged
=============  ====================================  ==============================
farl           world model C_H (Eq. 11)              recovery policy (frozen)
uni_o4         none: plain online PPO                --
recovery_rl    MLP Q_safe (Eq. 16-17)                recovery policy (frozen)
mppi           world model C_H (Eq. 11)              MPPI in the world model
=============  ====================================  ==============================

The task policy (and its value) are the only things trained; the world model, critics and
recovery policy stay frozen. Observation normalisation is frozen from the offline data.
"""
from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch

from ..scripted.rollout import run_episode
from .bundle import Bundle, save_bundle
from .dataset import EpisodeRecorder, next_episode_path, save_episode
from .mppi import MPPIRecovery
from .ppo import PPO, PPOConfig
from .recovery_rl import RecoveryRLCritic
from .safety import SafetyFilter, WorldModelCritic, policy_mean_fn

METHODS = ("farl", "uni_o4", "recovery_rl", "mppi")


@dataclass
class FinetuneConfig:
    method: str = "farl"
    """One of METHODS."""
    total_steps: int = 3000
    """Online budget in environment steps (0.2 s each)."""
    rollout_steps: int = 600
    """Environment steps between PPO updates."""
    eval_episodes: int = 10
    """Deterministic evaluation episodes before and after fine-tuning."""
    seed: int = 0
    ppo: PPOConfig = field(default_factory=PPOConfig)
    save_episodes: bool = False
    """Write every online episode in the dataset format under <out>/episodes/."""


class Step(NamedTuple):
    action: np.ndarray
    source: str
    logp: float
    """Task policy's log-prob of the *executed* action at collection time."""
    risk: float


class Agent:
    """The task policy plus the method's safety filter."""

    def __init__(self, bundle: Bundle, method: str, seed: int = 0):
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        self.bundle, self.method = bundle, method
        self.policy = bundle.task_policy
        self.gen = torch.Generator().manual_seed(seed)
        self.filter: SafetyFilter | None = None
        if method == "uni_o4":
            return
        if method == "recovery_rl":
            critic = RecoveryRLCritic(bundle.safety_q)
        else:
            critic = WorldModelCritic(bundle.world_model, self.policy, bundle.safety)
        recovery = MPPIRecovery(bundle.world_model) if method == "mppi" else policy_mean_fn(bundle.recovery_policy)
        eps = bundle.rrl_eps if method == "recovery_rl" else bundle.safety.eps_safe
        self.filter = SafetyFilter(critic, recovery, eps)

    def act(self, state: np.ndarray, deterministic: bool = False) -> Step:
        action, logp = self.policy.act(state, deterministic=deterministic, generator=self.gen)
        if self.filter is None:
            return Step(action, "task", logp, float("nan"))
        d = self.filter.decide(state, action)
        if d.source == "recovery":
            with torch.no_grad():
                logp = float(self.policy.log_prob(torch.as_tensor(state[None]), torch.as_tensor(d.action[None])))
        return Step(d.action, d.source, logp, d.risk)


def evaluate(agent: Agent, env, episodes: int, seed: int) -> dict[str, float]:
    """The deterministic task policy behind the method's filter, on seeds seed .. seed+episodes-1."""
    policy = lambda s: agent.act(s, deterministic=True).action  # noqa: E731
    res = [run_episode(env, policy, seed=seed + i) for i in range(episodes)]
    return {"return": float(np.mean([r.ret for r in res])), "success": float(np.mean([r.success for r in res])),
            "ir_failure": float(np.mean([r.ir_failure for r in res]))}


def finetune(bundle: Bundle, env, cfg: FinetuneConfig, out: Path | None = None,
             log: Callable[[str], None] = lambda m: None) -> dict:
    """Fine-tune ``bundle.task_policy`` in ``env``; returns before/after evaluation and counts.

    With ``out``: ``updates.csv`` (one row per PPO update), ``episodes.csv`` (one row per online
    episode) and ``checkpoint.pt`` (the bundle with the new policy, written atomically).
    """
    torch.manual_seed(cfg.seed)
    agent = Agent(bundle, cfg.method, cfg.seed)
    eval_seed = 10_000 + 1000 * cfg.seed
    before = evaluate(agent, env, cfg.eval_episodes, eval_seed)
    log(f"{cfg.method}: before fine-tuning {before}")
    ppo = PPO(bundle.task_policy, bundle.value, cfg.ppo, cfg.seed)
    files, episode_log, update_log = [], None, None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        files = [open(out / "episodes.csv", "w", newline=""), open(out / "updates.csv", "w", newline="")]
        episode_log = csv.writer(files[0])
        episode_log.writerow(["episode", "env_steps", "return", "steps", "success", "ir_failure", "recovery_steps"])
    buf: dict[str, list] = {k: [] for k in ("s", "a", "logp", "r", "s2", "term", "trunc")}
    episodes = failures = recovery_steps_total = updates = 0
    ep_ret, ep_steps, ep_recovery, ep_success = 0.0, 0, 0, False
    state, _ = env.reset(seed=cfg.seed * 7919)
    rec = EpisodeRecorder(state, {"task": bundle.task, "layout": bundle.layout, "kind": "online",
                                  "method": cfg.method, "policy_version": bundle.version}) if cfg.save_episodes else None
    t0 = time.perf_counter()
    for step in range(1, cfg.total_steps + 1):
        st = agent.act(state)
        nxt, r, term, trunc, info = env.step(st.action)
        for k, v in zip(buf, (state, st.action, st.logp, r, nxt, term, trunc)):
            buf[k].append(v)
        if rec is not None:
            rec.add(st.action, nxt, r, info["cost"], info["success"], info["ir_failure"], term, trunc,
                    source=st.source, logp=st.logp, risk=st.risk)
        ep_ret += r
        ep_steps += 1
        ep_recovery += st.source == "recovery"
        ep_success |= info["success"]
        state = nxt
        if term or trunc:
            episodes += 1
            failures += int(info["ir_failure"])
            recovery_steps_total += ep_recovery
            if episode_log is not None:
                episode_log.writerow([episodes, step, round(ep_ret, 3), ep_steps, int(ep_success),
                                      int(info["ir_failure"]), ep_recovery])
            if rec is not None and out is not None:
                save_episode(next_episode_path(out / "episodes"), rec.finish())
            state, _ = env.reset()
            if rec is not None:
                rec = EpisodeRecorder(state, rec.meta | {"policy_version": bundle.version})
            ep_ret, ep_steps, ep_recovery, ep_success = 0.0, 0, 0, False
        if len(buf["r"]) >= cfg.rollout_steps or step == cfg.total_steps:
            buf["trunc"][-1] = buf["trunc"][-1] or not buf["term"][-1]  # cut here: bootstrap, don't terminate
            stats = ppo.update(*(np.asarray(buf[k], np.float32 if k not in ("term", "trunc") else bool)
                                 for k in ("s", "a", "logp", "r", "s2", "term", "trunc")))
            updates += 1
            bundle.version += 1
            buf = {k: [] for k in buf}
            if out is not None:
                save_bundle(out / "checkpoint.pt", bundle)
                row = {"update": updates, "env_steps": step, "version": bundle.version,
                       "seconds": round(time.perf_counter() - t0, 1), "failure_episodes": failures, **stats}
                if update_log is None:
                    update_log = csv.DictWriter(files[1], fieldnames=list(row))
                    update_log.writeheader()
                update_log.writerow(row)
            log(f"{cfg.method}: update {updates} at {step} steps, {failures} failure episodes so far")
    for fh in files:
        fh.close()
    after = evaluate(agent, env, cfg.eval_episodes, eval_seed)
    log(f"{cfg.method}: after fine-tuning {after}")
    return {"method": cfg.method, "seed": cfg.seed, "before": before, "after": after, "episodes": episodes,
            "failure_episodes": failures, "recovery_steps": recovery_steps_total, "updates": updates,
            "version": bundle.version, "seconds": time.perf_counter() - t0}

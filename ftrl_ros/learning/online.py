"""Online fine-tuning (paper Sec. V-B) and its baselines, on N simulated robots at once.

Every step goes through ``decide.Decider`` -- the same code the ``safety_filter`` node runs --
and PPO learns from ``rollout.RolloutBuffer``, the type ``ppo_learner`` fills from logged
episodes; or, with ``learner="sac"``, the off-policy learner of ``sac`` learns from a replay
buffer holding the demos and every transition, ``utd`` updates per transition. The task policy
(and its value or critics) are the only things trained; world model, safety critics and
recovery policy stay frozen. Observation normalisation is frozen from the offline data.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..tasks import get_task
from .bundle import Bundle, save_bundle
from .dataset import SOURCE_NAMES, EpisodeRecorder, next_episode_path, save_episode
from .decide import TASK, Decider, stored_rewards
from .methods import get_method
from .ppo import PPO, PPOConfig
from .sac import SAC, SACConfig
from .rollout import RolloutBuffer
from .scalars import Scalars, no_scalars, record_all
from .vec_env import VecTaskEnv
from ..utils.tensorboard import EventLog


@dataclass
class FinetuneConfig:
    method: str = "farl"
    """A row of ``methods.TABLE``."""
    learn_from: str = "proposed"
    """What PPO stores: the task policy's proposal (default) or the executed action (paper)."""
    veto_penalty: float = 0.0
    """Reward (task units) PPO loses on a step whose proposal the filter vetoed
    (``decide.stored_rewards``; 0: the paper's objective)."""
    episodes: int = 50
    """Budget in finished online episodes (the paper's real-robot runs: about 50)."""
    total_steps: int = 0
    """Budget in environment steps (0.2 s each); when > 0 it replaces ``episodes``."""
    n_envs: int = 8
    """Simulated robots stepped in parallel."""
    n_workers: int = 2
    """Processes stepping them (0: in this process)."""
    rollout_steps: int = 256
    """Environment steps (summed over the envs) between PPO updates."""
    eval_episodes: int = 10
    """Deterministic evaluation episodes before and after, with and without the filter."""
    seed: int = 0
    """Seeds the policy's sampling, PPO's minibatches and the training envs."""
    ppo: PPOConfig = field(default_factory=PPOConfig)
    learner: str = "ppo"
    """ppo (the paper's: on-policy, one pass per rollout) or sac (off-policy, demos in the buffer,
    ``sac.utd`` updates per transition)."""
    sac: SACConfig = field(default_factory=SACConfig)
    demo_dir: str = "data"
    """sac: the demos are read from ``<demo_dir>/<task>/{task,recovery}_demo`` (collected there if missing)."""
    save_episodes: bool = False
    """Write every online episode in the dataset format under <out>/episodes/."""


def run_episodes(decider: Decider, vec: VecTaskEnv, seeds: list[int], deterministic: bool = True) -> dict[str, np.ndarray]:
    """One episode per reset seed behind ``decider``'s filter; per episode: return, success, IR
    failure, steps, steps the fallback acted and takeovers (task -> fallback switches).
    ``deterministic=False`` samples the proposals (the online exploration noise, from the
    decider's generator: two deciders with the same seed draw the same noise)."""
    cols: dict[str, list] = {k: [] for k in ("return", "success", "ir_failure", "steps", "recovery_steps", "takeovers")}
    for start in range(0, len(seeds), vec.n_envs):
        batch = seeds[start : start + vec.n_envs]
        k = len(batch)
        obs = vec.reset(batch + [None] * (vec.n_envs - k))
        decider.reset()
        active = np.arange(vec.n_envs) < k
        ret, steps, rec, onsets = (np.zeros(vec.n_envs) for _ in range(4))
        done_s, done_f = np.zeros(vec.n_envs, bool), np.zeros(vec.n_envs, bool)
        was_fallback = np.zeros(vec.n_envs, bool)
        while active.any():
            _, d = decider.act(obs, deterministic=deterministic)
            st = vec.step(d.executed, active=active, autoreset=False)
            fallback = d.source != TASK
            ret += np.where(active, st.rewards, 0)
            steps += active
            rec += active & fallback
            onsets += active & fallback & ~was_fallback
            was_fallback = fallback
            done_s |= active & st.success
            done_f |= active & st.ir_failure
            active &= ~(st.terminated | st.truncated)
            obs = st.obs
        for name, col in (
            ("return", ret),
            ("success", done_s),
            ("ir_failure", done_f),
            ("steps", steps),
            ("recovery_steps", rec),
            ("takeovers", onsets),
        ):
            cols[name] += col[:k].tolist()
    return {k: np.asarray(v, float) for k, v in cols.items()}


def evaluate(decider: Decider, vec: VecTaskEnv, seeds: list[int]) -> dict[str, float]:
    """The deterministic task policy behind ``decider``'s filter on the given reset seeds (means)."""
    ep = run_episodes(decider, vec, seeds)
    return {k: float(np.mean(ep[k])) for k in ("return", "success", "ir_failure", "recovery_steps")}


def eval_seeds(seed: int, episodes: int) -> list[int]:
    """Evaluation reset seeds: disjoint from training (which seeds from ``seed * 7919``)."""
    return [10_000 + 1000 * seed + i for i in range(episodes)]


def evaluate_both(bundle: Bundle, method: str, vec: VecTaskEnv, seeds: list[int]) -> dict[str, dict]:
    """Return with the method's filter and without any filter (the task policy alone)."""
    out = {"plain": evaluate(Decider(bundle, "uni_o4"), vec, seeds)}
    out["filtered"] = evaluate(Decider(bundle, method), vec, seeds) if get_method(method).filtered else out["plain"]
    return out


def finetune(
    bundle: Bundle, task: str, cfg: FinetuneConfig, out: Path | None = None, log: Callable[[str], None] = lambda m: None, progress=None
) -> dict:
    """Fine-tune ``bundle.task_policy`` online; returns before/after evaluation and counts.

    With ``out``: ``updates.csv`` (one row per PPO update), ``episodes.csv`` (one row per online
    episode), the same curves as TensorBoard event files (``updates/*``, ``episode/*``,
    ``eval/before|after/*``, x axis = env steps) and ``checkpoint.pt`` (the bundle with the new
    policy, written atomically). ``progress(n)`` is called with the number of finished
    episodes/steps (for a bar).
    """
    method = get_method(cfg.method)  # ValueError naming the methods
    if cfg.learner not in LEARNERS:
        raise ValueError(f"learner must be one of {LEARNERS}, got {cfg.learner!r}")
    if cfg.learner == "sac" and method.constraint != "none":
        raise ValueError(f"{cfg.method} is a constrained PPO baseline: learner must be ppo")
    torch.manual_seed(cfg.seed)
    t0 = time.perf_counter()
    ppo_cfg = method.ppo_config(cfg.ppo, get_task(task).reward_scale)
    vec = VecTaskEnv(task, cfg.n_envs, cfg.n_workers)
    events = EventLog(out) if out is not None else None
    scalars = events or no_scalars
    try:
        seeds = eval_seeds(cfg.seed, cfg.eval_episodes)
        t_eval = time.perf_counter()
        before = evaluate_both(bundle, cfg.method, vec, seeds)
        eval_s = time.perf_counter() - t_eval
        record_all(scalars, before, 0, "eval/before")
        log(f"{cfg.method}: before fine-tuning {before}")
        decider = Decider(bundle, cfg.method, cfg.learn_from, seed=cfg.seed)
        learner: PPO | SAC
        if cfg.learner == "sac":
            learner = make_sac(bundle, task, cfg, log)
        else:
            learner = PPO(bundle.task_policy, bundle.value, ppo_cfg, cfg.seed)
        result = _train(bundle, decider, learner, vec, cfg, out, log, progress, t0, scalars)
        t_eval = time.perf_counter()
        after = evaluate_both(bundle, cfg.method, vec, seeds)
        result["time"]["eval_s"] = eval_s + time.perf_counter() - t_eval
        record_all(scalars, after, result["env_steps"], "eval/after")
        log(f"{cfg.method}: after fine-tuning {after}")
    finally:
        vec.close()
        if events is not None:
            events.close()
    return {
        "method": cfg.method,
        "learner": cfg.learner,
        "learn_from": cfg.learn_from,
        "seed": cfg.seed,
        "before": before,
        "after": after,
        **result,
        "version": bundle.version,
        "seconds": time.perf_counter() - t0,
    }


LEARNERS = ("ppo", "sac")


def make_sac(bundle: Bundle, task: str, cfg: FinetuneConfig, log=lambda m: None) -> SAC:
    """The off-policy learner on ``bundle.task_policy`` with the task's demos (collected if
    ``demo_dir`` has none)."""
    from .demos import demo_transitions

    demos = demo_transitions(task, Path(cfg.demo_dir) / task)
    log(f"sac: {len(demos.rewards)} demo transitions in the replay buffer")
    return SAC.for_task(bundle.task_policy, task, demos, replace(cfg.sac, seed=cfg.seed))


def _train(
    bundle: Bundle,
    decider: Decider,
    learner: PPO | SAC,
    vec: VecTaskEnv,
    cfg: FinetuneConfig,
    out: Path | None,
    log,
    progress,
    t0: float,
    scalars: Scalars = no_scalars,
) -> dict:
    n = vec.n_envs
    files, episode_log, update_log = [], None, None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        files = [open(out / "episodes.csv", "w", newline=""), open(out / "updates.csv", "w", newline="")]
        episode_log = csv.writer(files[0])
        episode_log.writerow(["episode", "env_steps", "return", "steps", "success", "ir_failure", "recovery_steps"])
    buf = RolloutBuffer(n)
    obs = vec.reset([cfg.seed * 7919 + i for i in range(n)])
    meta: dict[str, object] = {"task": bundle.task, "layout": bundle.layout, "kind": "online", "method": cfg.method}
    if np.isfinite(decider.threshold):
        meta["eps_safe"] = decider.threshold  # the whole run's (LeRobot export's per-step eps_safe)
    recs = [EpisodeRecorder(o, meta | {"policy_version": bundle.version}) for o in obs] if cfg.save_episodes else None
    ep_ret, ep_len, ep_rec = np.zeros(n), np.zeros(n, int), np.zeros(n, int)
    episodes = failures = successes = recovery_total = updates = steps = 0
    returns: list[float] = []
    since_row, sac_stats = 0, {}
    step_budget = cfg.total_steps if cfg.total_steps > 0 else None
    clock = dict.fromkeys(("decide_s", "env_s", "learn_s"), 0.0)  # where a run's time goes (bench-speed --vec)
    t_train = time.perf_counter()
    try:
        while (steps < step_budget) if step_budget else (episodes < cfg.episodes):
            t_a = time.perf_counter()
            props, d = decider.act(obs)
            t_b = time.perf_counter()
            st = vec.step(d.executed)
            t_c = time.perf_counter()
            clock["decide_s"] += t_b - t_a
            clock["env_s"] += t_c - t_b
            decider.reset(st.terminated | st.truncated)  # those envs start new episodes
            paid = stored_rewards(st.rewards, d.source, cfg.veto_penalty)
            if isinstance(learner, SAC):
                learner.add(obs, d.stored_action, paid, st.final_obs, st.terminated)
                sac_stats = learner.train(n)
                since_row += n
                clock["learn_s"] += time.perf_counter() - t_c
            else:
                buf.add(obs, d.stored_action, d.stored_logp, paid, st.costs, st.final_obs, st.terminated, st.truncated)
            steps += n
            ep_ret += st.rewards
            ep_len += 1
            ep_rec += d.source != TASK
            if recs is not None:
                for i in range(n):
                    recs[i].add(
                        d.executed[i],
                        st.final_obs[i],
                        st.rewards[i],
                        st.costs[i],
                        st.success[i],
                        st.ir_failure[i],
                        st.terminated[i],
                        st.truncated[i],
                        source=SOURCE_NAMES[int(d.source[i])],
                        logp=d.exec_logp[i],
                        risk=d.risk[i],
                        proposal=props.actions[i],
                        proposal_logp=props.logp[i],
                    )
            for i in np.flatnonzero(st.terminated | st.truncated).tolist():
                if step_budget is None and episodes >= cfg.episodes:
                    break  # budget reached inside this step: later envs' episodes are not counted
                episodes += 1
                failures += int(st.ir_failure[i])
                successes += int(st.success[i])
                recovery_total += int(ep_rec[i])
                returns.append(float(ep_ret[i]))
                episode_curves = {
                    "return": ep_ret[i],
                    "ir_failure": st.ir_failure[i],
                    "success": st.success[i],
                    "recovery_share": ep_rec[i] / max(int(ep_len[i]), 1),
                    "failure_episodes": failures,
                }
                record_all(scalars, episode_curves, steps, "episode")
                if episode_log is not None:
                    episode_log.writerow(
                        [
                            episodes,
                            steps,
                            round(float(ep_ret[i]), 3),
                            int(ep_len[i]),
                            int(st.success[i]),
                            int(st.ir_failure[i]),
                            int(ep_rec[i]),
                        ]
                    )
                if recs is not None and out is not None:
                    save_episode(next_episode_path(out / "episodes"), recs[i].finish())
                    recs[i] = EpisodeRecorder(st.obs[i], meta | {"policy_version": bundle.version})
                ep_ret[i], ep_len[i], ep_rec[i] = 0.0, 0, 0
                if progress is not None and step_budget is None:
                    progress(1)
            if progress is not None and step_budget is not None:
                progress(n)
            obs = st.obs
            done = (steps >= step_budget) if step_budget else (episodes >= cfg.episodes)
            if isinstance(learner, SAC) and (since_row >= cfg.rollout_steps or done):
                stats, since_row = sac_stats, 0  # a row per rollout_steps: the policy changed utd times per step
            elif not isinstance(learner, SAC) and (len(buf) >= cfg.rollout_steps or done):
                t_u = time.perf_counter()
                stats = learner.update(buf.data())
                buf.clear()
                clock["learn_s"] += time.perf_counter() - t_u
            else:
                continue
            updates += 1
            bundle.version += 1
            lr = learner.pi_opt.param_groups[0]["lr"]
            record_all(scalars, {**stats, "learning_rate": lr, "recovery_steps": recovery_total}, steps, "updates")
            if out is not None:
                save_bundle(out / "checkpoint.pt", bundle)
                row = {
                    "update": updates,
                    "env_steps": steps,
                    "episodes": episodes,
                    "version": bundle.version,
                    "seconds": round(time.perf_counter() - t0, 1),
                    "failure_episodes": failures,
                    "mean_return_last_10": round(float(np.mean(returns[-10:])), 3) if returns else float("nan"),
                    **{k: round(float(v), 5) for k, v in stats.items()},
                }
                if update_log is None:
                    update_log = csv.DictWriter(files[1], fieldnames=list(row))
                    update_log.writeheader()
                update_log.writerow(row)
                files[1].flush()
            detail = (
                f"q {stats.get('sac/q_mean', float('nan')):.2f}, alpha {stats.get('sac/alpha', float('nan')):.3f}"
                if isinstance(learner, SAC)
                else f"kl {stats['ppo/approx_kl']:.3f}, epochs {stats['ppo/epochs']}"
            )
            log(f"{cfg.method}: update {updates} at {steps} steps / {episodes} episodes, {failures} failure episodes, {detail}")
    finally:
        for fh in files:
            fh.close()
    return {
        "episodes": episodes,
        "env_steps": steps,
        "failure_episodes": failures,
        "success_episodes": successes,
        "recovery_steps": recovery_total,
        "updates": updates,
        "train_returns": returns,
        "time": {**clock, "train_s": time.perf_counter() - t_train},
    }

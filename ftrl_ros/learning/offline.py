"""The offline phase for one task, end to end: demos -> task policy -> recovery policy ->
failure demos -> world model + Recovery-RL critic -> H and eps_safe on validation rollouts ->
figures on test rollouts -> bundle."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .bundle import Bundle, load_bundle, save_bundle
from ..tasks import get_task
from .calibrate import calibrate, calibrate_split
from ..scripted.recovery import RECOVERY
from ..sim.envs import make
from .dagger import DaggerConfig, LoopDaggerConfig, dagger, dagger_in_the_loop
from .collect import CollectConfig, collect_calibration_rollouts, collect_failure_demos, collect_recovery_demos, collect_task_demos
from .dataset import Episode, Transitions, load_folder, to_transitions
from .offline_policy import OfflinePolicyConfig, train_offline_policy
from .recovery_rl import RecoveryRLConfig, RecoveryRLCritic, train_safety_q
from .safety import OODGuard, SafetyConfig, WorldModelCritic, guard_for, guarded, policy_mean_fn
from .timescale import TimeConstants, apply, at_rate
from ..utils.atomic import atomic_write_bytes
from .world_model import WorldModelConfig, train_world_model
from .scalars import Scalars, no_scalars, prefixed, record_all


@dataclass
class OfflineConfig:
    collect: CollectConfig = field(default_factory=CollectConfig)
    task_policy: OfflinePolicyConfig = field(default_factory=OfflinePolicyConfig)
    recovery_policy: OfflinePolicyConfig = field(default_factory=lambda: OfflinePolicyConfig(ensemble=2, rounds=2))
    world_model: WorldModelConfig = field(default_factory=WorldModelConfig)
    recovery_rl: RecoveryRLConfig = field(default_factory=RecoveryRLConfig)
    dagger: DaggerConfig = field(default_factory=DaggerConfig)
    loop_dagger: LoopDaggerConfig = field(default_factory=LoopDaggerConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    time: TimeConstants = field(default_factory=TimeConstants)
    """Label horizon, constraint-head horizon, look-aheads, training window and discounts, in
    seconds; ``timescale.apply`` converts them for the task's control rate."""
    hazard_inputs: bool = True
    """World model and Recovery-RL critic also see the task's hazard features (gap, closing
    speed; ``TaskSpec.hazard_features``); the world model also predicts them from every latent
    and its constraint head reads that prediction (``WorldModelConfig.hazard_head``; hand-run on
    Fragile Push Wall's data: C_H test AUC 0.864 without the head, 0.910 with it)."""
    ood_guard: bool = True
    """Put the OOD guard (``safety.OODGuard``) behind every critic of the bundle."""
    calibration_beta: float = 1.0
    """eps_safe maximises F-beta of the label on the validation rollouts ..."""
    false_alarm_budget: float = 1.0
    """... among the thresholds with at most this many false alarms per episode on average
    (steps with no failure within L on which the filter would take over)."""
    world_model_features: bool = False
    """The world model's encoder also sees the task's ``policy_features`` (relative positions).
    Off in every shipped bundle (built before it existed); on Bounded Push a hand-run probe
    raised C_H's test AUC from 0.81 to 0.85 (3,000 steps)."""
    seed: int = 0


def scaled(cfg: OfflineConfig, scale: float) -> OfflineConfig:
    """``cfg`` with every demo/rollout count and gradient-step count times ``scale`` (>= 2):
    smoke runs of the whole offline phase. 1 returns ``cfg`` itself."""
    if scale == 1.0:
        return cfg
    from dataclasses import fields, is_dataclass, replace

    counts = {
        "task_episodes",
        "recovery_episodes",
        "failure_transitions",
        "failure_max_episodes",
        "calibration_episodes",
        "bc_steps",
        "iql_steps",
        "rounds",
        "steps",
        "iterations",
        "episodes_per_iteration",
        "eval_episodes",
        "regress_steps",
        "ensemble",
    }

    def shrink(obj):
        changes = {}
        for f in fields(obj):
            v = getattr(obj, f.name)
            if is_dataclass(v):
                changes[f.name] = shrink(v)
            elif f.name in counts and isinstance(v, int) and v > 0:  # 0 (a stage left out) stays 0
                changes[f.name] = max(2, int(round(v * scale)))
        return replace(obj, **changes)

    return shrink(cfg)


def recovery_transitions(episodes: list[Episode], recovered) -> Transitions:
    """Recovery demos as an MDP of their own: +1 on reaching a recovered state (terminal),
    -1 on an IR failure, 0 otherwise. The task reward would reward the wrong thing here. A demo
    cut by the step limit before it recovered gets no +1 (it stays truncated: bootstrap).
    ``recovered(state)`` is the task spec's test."""
    tr = to_transitions(episodes)
    rewards = np.zeros_like(tr.rewards)
    terminated = tr.terminated.copy()
    i = 0
    for ep in episodes:
        last = i + len(ep) - 1
        if not ep.failed and recovered(ep.states[-1]):
            rewards[last], terminated[last] = 1.0, True
        rewards[i : last + 1][ep.ir_failure] = -1.0
        i = last + 1
    return tr._replace(rewards=rewards, terminated=terminated)


def calibration_sets(task: str, data_dir: Path, policy, cfg: OfflineConfig) -> tuple[list[Episode], list[Episode]]:
    """Validation and test rollouts of the noisy offline ``policy`` (collected once, then reused)."""
    val, test = (
        _load_or(
            data_dir / f"calibration_{split}",
            lambda split=split: collect_calibration_rollouts(
                task, data_dir / f"calibration_{split}", policy_mean_fn(policy), cfg.collect, split
            ),
        )
        for split in ("val", "test")
    )
    return val, test


def closing_speed_range(task: str, episodes: list[Episode]) -> float:
    """The fastest closing speed on the hazard (m/s) in ``episodes``: what the critics saw."""
    hazard = get_task(task).hazard_features
    return float(max(hazard(ep.states)[:, 1].max() for ep in episodes))


def choose_horizon_and_eps(
    wm, policy, safety_q, val: list[Episode], test: list[Episode], cfg: OfflineConfig, task: str = "", closing_speed: float = float("inf")
) -> tuple[SafetyConfig, dict]:
    """H by validation AUC (fixed label), eps_safe by validation F-beta within the false-alarm
    budget, test figures for both critics (each behind the OOD guard where there is one)."""
    dt = get_task(task).control_dt if task else 0.2
    sc = at_rate(cfg.time, dt)
    L, g = sc.label_horizon, cfg.safety.gamma_risk
    sweep = {h: calibrate(WorldModelCritic(wm, policy, SafetyConfig(h, g)), val, L).auc for h in sc.lookaheads}
    H = max(sweep, key=lambda h: (round(sweep[h], 3), h))
    safety = SafetyConfig(H, g)
    if cfg.ood_guard and task and np.isfinite(closing_speed):
        safety = replace(safety, ood_closing_speed=closing_speed, ood_lookahead_s=cfg.time.label_horizon_s)
    # the critics as decide.Decider builds them from the bundle: each behind the bundle's guard
    wm_critic = WorldModelCritic(wm, policy, safety)
    guard = guard_for(task, safety, 0.0) if task else None

    def with_guard(critic, ceiling: float):
        return guarded(critic, guard_for(task, safety, ceiling) if task else None)

    budget = cfg.false_alarm_budget
    wm_cal = calibrate_split(with_guard(wm_critic, wm_critic.ceiling), val, test, L, cfg.calibration_beta, budget)
    rrl_cal = calibrate_split(with_guard(RecoveryRLCritic(safety_q), 1.0), val, test, L, cfg.calibration_beta, budget)
    # the learned critics alone (no guard), for the record: AUC is the critic's own
    wm_alone = calibrate(WorldModelCritic(wm, policy, SafetyConfig(H, g)), test, L, eps=wm_cal["val"]["eps_safe"])
    rrl_alone = calibrate(RecoveryRLCritic(safety_q), test, L, eps=rrl_cal["val"]["eps_safe"])
    metrics = {
        "world_model": wm_cal,
        "recovery_rl": rrl_cal,
        "unguarded_test_auc": {"world_model": wm_alone.auc, "recovery_rl": rrl_alone.auc},
        "guard": guard_metrics(guard, test, L) if guard is not None else None,
        "label_horizon": L,
        "label_horizon_s": cfg.time.label_horizon_s,
        "time_constants": {**asdict(cfg.time), "at_rate": asdict(sc), "control_dt": dt},
        "beta": cfg.calibration_beta,
        "false_alarm_budget_per_episode": budget,
        "horizon_sweep_val_auc": {f"H={h}": round(v, 4) for h, v in sweep.items()},
        "horizon": H,
        "val_episodes": len(val),
        "test_episodes": len(test),
        "val_failing_episodes": sum(e.failed for e in val),
        "test_failing_episodes": sum(e.failed for e in test),
    }
    return replace(safety, eps_safe=wm_cal["val"]["eps_safe"]), metrics


def guard_metrics(guard: OODGuard, episodes: list[Episode], label_horizon: int) -> dict:
    """What the OOD guard costs and catches on in-distribution rollouts: the share of steps with
    no failure ahead on which it fires, the false takeovers per episode it adds, and the share
    of labelled steps it flags."""
    from .calibrate import failure_labels

    fires = np.concatenate([guard.fires(ep.states[:-1]) for ep in episodes])
    labels = np.concatenate([failure_labels(ep, label_horizon) for ep in episodes])
    return {
        "closing_speed": guard.closing_speed,
        "lookahead_s": guard.lookahead_s,
        "false_alarm_rate": float(fires[~labels].mean()) if (~labels).any() else float("nan"),
        "false_alarms_per_episode": float((fires & ~labels).sum()) / max(len(episodes), 1),
        "recall": float(fires[labels].mean()) if labels.any() else float("nan"),
    }


def recalibrate(task: str, data_dir: Path, path: Path, cfg: OfflineConfig = OfflineConfig(), log=print) -> Bundle:
    """Choose H and eps_safe (world model and Recovery-RL critics) again for an existing bundle on
    the validation rollouts and report the test figures; nothing is retrained."""
    bundle = load_bundle(path)
    cfg = apply(cfg, get_task(task).control_dt)  # gamma_risk from its half-life at this task's rate
    val, test = calibration_sets(task, Path(data_dir), bundle.task_policy, cfg)
    closing = bundle.metrics.get("data", {}).get("closing_speed_max", float("inf"))
    bundle.safety, cal = choose_horizon_and_eps(bundle.world_model, bundle.task_policy, bundle.safety_q, val, test, cfg, task, closing)
    bundle.rrl_eps = cal["recovery_rl"]["val"]["eps_safe"]
    bundle.metrics["calibration"] = cal
    save_bundle(path, bundle)
    write_metrics(path, bundle.metrics)
    t = cal["world_model"]["test"]
    log(
        f"[{task}] recalibrated (F{cfg.calibration_beta:g}): H {bundle.safety.horizon}, eps_safe "
        f"{bundle.safety.eps_safe:.4f}; test AUC {t['auc']:.3f}, precision {t['precision']:.2f}, recall "
        f"{t['recall']:.2f}, false alarms {t['false_alarm_rate']:.3f}/step"
    )
    return bundle


def _load_or(folder: Path, make) -> list[Episode]:
    return load_folder(folder) if folder.is_dir() and any(folder.glob("*.npz")) else make()


def pretrain(
    task: str, data_dir: Path, out: Path, cfg: OfflineConfig = OfflineConfig(), log=print, scalars: Scalars = no_scalars
) -> Bundle:
    """The whole offline phase of one task into the bundle ``out``. ``scalars``: every loss of every
    model while it trains, then every figure of ``<bundle>.json`` under ``bundle/`` (calibration AUC, precision,
    recall, timings) at step 0."""
    t0 = time.perf_counter()
    timings = {}
    data_dir = Path(data_dir)
    cfg = apply(cfg, get_task(task).control_dt)  # step counts and discounts from seconds
    if cfg.hazard_inputs:
        cfg = replace(cfg, world_model=replace(cfg.world_model, hazard_task=task, hazard_head=True))
    task_eps = _load_or(data_dir / "task_demo", lambda: collect_task_demos(task, data_dir / "task_demo", cfg.collect))
    rec_eps = _load_or(data_dir / "recovery_demo", lambda: collect_recovery_demos(task, data_dir / "recovery_demo", cfg.collect))
    timings["collect_demos_s"] = time.perf_counter() - t0
    log(f"[{task}] task demos: {len(task_eps)} episodes; recovery demos: {len(rec_eps)} episodes")

    t1 = time.perf_counter()
    features = get_task(task).policy_features  # FailureBench: relative positions; robot tasks: none
    task_res = train_offline_policy(
        to_transitions(task_eps), cfg.task_policy, lambda s: log(f"[{task}] task policy: {s}"), features, prefixed(scalars, "task_policy")
    )
    rec_res = train_offline_policy(
        recovery_transitions(rec_eps, get_task(task).recovered),
        cfg.recovery_policy,
        lambda s: log(f"[{task}] recovery policy: {s}"),
        features,
        prefixed(scalars, "recovery_policy"),
    )
    dagger_metrics, rec_states, rec_labels = dagger(
        rec_res.policy,
        make(task),
        RECOVERY[task](),
        np.concatenate([e.states[:-1] for e in rec_eps]),
        cfg.dagger,
        lambda m: log(f"[{task}] recovery policy: {m}"),
    )
    rec_res.metrics.update(dagger_metrics)
    log(
        f"[{task}] recovery policy on {cfg.dagger.eval_episodes} near-failure starts: learned "
        f"{rec_res.metrics['recovery/learned']:.0%} (before DAgger {rec_res.metrics['recovery/learned_before_dagger']:.0%}), "
        f"scripted {rec_res.metrics['recovery/scripted']:.0%}"
    )
    timings["train_policies_s"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    fail_eps = _load_or(
        data_dir / "failure_demo",
        lambda: collect_failure_demos(task, data_dir / "failure_demo", policy_mean_fn(task_res.policy), cfg.collect)[0],
    )
    timings["collect_failures_s"] = time.perf_counter() - t2
    log(f"[{task}] failure demos: {len(fail_eps)} episodes, {sum(len(e) for e in fail_eps)} transitions")

    val, test = calibration_sets(task, data_dir, task_res.policy, cfg)
    train = task_eps + fail_eps

    t3 = time.perf_counter()

    def world_model_progress(step: int, m: dict[str, float]) -> None:
        record_all(scalars, {"world_model": {k[3:]: v for k, v in m.items()}}, step)
        if step % 1000 == 0:
            log(f"[{task}] world model step {step}: " + ", ".join(f"{k[3:]}={v:.3f}" for k, v in m.items()))

    wm, wm_metrics = train_world_model(train, cfg.world_model, world_model_progress, features if cfg.world_model_features else None)
    safety_q, rrl_metrics = train_safety_q(
        to_transitions(train), task_res.policy, cfg.recovery_rl, task if cfg.hazard_inputs else "", scalars
    )
    timings["train_world_model_s"] = time.perf_counter() - t3

    closing = closing_speed_range(task, train)
    safety, cal = choose_horizon_and_eps(wm, task_res.policy, safety_q, val, test, cfg, task, closing)
    timings["offline_total_s"] = time.perf_counter() - t0
    timings["training_only_s"] = timings["train_policies_s"] + timings["train_world_model_s"]
    metrics = {
        "task_policy": task_res.metrics,
        "recovery_policy": rec_res.metrics,
        "world_model": wm_metrics,
        "recovery_rl": rrl_metrics,
        "calibration": cal,
        "data": {
            "task_episodes": len(task_eps),
            "recovery_episodes": len(rec_eps),
            "failure_episodes": len(fail_eps),
            "failure_transitions": int(sum(len(e) for e in fail_eps)),
            "closing_speed_max": closing,
            "recovery_demos_recovered": int(sum(get_task(task).recovered(e.states[-1]) and not e.failed for e in rec_eps)),
        },
        "timings": timings,
    }
    t = cal["world_model"]["test"]
    log(
        f"[{task}] C_H (H={safety.horizon}) on test rollouts: AUC {t['auc']:.3f}, eps_safe {safety.eps_safe:.3f}, "
        f"precision {t['precision']:.2f}, recall {t['recall']:.2f}, false alarms {t['false_alarm_rate']:.3f}/step "
        f"({t.get('false_alarms_per_episode', float('nan')):.2f}/episode) | Recovery-RL critic AUC {cal['recovery_rl']['test']['auc']:.3f}"
    )
    bundle = Bundle(
        task=task,
        layout=list(task_eps[0].meta["layout"]),
        task_policy=task_res.policy,
        value=task_res.value,
        recovery_policy=rec_res.policy,
        world_model=wm,
        safety_q=safety_q,
        safety=safety,
        rrl_eps=cal["recovery_rl"]["val"]["eps_safe"],
        hidden=cfg.task_policy.hidden,
        metrics=metrics,
    )
    t4 = time.perf_counter()
    rec_res.metrics.update(
        dagger_in_the_loop(
            bundle, task, RECOVERY[task](), rec_states, rec_labels, cfg.loop_dagger, lambda m: log(f"[{task}] recovery policy: {m}")
        )
    )
    timings["dagger_in_the_loop_s"] = time.perf_counter() - t4
    m = rec_res.metrics
    log(
        f"[{task}] IR failures under FARL in {m['recovery/loop_eval_episodes']} episodes: learned recovery "
        f"{m['recovery/loop_failures_learned']} (before {m['recovery/loop_failures_before']}), scripted "
        f"{m['recovery/loop_failures_scripted']}"
    )
    save_bundle(out, bundle)
    write_metrics(out, metrics)
    record_all(scalars, metrics, 0, "bundle")  # the json's figures, apart from the training curves
    log(f"[{task}] saved {out} ({timings['offline_total_s']:.0f} s)")
    return bundle


def write_metrics(bundle_path: str | Path, metrics: dict) -> None:
    """``<bundle>.json`` beside the bundle, atomically (the figures every report reads)."""
    atomic_write_bytes(Path(bundle_path).with_suffix(".json"), json.dumps(metrics, indent=2, default=float).encode())

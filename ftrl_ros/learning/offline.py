"""The offline phase for one task, end to end: demos -> task policy -> recovery policy ->
failure demos -> world model + Recovery-RL critic -> eps_safe on held-out data -> bundle."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .bundle import Bundle, load_bundle, save_bundle
from .calibrate import calibrate
from .collect import CollectConfig, collect_failure_demos, collect_recovery_demos, collect_task_demos
from .dataset import Episode, Transitions, load_folder, to_transitions
from .offline_policy import OfflinePolicyConfig, train_offline_policy
from .recovery_rl import RecoveryRLConfig, RecoveryRLCritic, train_safety_q
from .safety import SafetyConfig, WorldModelCritic, policy_mean_fn
from .world_model import WorldModelConfig, train_world_model


@dataclass
class OfflineConfig:
    collect: CollectConfig = field(default_factory=CollectConfig)
    task_policy: OfflinePolicyConfig = field(default_factory=OfflinePolicyConfig)
    recovery_policy: OfflinePolicyConfig = field(default_factory=lambda: OfflinePolicyConfig(ensemble=2, rounds=2))
    world_model: WorldModelConfig = field(default_factory=WorldModelConfig)
    recovery_rl: RecoveryRLConfig = field(default_factory=RecoveryRLConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    holdout: float = 0.2
    """Share of task + failure episodes held out to choose eps_safe and report AUC."""
    calibration_beta: float = 1.0
    """eps_safe maximises F-beta of 'failure within H steps' on the held-out episodes."""
    seed: int = 0


def recovery_transitions(episodes: list[Episode]) -> Transitions:
    """Recovery demos as an MDP of their own: +1 on reaching a recovered state (terminal),
    -1 on an IR failure, 0 otherwise. The task reward would reward the wrong thing here."""
    tr = to_transitions(episodes)
    rewards = np.zeros_like(tr.rewards)
    terminated = tr.terminated.copy()
    i = 0
    for ep in episodes:
        last = i + len(ep) - 1
        if not ep.failed:
            rewards[last], terminated[last] = 1.0, True
        rewards[i:last + 1][ep.ir_failure] = -1.0
        i = last + 1
    return tr._replace(rewards=rewards, terminated=terminated)


def split_heldout(pool: list[Episode], holdout: float, seed: int) -> tuple[list[Episode], list[Episode]]:
    held = set(np.random.default_rng(seed).choice(len(pool), int(len(pool) * holdout), replace=False).tolist())
    return [e for i, e in enumerate(pool) if i not in held], [e for i, e in enumerate(pool) if i in held]


def recalibrate(task: str, data_dir: Path, path: Path, cfg: OfflineConfig = OfflineConfig(), log=print) -> Bundle:
    """Choose eps_safe (world model and Recovery-RL critics) again for an existing bundle, on the
    same held-out split ``pretrain`` used; nothing is retrained."""
    bundle = load_bundle(path)
    data_dir = Path(data_dir)
    _, heldout = split_heldout(load_folder(data_dir / "task_demo") + load_folder(data_dir / "failure_demo"),
                               cfg.holdout, cfg.seed)
    H = bundle.safety.horizon
    wm_cal = calibrate(WorldModelCritic(bundle.world_model, bundle.task_policy, bundle.safety), heldout, H,
                       beta=cfg.calibration_beta)
    rrl_cal = calibrate(RecoveryRLCritic(bundle.safety_q), heldout, H, beta=cfg.calibration_beta)
    bundle.safety = SafetyConfig(H, bundle.safety.gamma_risk, wm_cal.eps_safe)
    bundle.rrl_eps = rrl_cal.eps_safe
    bundle.metrics["calibration"].update({"world_model": wm_cal._asdict(), "recovery_rl": rrl_cal._asdict(),
                                          "beta": cfg.calibration_beta})
    save_bundle(path, bundle)
    Path(path).with_suffix(".json").write_text(json.dumps(bundle.metrics, indent=2, default=float))
    log(f"[{task}] recalibrated (F{cfg.calibration_beta:g}): eps_safe {wm_cal.eps_safe:.4f}, precision "
        f"{wm_cal.precision:.2f}, recall {wm_cal.recall:.2f}; Recovery-RL eps {rrl_cal.eps_safe:.4f}")
    return bundle


def _load_or(folder: Path, make) -> list[Episode]:
    return load_folder(folder) if folder.is_dir() and any(folder.glob("*.npz")) else make()


def pretrain(task: str, data_dir: Path, out: Path, cfg: OfflineConfig = OfflineConfig(), log=print) -> Bundle:
    t0 = time.perf_counter()
    timings = {}
    data_dir = Path(data_dir)
    task_eps = _load_or(data_dir / "task_demo", lambda: collect_task_demos(task, data_dir / "task_demo", cfg.collect))
    rec_eps = _load_or(data_dir / "recovery_demo", lambda: collect_recovery_demos(task, data_dir / "recovery_demo", cfg.collect))
    timings["collect_demos_s"] = time.perf_counter() - t0
    log(f"[{task}] task demos: {len(task_eps)} episodes; recovery demos: {len(rec_eps)} episodes")

    t1 = time.perf_counter()
    task_res = train_offline_policy(to_transitions(task_eps), cfg.task_policy, lambda s: log(f"[{task}] task policy: {s}"))
    rec_res = train_offline_policy(recovery_transitions(rec_eps), cfg.recovery_policy, lambda s: log(f"[{task}] recovery policy: {s}"))
    timings["train_policies_s"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    fail_eps = _load_or(data_dir / "failure_demo", lambda: collect_failure_demos(
        task, data_dir / "failure_demo", policy_mean_fn(task_res.policy), cfg.collect)[0])
    timings["collect_failures_s"] = time.perf_counter() - t2
    log(f"[{task}] failure demos: {len(fail_eps)} episodes, {sum(len(e) for e in fail_eps)} transitions")

    train, heldout = split_heldout(task_eps + fail_eps, cfg.holdout, cfg.seed)

    t3 = time.perf_counter()
    wm, wm_metrics = train_world_model(train, cfg.world_model,
                                       lambda step, m: log(f"[{task}] world model step {step}: " + ", ".join(
                                           f"{k[3:]}={v:.3f}" for k, v in m.items())) if step % 1000 == 0 else None)
    safety_q, rrl_metrics = train_safety_q(to_transitions(train), task_res.policy, cfg.recovery_rl)
    timings["train_world_model_s"] = time.perf_counter() - t3

    H = cfg.safety.horizon
    wm_cal = calibrate(WorldModelCritic(wm, task_res.policy, cfg.safety), heldout, H, beta=cfg.calibration_beta)
    sweep = {f"H={h}": round(calibrate(WorldModelCritic(wm, task_res.policy, SafetyConfig(h, cfg.safety.gamma_risk)),
                                       heldout, h).auc, 4) for h in (1, 2, 3, 4, 5)}
    rrl_cal = calibrate(RecoveryRLCritic(safety_q), heldout, H, beta=cfg.calibration_beta)
    safety = SafetyConfig(horizon=H, gamma_risk=cfg.safety.gamma_risk, eps_safe=wm_cal.eps_safe)
    timings["offline_total_s"] = time.perf_counter() - t0
    timings["training_only_s"] = timings["train_policies_s"] + timings["train_world_model_s"]
    metrics = {
        "task_policy": task_res.metrics, "recovery_policy": rec_res.metrics, "world_model": wm_metrics,
        "recovery_rl": rrl_metrics, "calibration": {"world_model": wm_cal._asdict(), "recovery_rl": rrl_cal._asdict(), "horizon_sweep": sweep,
                        "beta": cfg.calibration_beta},
        "data": {"task_episodes": len(task_eps), "recovery_episodes": len(rec_eps), "failure_episodes": len(fail_eps),
                 "failure_transitions": int(sum(len(e) for e in fail_eps)), "heldout_episodes": len(heldout)},
        "timings": timings,
    }
    log(f"[{task}] C_H on held-out: AUC {wm_cal.auc:.3f}, eps_safe {wm_cal.eps_safe:.3f}, precision "
        f"{wm_cal.precision:.2f}, recall {wm_cal.recall:.2f} | Recovery-RL critic AUC {rrl_cal.auc:.3f}")
    bundle = Bundle(task=task, layout=list(task_eps[0].meta["layout"]), task_policy=task_res.policy,
                    value=task_res.value, recovery_policy=rec_res.policy, world_model=wm, safety_q=safety_q,
                    safety=safety, rrl_eps=rrl_cal.eps_safe, hidden=cfg.task_policy.hidden, metrics=metrics)
    save_bundle(out, bundle)
    (Path(out).with_suffix(".json")).write_text(json.dumps(metrics, indent=2, default=float))
    log(f"[{task}] saved {out} ({timings['offline_total_s']:.0f} s)")
    return bundle

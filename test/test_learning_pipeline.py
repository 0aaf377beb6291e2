"""The learning core end to end on a small scale: offline phase -> bundle -> online fine-tuning
with every method, and the world model's losses on real sim data."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from ftrl_ros.learning.bundle import load_bundle
from ftrl_ros.learning.collect import CollectConfig
from ftrl_ros.learning.dataset import load_folder
from ftrl_ros.learning.offline import OfflineConfig, pretrain
from ftrl_ros.learning.offline_policy import OfflinePolicyConfig
from ftrl_ros.learning.dagger import DaggerConfig, LoopDaggerConfig
from ftrl_ros.learning.methods import METHODS
from ftrl_ros.learning.online import FinetuneConfig, finetune
from ftrl_ros.learning.recovery_rl import RecoveryRLConfig
from ftrl_ros.learning.world_model import WindowSampler, WorldModel, WorldModelConfig, update
from ftrl_ros.learning.nets import Normalizer
from ftrl_ros.learning.scalars import LOG_EVERY
from ftrl_ros.utils.tensorboard import EventLog, read_scalars

TASK = "disturbed_push"
SMALL = OfflineConfig(
    collect=CollectConfig(task_episodes=8, recovery_episodes=16, failure_transitions=1200, calibration_episodes=40),
    task_policy=OfflinePolicyConfig(bc_steps=300, iql_steps=300, rounds=2, steps_per_round=30),
    recovery_policy=OfflinePolicyConfig(ensemble=2, bc_steps=200, iql_steps=200, rounds=1, steps_per_round=20),
    world_model=WorldModelConfig(steps=300),
    recovery_rl=RecoveryRLConfig(steps=300),
    dagger=DaggerConfig(iterations=1, episodes_per_iteration=10, regress_steps=200, eval_episodes=10),
    loop_dagger=LoopDaggerConfig(iterations=1, episodes_per_iteration=8, eval_episodes=8, regress_steps=100),
)


@pytest.fixture(scope="session")
def offline_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("offline")
    out = root / f"{TASK}.pt"
    with EventLog(root / "tb") as events:
        pretrain(TASK, root / "data", out, SMALL, log=lambda m: None, scalars=events)
    return out, root / "data"


def test_offline_phase_writes_every_loss_to_tensorboard(offline_run):
    """Read back with TensorBoard's own reader: each model's losses at the steps it trained
    (LOG_EVERY apart, and the last step), and the calibration figures of the bundle's json."""
    path, _ = offline_run
    curves = read_scalars(path.parent / "tb")
    bc_steps = SMALL.task_policy.bc_steps
    expected_steps = sorted({*range(0, bc_steps, LOG_EVERY), bc_steps - 1})
    for member in range(SMALL.task_policy.ensemble):
        assert [s for s, _ in curves[f"task_policy/bc/member{member}/nll"]] == expected_steps
    assert len(curves["task_policy/iql/q_loss"]) == len(
        {*range(0, SMALL.task_policy.iql_steps, LOG_EVERY), SMALL.task_policy.iql_steps - 1}
    )
    assert [s for s, _ in curves["task_policy/improve/accepted"]] == list(range(SMALL.task_policy.rounds))
    assert "recovery_policy/bc/member1/action_mse" in curves
    wm_steps = [s for s, _ in curves["world_model/total"]]
    assert wm_steps == sorted({*range(0, SMALL.world_model.steps, 100), SMALL.world_model.steps - 1})
    assert {"world_model/constraint", "recovery_rl/q_loss"} <= set(curves)
    metrics = load_bundle(path).metrics
    for key in ("auc", "precision", "recall"):
        ((step, value),) = curves[f"bundle/calibration/world_model/test/{key}"]
        assert step == 0 and value == pytest.approx(metrics["calibration"]["world_model"]["test"][key])
    assert all(np.isfinite(v) for c in curves.values() for _, v in c)


def test_offline_phase_writes_data_and_bundle(offline_run):
    path, data = offline_run
    assert len(load_folder(data / "task_demo")) == 8
    assert len(load_folder(data / "recovery_demo")) == 16
    failures = load_folder(data / "failure_demo")
    assert failures and all(ep.failed for ep in failures)
    assert sum(len(e) for e in failures) >= 1200
    b = load_bundle(path)
    cal = b.metrics["calibration"]["world_model"]
    assert 0.0 <= cal["test"]["auc"] <= 1.0 and cal["val"]["positives"] > 0
    assert b.safety.eps_safe == pytest.approx(cal["val"]["eps_safe"])  # chosen on validation ...
    assert cal["test"]["eps_safe"] == pytest.approx(cal["val"]["eps_safe"])  # ... reported on test
    assert b.safety.horizon == b.metrics["calibration"]["horizon"]
    rec = b.metrics["recovery_policy"]
    assert 0 <= rec["recovery/learned"] <= 1 and 0 <= rec["recovery/scripted"] <= 1
    assert path.stat().st_size < 6e6
    assert path.with_suffix(".json").is_file()


def test_calibration_sets_are_unseen_and_keep_safe_rollouts(offline_run):
    """Validation/test rollouts: seeds no training set used, and safe episodes kept (the filter
    sees mostly safe states online; a failing-only set overstates precision)."""
    _, data = offline_run
    train = load_folder(data / "task_demo") + load_folder(data / "failure_demo") + load_folder(data / "recovery_demo")
    val, test = load_folder(data / "calibration_val"), load_folder(data / "calibration_test")
    seeds = lambda eps: {e.meta["seed"] for e in eps}  # noqa: E731
    assert not seeds(train) & seeds(val) and not seeds(train) & seeds(test) and not seeds(val) & seeds(test)
    assert len(val) == len(test) == 40
    assert any(not e.failed for e in val) and any(not e.failed for e in test)


def test_recovery_labels_only_for_real_recoveries(offline_run):
    from ftrl_ros.learning.offline import recovery_transitions
    from ftrl_ros.tasks import get_task

    _, data = offline_run
    eps = load_folder(data / "recovery_demo")
    spec = get_task(TASK)
    tr = recovery_transitions(eps, spec.recovered)
    ends = np.cumsum([len(e) for e in eps]) - 1
    for e, end in zip(eps, ends):
        recovered = spec.recovered(e.states[-1]) and not e.failed
        assert (tr.rewards[end] == 1.0) == recovered
        assert tr.terminated[end] == (recovered or e.failed)


def test_world_model_losses_decrease(offline_run):
    _, data = offline_run
    episodes = load_folder(data / "task_demo") + load_folder(data / "failure_demo")
    torch.manual_seed(0)
    cfg = WorldModelConfig(steps=0, horizon=5, batch=128)
    model = WorldModel(Normalizer.from_data(np.concatenate([e.states for e in episodes])), 2, cfg)
    model.make_target()
    fixed = WindowSampler(episodes, cfg.horizon, 0.5, seed=123).sample(256)
    with torch.no_grad():
        before = {k: float(v) for k, v in model.losses(fixed).items()}
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sampler = WindowSampler(episodes, cfg.horizon, 0.5, seed=0)
    for _ in range(250):
        stats = update(model, opt, sampler.sample(cfg.batch))
    with torch.no_grad():
        after = {k: float(v) for k, v in model.losses(fixed).items()}
    assert set(stats) >= {"wm/reward", "wm/value", "wm/consistency", "wm/constraint", "wm/decoder", "wm/total"}
    for key in ("reward", "value", "constraint", "decoder"):
        assert after[key] < 0.7 * before[key], (key, before[key], after[key])
    assert after["consistency"] < before["consistency"] * 1.5  # targets move with the encoder; must not blow up


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_finetune_smoke(offline_run, method, tmp_path):
    path, _ = offline_run
    bundle = load_bundle(path)
    start = [p.detach().clone() for p in bundle.task_policy.parameters()]
    cfg = FinetuneConfig(
        method=method, total_steps=2000, rollout_steps=1000, eval_episodes=2, seed=1, n_envs=4, n_workers=2 if method == "farl" else 0
    )
    result = finetune(bundle, TASK, cfg, out=tmp_path)
    assert result["updates"] == 2 and result["version"] == 2 and result["env_steps"] == 2000
    ckpt = load_bundle(tmp_path / "checkpoint.pt")
    assert ckpt.version == 2
    moved = any(not torch.allclose(a, b) for a, b in zip(start, ckpt.task_policy.parameters()))
    assert moved, "PPO did not change the policy"
    assert 0 < result["episodes"] and 0 <= result["failure_episodes"] <= result["episodes"]
    for phase in ("before", "after"):
        for kind in ("plain", "filtered"):
            assert np.isfinite(result[phase][kind]["return"]) and 0 <= result[phase][kind]["success"] <= 1
    rows = list(csv.DictReader(open(tmp_path / "updates.csv")))
    assert len(rows) == 2 and all(np.isfinite(float(r["ppo/v_loss"])) for r in rows)
    episodes = list(csv.DictReader(open(tmp_path / "episodes.csv")))
    assert len(episodes) == result["episodes"]
    recovery_steps = sum(int(r["recovery_steps"]) for r in episodes)
    if method in ("uni_o4", "ppo_lagrangian", "p3o"):
        assert recovery_steps == 0
    if method in ("ppo_lagrangian", "p3o"):
        assert "ppo/multiplier" in rows[0]
    # the same run in TensorBoard (its own reader): one point per update at the CSV's env steps
    curves = read_scalars(tmp_path)
    for tag in ("ppo/approx_kl", "ppo/clipfrac", "ppo/v_loss", "ppo/entropy", "learning_rate"):
        assert [s for s, _ in curves[f"updates/{tag}"]] == [int(r["env_steps"]) for r in rows], tag
    assert [v for _, v in curves["updates/ppo/v_loss"]] == pytest.approx([float(r["ppo/v_loss"]) for r in rows], rel=1e-3, abs=1e-5)
    assert len(curves["episode/return"]) == len(episodes)
    assert [v for _, v in curves["episode/return"]] == pytest.approx([float(r["return"]) for r in episodes], abs=1e-3)
    assert sum(v for _, v in curves["episode/ir_failure"]) == result["failure_episodes"]
    assert curves["eval/after/plain/return"] == [(2000, pytest.approx(result["after"]["plain"]["return"], rel=1e-5))]


def test_recalibrate_changes_only_thresholds(offline_run, tmp_path):
    import shutil
    from dataclasses import replace
    from ftrl_ros.learning.offline import recalibrate

    path, data = offline_run
    copy = tmp_path / "b.pt"
    shutil.copy(path, copy)
    before = load_bundle(copy)
    f2 = recalibrate(TASK, data, copy, replace(SMALL, calibration_beta=2.0), log=lambda m: None)
    f05 = recalibrate(TASK, data, copy, replace(SMALL, calibration_beta=0.5), log=lambda m: None)
    assert f2.metrics["calibration"]["world_model"]["val"]["recall"] >= f05.metrics["calibration"]["world_model"]["val"]["recall"]
    assert f2.safety.eps_safe <= f05.safety.eps_safe
    after = load_bundle(copy)
    assert after.safety.eps_safe == pytest.approx(f05.safety.eps_safe)
    for a, b in zip(before.world_model.parameters(), after.world_model.parameters()):
        assert torch.equal(a, b)


def test_bundle_critics_see_the_hazard_and_sit_behind_the_guard(offline_run):
    """The shipped pipeline's critics: world model and Recovery-RL critic both take the task's
    hazard features (kept on reload); eps_safe respects the false-alarm budget on validation;
    every filtered method's critic is guarded; and on the trained model, the pot coming at the
    hand faster than anything in the training data scores at least the risk of the same
    geometry at a familiar speed."""
    from ftrl_ros.learning.decide import Decider
    from ftrl_ros.learning.safety import GuardedCritic
    from ftrl_ros.tasks import get_task

    path, data = offline_run
    b = load_bundle(path)
    assert b.world_model.hazard_dim == 2 and b.safety_q.hazard is not None
    cal = b.metrics["calibration"]
    assert cal["world_model"]["val"]["false_alarms_per_episode"] <= SMALL.false_alarm_budget
    assert cal["time_constants"]["at_rate"]["label_horizon"] == 3 and b.world_model.cfg.constraint_horizon == 3
    closing = b.metrics["data"]["closing_speed_max"]
    assert b.safety.ood_closing_speed == pytest.approx(closing) and 0 < closing < 5
    for method in ("farl", "recovery_rl", "mppi"):
        assert isinstance(Decider(b, method).critic, GuardedCritic)

    spec = get_task(TASK)
    critic = Decider(b, "farl").critic
    assert critic is not None
    states = []
    for gap in (0.03, 0.06, 0.1):
        for speed in (0.5 * closing, 2.0 * closing):
            d = spec.finger_reach + spec.obstacle_radius + spec.contact_margin + gap
            states.append(
                spec.layout.pack(
                    dict(ee=(0.55, 0.0), ee_v=(0, 0), puck=(0.55, 0.2), obstacle=(0.55, -d), obstacle_v=(0, speed), target=(0.7, 0))
                )
            )
    s = torch.as_tensor(np.stack(states))
    risk = critic.risk(s, torch.zeros(len(states), 2)).numpy().reshape(3, 2)
    assert (risk[:, 1] >= risk[:, 0]).all(), risk

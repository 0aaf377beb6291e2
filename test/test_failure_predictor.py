"""The failure predictor's parts, without ROS and without a trained bundle: time constants in
seconds converted per task, the far-sighted constraint target, the tasks' hazard geometry, the
OOD guard, eps_safe within a false-alarm budget, and the one-member BC ensemble."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ftrl_ros.learning.calibrate import choose_eps
from ftrl_ros.learning.dataset import EpisodeRecorder
from ftrl_ros.learning.failurebench_config import offline_config
from ftrl_ros.learning.offline import OfflineConfig
from ftrl_ros.learning.safety import GuardedCritic, OODGuard
from ftrl_ros.learning.timescale import TimeConstants, apply, at_rate, discount, half_life
from ftrl_ros.learning.world_model import WindowSampler, WorldModel, WorldModelConfig, constraint_targets
from ftrl_ros.learning.nets import Normalizer
from ftrl_ros.tasks import TASKS, get_task


def test_time_constants_convert_per_task_rate():
    """The same seconds mean 3 steps at 5 Hz and 48 at 80 Hz; discounts keep their half-life."""
    tc = TimeConstants()
    robot, fb = at_rate(tc, 0.2), at_rate(tc, 1 / 80)
    assert (robot.label_horizon, fb.label_horizon) == (3, 48)
    assert (robot.window, fb.window) == (5, 80)
    assert robot.lookaheads == (0, 1, 2, 3, 4, 5)
    assert robot.gamma_risk == pytest.approx(0.9, abs=1e-3) and robot.gamma_safe == pytest.approx(0.8, abs=1e-3)
    for g in ("gamma_risk", "gamma_safe", "rho", "gamma"):
        assert half_life(getattr(robot, g), 0.2) == pytest.approx(half_life(getattr(fb, g), 1 / 80), rel=1e-6), g
    assert fb.gamma_risk**16 == pytest.approx(robot.gamma_risk, rel=1e-6)  # 16 steps at 80 Hz = 1 at 5 Hz
    assert discount(1.0, 0.5) == pytest.approx(0.5**0.5)
    # FailureBench's shipped setting: label 0.2 s = 16 steps, window >= every look-ahead
    fbc = at_rate(offline_config().time, 1 / 80)
    assert fbc.label_horizon == 16 and fbc.constraint_horizon == 16 and fbc.window >= max(fbc.lookaheads)
    with pytest.raises(ValueError, match="window_s"):
        TimeConstants(lookaheads_s=(0.0, 2.0), window_s=1.0)


def test_apply_sets_every_learner_from_seconds():
    cfg = apply(OfflineConfig(), 1 / 80)
    sc = at_rate(cfg.time, 1 / 80)
    assert cfg.world_model.horizon == sc.window and cfg.world_model.constraint_horizon == sc.constraint_horizon
    assert cfg.world_model.rho == sc.rho and cfg.world_model.gamma == sc.gamma
    assert cfg.recovery_rl.gamma_safe == sc.gamma_safe and cfg.safety.gamma_risk == sc.gamma_risk


def test_constraint_target_is_far_sighted():
    """A failure K steps ahead is a positive; K + 1 steps ahead is not; K = 0 is the paper's c_t."""
    costs = np.zeros(10)
    costs[7] = 1
    assert constraint_targets(costs, 0).tolist() == costs.tolist()
    far = constraint_targets(costs, 3)
    assert far[4:8].tolist() == [1, 1, 1, 1] and far[:4].sum() == 0 and far[8:].sum() == 0


def _episode(task: str, T: int, fail_at: int | None, seed: int = 0):
    spec = get_task(task)
    rng = np.random.default_rng(seed)
    s0 = rng.uniform(0.3, 0.6, spec.layout.dim).astype(np.float32)
    rec = EpisodeRecorder(s0, {"task": task, "layout": list(spec.layout.names)})
    for t in range(T):
        fail = fail_at == t
        rec.add(np.zeros(2), s0 + 0.001 * (t + 1), 0.0, float(fail), False, fail, fail, t == T - 1 and not fail)
        if fail:
            break
    return rec.finish()


def test_window_sampler_targets_look_k_steps_ahead():
    """Every sampled window's target at a step equals "a failure within K steps" of that step."""
    K = 3
    eps = [_episode("disturbed_push", 12, 9, seed=0), _episode("disturbed_push", 12, None, seed=1)]
    sampler = WindowSampler(eps, horizon=2, failure_fraction=0.5, seed=0, constraint_horizon=K)
    batch = sampler.sample(400)
    states = batch.states.numpy()
    seen_early_positive = False
    for b in range(400):
        for i in range(2):
            if batch.mask[b, i] == 0:
                continue
            # find the window's episode and step from the state (episodes' states are distinct)
            for ep in eps:
                hit = np.flatnonzero(np.all(np.isclose(ep.states[:-1], states[b, i]), axis=1))
                if len(hit):
                    t = int(hit[0])
                    expected = float(ep.costs[t : t + K + 1].any())
                    assert batch.costs[b, i].item() == expected
                    seen_early_positive |= expected == 1.0 and ep.costs[t] == 0
    assert seen_early_positive  # a step before the failure itself was a positive


@pytest.mark.parametrize("task", sorted(TASKS))
def test_hazard_gap_is_the_constraint(task):
    """hazard_gap < 0 exactly where the task's state-only constraint fires (random states)."""
    spec = get_task(task)
    rng = np.random.default_rng(1)
    S = rng.uniform(-0.3, 0.9, (3000, spec.layout.dim)).astype(np.float32)
    hz = spec.hazard_features(S)
    assert hz.shape == (3000, 2) and hz.dtype == np.float32
    assert np.array_equal(hz[:, 0] < 0, np.array([spec.constraint(s) for s in S]))


def test_closing_speed_reads_the_hazards_motion():
    """Disturbed Push: the pot coming at the hand at 0.3 m/s closes the gap at ~0.3 m/s; moving
    away, it opens it. Soccer: a ball rolling out of bounds closes its gap at its speed."""
    spec = get_task("disturbed_push")
    base = dict(ee=(0.5, 0.0), ee_v=(0.0, 0.0), puck=(0.5, 0.2), obstacle=(0.5, -0.15), target=(0.7, 0.0))
    towards = spec.layout.pack({**base, "obstacle_v": (0.0, 0.3)})
    away = spec.layout.pack({**base, "obstacle_v": (0.0, -0.3)})
    (gap, closing), (_, opening) = spec.hazard_features(np.stack([towards, away]))
    assert gap == pytest.approx(0.15 - spec.finger_reach - spec.obstacle_radius - spec.contact_margin, abs=1e-5)
    assert closing == pytest.approx(0.3, abs=1e-3) and opening == pytest.approx(-0.3, abs=1e-3)
    soccer = get_task("bounded_soccer")
    ball = soccer.layout.pack(dict(ee=(0.5, 0.0), ee_v=(0, 0), ball=(0.6, 0.1), ball_v=(0.0, 0.2), target=(0.7, 0.0)))
    assert soccer.hazard_features(ball)[0, 1] == pytest.approx(0.2, abs=1e-4)


def test_failurebench_closing_speed_from_the_two_frames():
    spec = get_task("fb_bounded_push")
    obs = np.zeros(39)
    obs[4:7] = obs[22:25] = (0.0, 0.9, 0.02)  # puck 5 cm inside the far boundary (y = 0.95)
    obs[0:3] = obs[18:21] = (0.0, 0.6, 0.2)
    obs[22:25] = (0.0, 0.9 - 0.5 / 80, 0.02)  # last frame 0.5 m/s further back: moving out at 0.5 m/s
    gap, closing = spec.hazard_features(obs)[0]
    assert gap == pytest.approx(0.05 - spec.task.margin, abs=1e-6)
    assert closing == pytest.approx(0.5, abs=1e-3)


class _Quiet:
    """A critic that extrapolates the unfamiliar into "safe": risk falls with closing speed."""

    def __init__(self, hazard):
        self.hazard = hazard

    def risk(self, states, actions):
        closing = self.hazard(states.numpy())[:, 1]
        return torch.as_tensor(np.clip(1.0 - np.abs(closing - 0.2) * 5, 0.0, 1.0), dtype=torch.float32)


def test_ood_guard_makes_an_unfamiliar_fast_threat_at_least_as_risky():
    """The pot approaching at twice the fastest closing speed of the training data scores at
    least the risk of the same geometry at a familiar speed, although the critic itself goes
    quiet there; familiar and receding states are left to the critic."""
    spec = get_task("disturbed_push")
    base = dict(ee=(0.5, 0.0), ee_v=(0.0, 0.0), puck=(0.5, 0.2), obstacle=(0.5, -0.12), target=(0.7, 0.0))
    familiar_speed = 0.2
    states = np.stack(
        [spec.layout.pack({**base, "obstacle_v": (0.0, v)}) for v in (familiar_speed, 2 * 0.25, -0.6)]
    )  # familiar, unfamiliar (training max 0.25 m/s), receding fast
    critic = _Quiet(spec.hazard_features)
    guard = OODGuard(spec.hazard_features, closing_speed=0.25, lookahead_s=0.6, ceiling=1.0)
    r = GuardedCritic(critic, guard).risk(torch.as_tensor(states), torch.zeros(3, 2)).numpy()
    raw = critic.risk(torch.as_tensor(states), torch.zeros(3, 2)).numpy()
    assert raw[1] < raw[0]  # the critic alone: quieter for the faster threat
    assert r[1] >= r[0] and r[1] == 1.0
    assert r[0] == raw[0] and r[2] == raw[2]  # familiar / receding: the critic's own figure
    assert guard.fires(states).tolist() == [False, True, False]


def test_eps_within_a_false_alarm_budget():
    rng = np.random.default_rng(0)
    labels = rng.random(5000) < 0.05
    scores = np.where(labels, rng.normal(1.0, 0.5, 5000), rng.normal(0.0, 0.5, 5000))
    free = choose_eps(scores, labels, beta=1.0)
    for budget in (5, 20, 100):
        eps = choose_eps(scores, labels, beta=1.0, max_false_alarms=budget)
        assert ((scores > eps) & ~labels).sum() <= budget
        assert eps >= free or ((scores > free) & ~labels).sum() <= budget


def test_world_model_with_hazard_inputs_round_trips():
    """A world model that sees the hazard features saves and reloads them (range clamp included),
    and clamps an out-of-range closing speed to the training range."""
    spec = get_task("bounded_soccer")
    rng = np.random.default_rng(0)
    states = rng.uniform(0.0, 0.5, (200, spec.layout.dim)).astype(np.float32)
    cfg = WorldModelConfig(hazard_task="bounded_soccer")
    wm = WorldModel(Normalizer.from_data(states), 2, cfg)
    wm.hazard_in.fit(spec.hazard_features(states))
    again = WorldModel(Normalizer.from_state_dict(wm.state_dict()), 2, cfg)
    again.load_state_dict(wm.state_dict())
    s = torch.as_tensor(states[:5])
    assert torch.equal(again.encode(s), wm.encode(s))
    hz = wm.hazard_features(s)
    fast = hz.clone()
    fast[:, 1] = 100.0
    at_max = hz.clone()
    at_max[:, 1] = wm.hazard_in.hi[1]
    assert torch.equal(wm.encode(s, fast), wm.encode(s, at_max))
    # with the auxiliary hazard head the constraint head reads the predicted geometry; it reloads too
    cfg = WorldModelConfig(hazard_task="bounded_soccer", hazard_head=True)
    wm = WorldModel(Normalizer.from_data(states), 2, cfg)
    wm.hazard_in.fit(spec.hazard_features(states))
    again = WorldModel(Normalizer.from_state_dict(wm.state_dict()), 2, cfg)
    again.load_state_dict(wm.state_dict())
    z = wm.encode(s)
    assert wm.hazard_from_latent(z).shape == (5, 2)
    assert torch.equal(again.constraint(again.encode(s), torch.zeros(5, 2)), wm.constraint(z, torch.zeros(5, 2)))


def test_one_member_ensemble_gives_a_finite_std():
    from ftrl_ros.learning.offline_policy import OfflinePolicyConfig, train_offline_policy
    from ftrl_ros.learning.dataset import to_transitions

    eps = [_episode("disturbed_push", 10, None, seed=i) for i in range(2)]
    res = train_offline_policy(to_transitions(eps), OfflinePolicyConfig(ensemble=1, bc_steps=5, iql_steps=5, rounds=0, hidden=16))
    assert torch.isfinite(res.policy.log_std).all()


def test_a_vetoed_proposal_changes_what_is_stored():
    """With a veto penalty, PPO is paid less on the steps where the filter took over, in both
    producers of PPO data (the benchmark loop's and the logged episodes' for ppo_learner);
    0 leaves the rewards as the task paid them."""
    from ftrl_ros.learning.decide import RECOVERY, TASK, stored_rewards
    from ftrl_ros.learning.rollout import from_episodes

    rewards, source = np.array([1.0, 1.0, 1.0]), np.array([TASK, RECOVERY, TASK])
    assert stored_rewards(rewards, source, 0.0).tolist() == [1.0, 1.0, 1.0]
    assert stored_rewards(rewards, source, 0.5).tolist() == [1.0, 0.5, 1.0]

    spec = get_task("disturbed_push")
    s0 = np.full(spec.layout.dim, 0.4, np.float32)
    rec = EpisodeRecorder(s0, {"task": "disturbed_push", "layout": list(spec.layout.names)})
    for t, src in enumerate(("task", "recovery", "task")):
        rec.add(np.zeros(2), s0, 1.0, 0.0, False, False, False, t == 2, source=src, logp=-1.0, proposal=np.ones(2), proposal_logp=-1.0)
    ep = rec.finish()
    assert from_episodes([ep], "proposed", 0.0).rewards.tolist() == [1.0, 1.0, 1.0]
    assert from_episodes([ep], "proposed", 0.25).rewards.tolist() == [1.0, 0.75, 1.0]


def _point_mass(n: int, rng: np.random.Generator):
    """A 2-D point that should go to the origin: s' = s + 0.1 a, r = -|s'|; the expert heads home."""
    s = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    a = np.clip(-s / np.maximum(np.linalg.norm(s, axis=1, keepdims=True), 1e-6), -1, 1).astype(np.float32)
    a_data = np.clip(a + rng.normal(0, 0.3, a.shape), -1, 1).astype(np.float32)
    s2 = s + 0.1 * a_data
    return s, a, a_data, -np.linalg.norm(s2, axis=1).astype(np.float32), s2


def test_the_improvement_gate_can_reject_a_round():
    """The model gate passes a policy that heads home over one that runs away, and rejects the
    reverse: it grades candidates by roll-outs, not by the Q the round maximised."""
    import copy

    from ftrl_ros.learning.model_gate import GateConfig, fit_gate
    from ftrl_ros.learning.nets import GaussianPolicy
    from ftrl_ros.learning.offline_policy import train_bc

    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    s, a, a_data, r, s2 = _point_mass(3000, rng)
    gate, m = fit_gate(s, a_data, r, s2, GateConfig(steps=600, horizon=8, starts=128, hidden=64))
    assert m["gate/model_loss"] < 0.5
    good = GaussianPolicy(Normalizer.from_data(s), hidden=32)
    train_bc(good, {"states": torch.as_tensor(s), "actions": torch.as_tensor(a)}, np.arange(len(s)), 400, 256, 3e-3, rng)
    bad = copy.deepcopy(good)
    with torch.no_grad():  # the same network, heading the other way
        bad.net[-1].weight.neg_()
        bad.net[-1].bias.neg_()
    assert gate.compare(bad, good)["accept"] == 0.0
    assert gate.compare(good, bad)["accept"] == 1.0
    assert gate.compare(good, good)["accept"] == 0.0  # no better than itself


def test_demos_record_the_experts_intent_and_bc_learns_it():
    """DART-style labels: the noisy expert's demos keep the expert's own command next to the
    executed one, and BC's targets are the intended commands on those rows."""
    from ftrl_ros.learning.collect import record_episode
    from ftrl_ros.learning.dataset import to_transitions
    from ftrl_ros.learning.offline_policy import bc_targets
    from ftrl_ros.scripted.experts import EXPERTS
    from ftrl_ros.utils.noise import BurstNoise, BurstNoisePolicy
    from ftrl_ros.sim.envs import make

    env = make("disturbed_push")
    noisy = BurstNoisePolicy(EXPERTS["disturbed_push"](), np.random.default_rng(0), BurstNoise(p=0.3, length=2, sigma=0.2))
    ep = record_episode(env, noisy, seed=3, kind="task_demo", source="expert")
    assert np.isfinite(ep.proposals).all()
    assert np.abs(ep.proposals - ep.actions).max() > 0.2  # the noise changed what ran ...
    tr = to_transitions([ep])
    np.testing.assert_allclose(bc_targets(tr), np.clip(ep.proposals, -1, 1))  # ... BC learns the intent
    tr_task = tr._replace(source=np.full_like(tr.source, 1))  # rows of the task policy: executed actions
    np.testing.assert_array_equal(bc_targets(tr_task), tr.actions)


def test_failurebench_closing_speed_follows_one_term():
    """Obstructed Push: the hand dropping below the vase's height makes the hand's clearance
    appear; that jump is no motion and must not read as a closing speed of metres per second."""
    spec = get_task("fb_obstructed_push")
    obs = np.zeros(39)
    obs[11:14] = obs[29:32] = (0.0, 0.8, 0.052)  # the vase
    obs[4:7] = obs[22:25] = (0.2, 0.6, 0.02)  # the puck, far and still
    obs[0:3] = (0.0, 0.72, 0.121)  # the hand next to the vase, 1 mm above 12 cm ...
    obs[18:21] = (0.0, 0.72, 0.122)  # ... coming down at 8 cm/s
    gap, closing = spec.hazard_features(obs)[0]
    assert np.isfinite(gap) and abs(closing) < 0.2
    assert gap == pytest.approx(spec.task.hazard_gap(obs), abs=1e-6)

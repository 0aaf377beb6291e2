"""Unit tests of the learning core on constructed inputs with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ftrl_ros.learning.calibrate import choose_eps, precision_recall, roc_auc
from ftrl_ros.learning.nets import GaussianPolicy, Normalizer, ValueNet
from ftrl_ros.learning.offline_policy import train_bc
from ftrl_ros.learning.ppo import clipped_surrogate, gae
from ftrl_ros.learning.safety import SafetyConfig, WorldModelCritic, switch


def test_gae_matches_hand_computation():
    # two episodes: [r0, r1 (truncated)] and [r2 (terminated)]
    r = np.array([1.0, 2.0, 3.0])
    v = np.array([0.5, 0.4, 0.3])
    v_next = np.array([0.4, 0.9, 0.7])
    term = np.array([False, False, True])
    trunc = np.array([False, True, False])
    g, lam = 0.9, 0.8
    d1 = 2.0 + g * 0.9 - 0.4  # truncated: bootstrap from V(s2)
    d0 = 1.0 + g * 0.4 - 0.5
    a1, a0 = d1, d0 + g * lam * d1
    a2 = 3.0 - 0.3  # terminated: no bootstrap, no carry
    adv, ret = gae(r, v, v_next, term, trunc, g, lam)
    np.testing.assert_allclose(adv, [a0, a1, a2], rtol=1e-6)
    np.testing.assert_allclose(ret, [a0 + 0.5, a1 + 0.4, a2 + 0.3], rtol=1e-6)


def test_clipped_surrogate_on_constructed_ratios():
    ratio, adv = torch.tensor([2.0, 0.5, 1.1]), torch.tensor([1.0, -1.0, 1.0])
    # min(2*1, 1.2*1) = 1.2 ; min(0.5*-1, 0.8*-1) = -0.8 ; inside the clip range: r A
    assert clipped_surrogate(ratio, adv, 0.2).tolist() == pytest.approx([1.2, -0.8, 1.1])


class _LineWorld(nn.Module):
    """z = s; z' = z + a; c = 1 when z_x > 1; decode = identity; no hazard features."""

    def hazard_features(self, s):
        return s.new_zeros((s.shape[0], 0))

    def encode(self, s, hazard=None):
        return s

    def next(self, z, a):
        return z + a

    def constraint(self, z, a):
        return (z[:, 0] > 1.0).float()

    def decode(self, z):
        return z


class _ConstantPolicy(nn.Module):
    def mean(self, s):
        return torch.ones(s.shape[0], 2) * torch.tensor([1.0, 0.0])


@pytest.mark.parametrize("traced", [False, True])
def test_c_h_on_a_tiny_model_with_known_constraint(traced):
    cfg = SafetyConfig(horizon=5, gamma_risk=0.9, eps_safe=0.5)
    critic = WorldModelCritic(_LineWorld(), _ConstantPolicy(), cfg)
    s = torch.tensor([[0.5, 0.0], [-10.0, 0.0]])
    a = torch.tensor([[0.2, 0.0], [0.0, 0.0]])
    risk = (critic.risk if traced else critic.risk_eager)(s, a)
    # first row: z_x = 0.5, 0.7, 1.7, 2.7, 3.7, 4.7 -> c = 0,0,1,1,1,1 ; second row never gets there
    expected = sum(0.9**i for i in range(2, 6))
    assert risk.tolist() == pytest.approx([expected, 0.0])


def test_switch_rule_at_and_around_eps():
    assert switch([0.29, 0.3, 0.3000001], 0.3).tolist() == [False, False, True]  # Eq. 12: task when C_H <= eps


def test_bc_recovers_a_simple_expert():
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    states = rng.uniform(-1, 1, (2000, 4)).astype(np.float32)
    w = np.array([[0.8, -0.3], [0.1, 0.5], [-0.4, 0.2], [0.0, -0.6]], np.float32)
    actions = np.tanh(states @ w).astype(np.float32)
    policy = GaussianPolicy(Normalizer.from_data(states), hidden=64)
    data = {"states": torch.as_tensor(states), "actions": torch.as_tensor(actions)}
    mse = train_bc(policy, data, np.arange(len(states)), steps=1500, batch=256, lr=1e-3, rng=rng)
    test_s = rng.uniform(-1, 1, (200, 4)).astype(np.float32)
    with torch.no_grad():
        err = float(((policy.mean(torch.as_tensor(test_s)) - torch.as_tensor(np.tanh(test_s @ w))) ** 2).mean())
    assert mse < 0.01 and err < 0.01
    assert float(policy.log_std.detach().exp().max()) < 0.3  # it learned the expert is (nearly) deterministic


def test_roc_auc_and_threshold():
    labels = np.array([0, 0, 0, 1, 1, 0, 1], bool)
    perfect = np.array([0.1, 0.2, 0.3, 0.9, 0.8, 0.05, 0.7])
    assert roc_auc(perfect, labels) == 1.0
    assert roc_auc(-perfect, labels) == 0.0
    assert roc_auc(np.ones(7), labels) == 0.5
    eps = choose_eps(perfect, labels)
    p, r = precision_recall(perfect, labels, eps)
    assert r == 1.0 and p == 1.0


def test_world_model_windows_put_failures_at_every_position():
    """Regression: windows that had to fit inside an episode only ever saw the failure (always the
    last step) at the last window position, so the constraint head never fired on encoded states."""
    from ftrl_ros.learning.dataset import EpisodeRecorder
    from ftrl_ros.learning.world_model import WindowSampler

    rec = EpisodeRecorder(np.zeros(2), {})
    for t in range(10):
        rec.add([0.0, 0.0], np.full(2, t + 1.0), 0.0, float(t == 9), False, t == 9, t == 9, False)
    sampler = WindowSampler([rec.finish()], horizon=4, failure_fraction=0.5, seed=0)
    b = sampler.sample(400)
    positions = {int(i) for i in torch.nonzero(b.costs)[:, 1]}
    assert positions == {0, 1, 2, 3}
    # steps past the end are masked out and carry no cost; the state index never runs past T
    assert torch.all(b.costs * (1 - b.mask) == 0)
    assert float(b.states.max()) <= 10.0
    first_step_fail = b.costs[:, 0] > 0
    assert torch.all(b.mask[first_step_fail, 1:] == 0)


def test_mppi_plans_a_batch_in_one_pass():
    from ftrl_ros.learning.bundle import load_bundle
    from ftrl_ros.learning.mppi import MPPIRecovery

    bundle = load_bundle(Path(__file__).resolve().parents[1] / "models" / "disturbed_push.pt")
    rng = np.random.default_rng(0)
    states = rng.normal(bundle.task_policy.norm.mean.numpy(), bundle.task_policy.norm.std.numpy(), (5, len(bundle.layout))).astype(
        np.float32
    )
    plans = MPPIRecovery(bundle.world_model).plan(states)
    assert plans.shape == (5, 2) and np.all(np.abs(plans) <= 1.0)
    assert np.array_equal(plans, MPPIRecovery(bundle.world_model).plan(states))  # seeded
    single = MPPIRecovery(bundle.world_model)(states[0])
    assert single.shape == (2,) and np.all(np.isfinite(single))


def test_state_features_are_computed_and_saved_with_the_policy():
    """A policy with features (FailureBench's) appends differences and zeroes dropped
    dimensions; loaded back from its state dict it acts the same. Without features the state
    dict is what older bundles hold."""
    from ftrl_ros.learning.nets import StateFeatures

    rng = np.random.default_rng(0)
    states = rng.normal(size=(500, 6)).astype(np.float32)
    features = StateFeatures(diffs=((0, 3, 2),), drop=(5,))
    norm = Normalizer.from_data(states, features)
    x = torch.as_tensor(states[:4])
    assert torch.allclose(norm.expand(x)[:, 6:], x[:, 0:2] - x[:, 3:5])
    assert norm.out_dim == 8 and torch.all(norm(x)[:, 5] == 0) and torch.all(norm(x)[:, 6:] != 0)
    policy = GaussianPolicy(norm, 2, hidden=32)
    sd = policy.state_dict()
    again = GaussianPolicy(Normalizer.from_state_dict(sd), 2, hidden=32)
    again.load_state_dict(sd)
    assert torch.equal(again.mean(x), policy.mean(x))
    plain = GaussianPolicy(Normalizer.from_data(states), 2, hidden=32).state_dict()
    assert not any(k.startswith("norm.feat") or k == "norm.keep" for k in plain)
    assert Normalizer.from_state_dict(plain).out_dim == 6


def test_ppo_learns_values_in_the_tasks_reward_scale():
    """reward_scale multiplies the rewards before GAE: the value targets a PPO update fits are
    the scaled returns (FailureBench pays up to 10 per step; 0.01 keeps values near 1)."""
    from ftrl_ros.learning.ppo import PPO, PPOConfig
    from ftrl_ros.learning.rollout import PPOData
    from ftrl_ros.tasks import get_task

    assert get_task("fb_bounded_push").reward_scale == 0.01 and get_task("disturbed_push").reward_scale == 1.0
    rng = np.random.default_rng(0)
    n, d = 64, 3
    states = rng.normal(size=(n, d)).astype(np.float32)
    data = PPOData(
        states=states,
        actions=np.zeros((n, 2), np.float32),
        logp=np.zeros(n, np.float32),
        rewards=np.full(n, 10.0, np.float32),
        costs=np.zeros(n, np.float32),
        next_states=states,
        terminated=np.ones(n, bool),  # one-step episodes: the return is the reward
        truncated=np.zeros(n, bool),
        policy_mask=np.ones(n, np.float32),
    )
    for scale in (1.0, 0.01):
        norm = Normalizer.from_data(states)
        ppo = PPO(
            GaussianPolicy(norm, 2, hidden=16), ValueNet(norm, hidden=16), PPOConfig(reward_scale=scale, value_warmup_epochs=0, epochs=1)
        )
        assert ppo.update(data)["ppo/return_mean"] == pytest.approx(10.0 * scale)


def test_ppo_takes_the_offline_value_into_its_reward_scale(tmp_path):
    """The offline V fits raw returns; PPO with reward_scale 0.01 must see V / 100 from the first
    update (else advantages mix scaled rewards with unscaled values). The units are saved with
    the net, so a fine-tuned value is not rescaled twice; files without them load as raw."""
    from ftrl_ros.learning.ppo import PPO, PPOConfig

    states = torch.as_tensor(np.random.default_rng(1).normal(size=(16, 3)).astype(np.float32))
    norm = Normalizer.from_data(states.numpy())
    value = ValueNet(norm, hidden=16)
    with torch.no_grad():
        value.net[-1].bias.fill_(500.0)
    raw = value(states).clone()
    PPO(GaussianPolicy(norm, 2, hidden=16), value, PPOConfig(reward_scale=0.01))
    assert torch.allclose(value(states), raw * 0.01, rtol=1e-5) and float(value.return_scale) == pytest.approx(0.01)
    again = ValueNet(Normalizer.from_data(states.numpy()), hidden=16)
    again.load_state_dict(value.state_dict())
    PPO(GaussianPolicy(norm, 2, hidden=16), again, PPOConfig(reward_scale=0.01))  # already in these units
    assert torch.allclose(again(states), raw * 0.01, rtol=1e-5)
    old = {k: v for k, v in value.state_dict().items() if k != "return_scale"}
    legacy = ValueNet(Normalizer.from_data(states.numpy()), hidden=16)
    legacy.load_state_dict(old)
    assert float(legacy.return_scale) == 1.0


def test_a_world_model_with_state_features_decodes_the_raw_state_and_reloads():
    """With the task's features the encoder sees the differences too, but ``decode`` still gives
    the raw state the task policy consumes; the saved model loads back as bundles load it."""
    from ftrl_ros.learning.nets import StateFeatures
    from ftrl_ros.learning.world_model import WorldModel, WorldModelConfig

    states = np.random.default_rng(2).normal(size=(200, 6)).astype(np.float32)
    features = StateFeatures(diffs=((0, 3, 2),), drop=(5,))
    cfg = WorldModelConfig(latent=16, hidden=32)
    wm = WorldModel(Normalizer.from_data(states, features), 2, cfg)
    s = torch.as_tensor(states[:5])
    z = wm.encode(s)
    assert wm.decode(z).shape == (5, 6)
    policy = GaussianPolicy(Normalizer.from_data(states, features), 2, hidden=16)
    risk = WorldModelCritic(wm, policy, SafetyConfig(horizon=3)).risk(s, torch.zeros(5, 2))
    assert risk.shape == (5,) and torch.isfinite(risk).all()
    again = WorldModel(Normalizer.from_state_dict(wm.state_dict()), 2, cfg)
    again.load_state_dict(wm.state_dict())
    assert torch.equal(again.decode(again.encode(s)), wm.decode(z))

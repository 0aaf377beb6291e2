"""The table of methods (learning/methods.py) and the one threshold rule (Decider.set_eps):
every consumer reads a method's knowledge from its row, and calibration scores the very switch
the filter runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ftrl_ros.learning.bundle import load_task_bundle
from ftrl_ros.learning.calibrate import false_alarm_rate, precision_recall
from ftrl_ros.learning.dataset import FALLBACK_SOURCES, SOURCES
from ftrl_ros.learning.decide import FALLBACKS, Decider, Proposals
from ftrl_ros.learning.methods import BY_NAME, CONSTRAINED, FILTERED, METHODS, TABLE, get_method, method_problem
from ftrl_ros.learning.ppo import CONSTRAINTS, PPOConfig

TASK_NAME = "disturbed_push"


def _states(bundle, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mean, std = bundle.task_policy.norm.mean.numpy(), bundle.task_policy.norm.std.numpy()
    return rng.normal(mean, 1.5 * std, (n, len(mean))).astype(np.float32)


def test_every_row_is_complete_and_consistent():
    assert len(METHODS) == len(TABLE) == len(set(METHODS))
    for m in TABLE:
        assert m.filtered == (m.critic is not None)
        assert (m.fallback is not None) == m.filtered, m.name
        assert m.fallback is None or (m.fallback in FALLBACK_SOURCES and SOURCES[m.fallback] in FALLBACKS)
        assert m.threshold in ("eps_safe", "rrl_eps")
        assert m.constraint in CONSTRAINTS
        assert m.summary
    assert set(FILTERED) == {"farl", "recovery_rl", "mppi"}
    assert CONSTRAINED == {"ppo_lagrangian": "lagrangian", "p3o": "p3o"}


def test_get_method_takes_the_alias_and_names_the_choices():
    assert get_method("none") is BY_NAME["uni_o4"]
    with pytest.raises(ValueError, match="farl"):
        get_method("bogus")
    assert method_problem("none") is not None and method_problem("none", alias=True) is None
    assert "none" in method_problem("bogus", alias=True)


def test_ppo_config_carries_the_constraint_and_the_task_scale():
    base = PPOConfig(lr=1e-4)
    cfg = get_method("p3o").ppo_config(base, 0.01)
    assert (cfg.constraint, cfg.reward_scale, cfg.lr) == ("p3o", 0.01, 1e-4)
    assert get_method("farl").ppo_config(PPOConfig(reward_scale=2.0), 0.01).reward_scale == 2.0


@pytest.mark.parametrize("method", METHODS)
def test_one_threshold_rule(method):
    bundle = load_task_bundle(TASK_NAME)
    dec = Decider(bundle, method)
    row = get_method(method)
    if not row.filtered:
        assert math.isnan(dec.threshold)
        return
    calibrated = bundle.rrl_eps if row.threshold == "rrl_eps" else bundle.safety.eps_safe
    assert dec.eps_safe == dec.calibrated_eps == calibrated == dec.threshold
    dec.set_eps(0.25)
    assert dec.eps_safe == 0.25
    dec.set_eps(-1.0)  # < 0: back to the calibrated one
    assert dec.eps_safe == calibrated
    assert Decider(bundle, method, eps_safe=0.5).eps_safe == 0.5
    # calibration writes the threshold where the decider reads it
    assert Decider(row.with_eps(bundle, 0.125), method).eps_safe == 0.125


@pytest.mark.parametrize("method", ["farl", "recovery_rl"])
def test_calibration_figures_are_those_of_the_running_switch(method):
    """precision / recall / false alarms computed by calibrate are the takeovers Decider makes."""
    bundle = load_task_bundle(TASK_NAME)
    dec = Decider(bundle, method)
    s = _states(bundle, 400)
    actions = np.clip(dec.propose(s).actions, -1, 1)
    with torch.no_grad():
        scores = dec.critic.risk(torch.as_tensor(s), torch.as_tensor(actions)).numpy()
    eps = float(np.quantile(scores, 0.7))
    dec.set_eps(eps)
    took_over = dec.decide(s, Proposals(actions, np.zeros(len(s), np.float32))).source != SOURCES["task"]
    labels = np.random.default_rng(1).random(len(s)) < 0.3
    p, r = precision_recall(scores, labels, eps)
    tp = float((took_over & labels).sum())
    assert 0 < took_over.sum() < len(s)
    assert p == pytest.approx(tp / took_over.sum()) and r == pytest.approx(tp / labels.sum())
    assert false_alarm_rate(scores, labels, eps) == pytest.approx((took_over & ~labels).sum() / (~labels).sum())

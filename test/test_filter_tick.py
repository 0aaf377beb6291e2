"""The safety filter's tick without ROS (control/filter_tick.py): every branch of the most
safety-critical function, each asserting what the arm is told and what the decision records."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ftrl_ros.control.command import velocity_command
from ftrl_ros.control.fields import DECISION_FIELDS
from ftrl_ros.control.filter_tick import filter_tick
from ftrl_ros.control.teleop import Teleop
from ftrl_ros.control.validate import field_bounds
from ftrl_ros.learning.bundle import load_task_bundle
from ftrl_ros.learning.dataset import SOURCES
from ftrl_ros.learning.decide import Decider
from ftrl_ros.tasks import get_task

TASK = "disturbed_push"
MAX_AGE = 0.4
NOW = 1000.0


@pytest.fixture(scope="module")
def bundle():
    return load_task_bundle(TASK)


@pytest.fixture(scope="module")
def spec():
    return get_task(TASK)


@pytest.fixture(scope="module")
def states(bundle, spec):
    """Plausible states around the offline data, inside the workspace (so no axis is cut)."""
    rng = np.random.default_rng(0)
    mean, std = bundle.task_policy.norm.mean.numpy(), bundle.task_policy.norm.std.numpy()
    lo, hi = np.array(list(field_bounds(spec).values())).T
    s = np.clip(rng.normal(mean, 1.5 * std, (64, len(mean))), lo, hi)
    ee = [spec.layout.index("ee_x"), spec.layout.index("ee_y")]
    ws = spec.workspace
    s[:, ee] = np.clip(s[:, ee], [ws.x[0] + 0.05, ws.y[0] + 0.05], [ws.x[1] - 0.05, ws.y[1] - 0.05])
    return s.astype(np.float32)


def proposal(ax=0.3, ay=-0.2, logp=-1.5):
    return {"task_ax": ax, "task_ay": ay, "task_logp": logp, "policy_version": 0.0}


def tick(decider, spec, state, prop=None, age=0.05, estop=False, running=True, teleop=None, now=NOW):
    return filter_tick(decider, spec, prop or proposal(), state, age, MAX_AGE, estop, running, teleop or Teleop(spec, MAX_AGE), now, 3)


def assert_holds(t, reason_part):
    assert np.all(t.velocity == 0.0)
    assert reason_part in t.hold
    assert t.record["hold"] == 1.0 and t.record["recovery"] == 0.0 and t.record["source"] == -1
    assert math.isnan(t.record["risk"]) and math.isnan(t.record["exec_logp"])


def test_record_has_every_decision_field_but_latency(bundle, spec, states):
    t = tick(Decider(bundle, "farl"), spec, states[0])
    assert set(t.record) == set(DECISION_FIELDS) - {"latency_ms"}
    assert t.record["policy_version"] == 3 and t.record["task_ax"] == pytest.approx(0.3)


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        ({"estop": True}, "e-stop"),
        ({"running": False}, "no episode"),
        ({"age": 1.0}, "old"),
        ({"age": -1.0}, "future"),
        ({"age": float("nan")}, "not readable"),
        ({"prop": proposal(ax=float("nan"))}, "proposal not available"),
        ({"prop": proposal(ax=50.0)}, "implausible proposal"),
        ({"prop": proposal(logp=float("inf"))}, "proposal not available"),
    ],
)
def test_each_check_holds_the_arm_and_says_why(bundle, spec, states, kwargs, reason):
    dec = Decider(bundle, "farl")
    assert_holds(tick(dec, spec, states[0], **kwargs), reason)


def test_estop_comes_first(bundle, spec, states):
    bad = states[0].copy()
    bad[0] = np.nan
    assert_holds(tick(Decider(bundle, "farl"), spec, bad, estop=True, running=False, age=9.0), "e-stop")


@pytest.mark.parametrize("value, reason", [(np.nan, "state not available"), (50.0, "implausible state")])
def test_an_unusable_state_holds(bundle, spec, states, value, reason):
    bad = states[0].copy()
    bad[spec.layout.index("puck_x")] = value
    assert_holds(tick(Decider(bundle, "farl"), spec, bad), reason)


def test_a_hold_does_not_advance_the_debounce(bundle, spec, states):
    dec = Decider(bundle, "farl")
    dec.debounce.confirm = 2
    dec.set_eps(0.0)
    risky = next(s for s in states if tick(Decider(bundle, "farl"), spec, s).record["risk"] > 0)
    dec.reset()
    assert tick(dec, spec, risky).record["source"] == SOURCES["task"]  # first flag: not confirmed yet
    for _ in range(3):
        tick(dec, spec, risky, estop=True)
    assert tick(dec, spec, risky).record["source"] == SOURCES["recovery"]  # second decision confirms


def test_task_action_runs_below_the_threshold(bundle, spec, states):
    dec = Decider(bundle, "farl")
    dec.set_eps(1e9)
    t = tick(dec, spec, states[0])
    assert t.hold == "" and t.record["hold"] == 0.0 and t.record["source"] == SOURCES["task"] and t.record["recovery"] == 0.0
    assert t.record["eps_safe"] == 1e9 and t.record["risk"] >= 0
    assert (t.record["exec_ax"], t.record["exec_ay"]) == pytest.approx((0.3, -0.2))
    ee = states[0][[spec.layout.index("ee_x"), spec.layout.index("ee_y")]]
    np.testing.assert_allclose(t.velocity, velocity_command(spec, np.array([0.3, -0.2]), ee))
    assert np.linalg.norm(t.velocity) > 0 and math.isfinite(t.record["exec_logp"])


def test_recovery_runs_above_the_threshold(bundle, spec, states):
    dec = Decider(bundle, "farl")
    risks = [tick(dec, spec, s).record["risk"] for s in states]
    i = int(np.argmax(risks))
    dec.set_eps(risks[i] / 2)
    t = tick(dec, spec, states[i])
    assert t.record["source"] == SOURCES["recovery"] and t.record["recovery"] == 1.0 and t.hold == ""
    with torch.no_grad():
        expected = bundle.recovery_policy.mean(torch.as_tensor(states[i][None])).numpy()[0].clip(-1, 1)
    np.testing.assert_allclose([t.record["exec_ax"], t.record["exec_ay"]], expected, atol=1e-5)


def test_unfiltered_method_runs_the_proposal_and_logs_no_threshold(bundle, spec, states):
    t = tick(Decider(bundle, "uni_o4"), spec, states[0])
    assert t.record["source"] == SOURCES["task"] and math.isnan(t.record["risk"]) and math.isnan(t.record["eps_safe"])


def test_operator_takeover_without_a_command_holds(bundle, spec, states):
    op = Teleop(spec, MAX_AGE)
    op.take_over(True)
    assert_holds(tick(Decider(bundle, "farl"), spec, states[0], teleop=op), "operator took over")


def test_operator_command_runs_instead_of_the_policy(bundle, spec, states):
    op = Teleop(spec, MAX_AGE)
    op.take_over(True)
    assert op.command([0.02, -0.01], 0.01, NOW - 0.1) == ""
    t = tick(Decider(bundle, "farl"), spec, states[0], teleop=op)
    assert t.hold == "" and t.record["source"] == SOURCES["operator"] and t.record["recovery"] == 0.0
    np.testing.assert_allclose(t.velocity, [0.02, -0.01], atol=1e-6)
    assert t.record["task_ax"] == pytest.approx(0.3)  # the proposal is still logged
    assert math.isfinite(t.record["risk"]) and math.isfinite(t.record["exec_logp"])
    # the command ages out: the arm holds
    assert_holds(tick(Decider(bundle, "farl"), spec, states[0], teleop=op, now=NOW + 1.0), "operator took over")


def test_command_stays_inside_the_workspace(bundle, spec, states):
    dec = Decider(bundle, "uni_o4")
    s = states[0].copy()
    s[spec.layout.index("ee_x")] = spec.workspace.x[1]
    t = tick(dec, spec, s, prop=proposal(ax=1.0, ay=0.0))
    assert t.velocity[0] == 0.0 and t.hold == ""

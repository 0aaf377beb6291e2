"""The switch's debounce (safety.Debounce, run by decide.Decider) and eps_safe chosen in closed
loop (learning.closed_loop): pure units, then a short real run in the simulator."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ftrl_ros.learning.bundle import load_task_bundle
from ftrl_ros.learning.closed_loop import ClosedLoopConfig, apply_choice, calibrate_closed_loop, choose, debounce_steps
from ftrl_ros.learning.decide import RECOVERY, TASK, Decider
from ftrl_ros.learning.safety import Debounce, SafetyConfig, switch
from ftrl_ros.learning.vec_env import VecTaskEnv
from ftrl_ros.tasks import get_task


def test_plain_debounce_is_the_switch():
    rng = np.random.default_rng(0)
    d = Debounce(1, 1)
    for _ in range(20):
        risk = rng.random(5)
        assert (d(switch(risk, 0.5)) == (risk > 0.5)).all()


def test_confirm_needs_consecutive_flags_per_row():
    d = Debounce(confirm=3, hold=1)
    seq = [[1, 1], [1, 0], [1, 1], [0, 1], [1, 1]]
    got = [d(np.array(f, bool)).tolist() for f in seq]
    # row 0: streak 1,2,3 -> takes over on the third, a gap ends it; row 1: the streak restarts
    # after its gap and reaches 3 only on the fifth decision
    assert got == [[False, False], [False, False], [True, False], [False, False], [False, True]]


def test_hold_keeps_the_recovery_and_reset_forgets():
    d = Debounce(confirm=1, hold=3)
    d.reset(np.array([True, False]))  # before any decision (online resets finished envs every step)
    flags = [True, False, False, False, True]
    assert [bool(d(np.array([f]))[0]) for f in flags] == [True, True, True, False, True]
    d.reset()
    assert not d(np.array([False]))[0]  # the hold of the last flag is forgotten
    d(np.array([True, True]))
    d.reset(np.array([True, False]))
    assert d(np.array([False, False])).tolist() == [False, True]


def test_bad_debounce_settings_fail_naming_the_field():
    with pytest.raises(ValueError, match="confirm_steps"):
        SafetyConfig(confirm_steps=0)
    with pytest.raises(ValueError, match="budget"):
        ClosedLoopConfig(budget=-1)


def test_debounce_seconds_convert_per_rate():
    assert debounce_steps(0.0, 0.0, 0.2) == (1, 1)
    assert debounce_steps(0.05, 0.4, 0.2) == (1, 2)  # 5 Hz: 50 ms is no whole step
    assert debounce_steps(0.05, 0.4, 1 / 80) == (5, 32)  # FailureBench, 80 Hz


def test_choice_respects_the_budget():
    rows = [
        {"eps_safe": 1.0, "eps_scale": 1.0, "failure_episodes": 0, "false_takeovers_per_episode": 3.0},
        {"eps_safe": 1.5, "eps_scale": 1.5, "failure_episodes": 2, "false_takeovers_per_episode": 0.5},
        {"eps_safe": 2.0, "eps_scale": 2.0, "failure_episodes": 2, "false_takeovers_per_episode": 0.5},
        {"eps_safe": 3.0, "eps_scale": 3.0, "failure_episodes": 4, "false_takeovers_per_episode": 0.0},
    ]
    best, ok = choose(rows, budget=1.0)
    assert ok and best["eps_safe"] == 1.5  # fewest failures within budget; tie -> nearest the offline eps
    best, ok = choose(rows, budget=5.0)
    assert ok and best["eps_safe"] == 1.0
    best, ok = choose(rows[:2], budget=0.1)
    assert not ok and best["eps_safe"] == 1.5  # none within: the fewest false takeovers


def test_decider_runs_the_bundles_debounce():
    bundle = load_task_bundle("disturbed_push")
    b = replace(bundle, safety=replace(bundle.safety, confirm_steps=2, hold_steps=1))
    dec = Decider(b, "farl")
    dec.eps_safe = -1.0  # every proposal flagged
    s = bundle.task_policy.norm.mean.numpy()[None].astype(np.float32)
    sources = [int(dec.act(s, deterministic=True)[1].source[0]) for _ in range(3)]
    assert sources == [TASK, RECOVERY, RECOVERY]
    dec.reset()
    assert int(dec.act(s, deterministic=True)[1].source[0]) == TASK


def test_closed_loop_pairs_the_twin_and_writes_the_choice():
    """A threshold no risk reaches never takes over and, sharing the twin's layouts and noise,
    reproduces the twin's failures exactly; the choice lands in the bundle."""
    task = "fragile_push_wall"
    bundle = load_task_bundle(task)
    cfg = ClosedLoopConfig(episodes=4, eps_scales=(1.0, 1e6), confirm_s=(0.0,), hold_s=(0.0,))
    with VecTaskEnv(task, 4, n_workers=1) as vec:
        res = calibrate_closed_loop(bundle, "farl", vec, get_task(task).control_dt, cfg)
    never = [r for r in res["candidates"] if r["eps_scale"] == 1e6][0]
    assert never["takeovers_per_episode"] == 0.0 and never["recovery_share"] == 0.0
    assert never["failure_episodes"] == res["twin_failure_episodes"]
    b = apply_choice(bundle, res)
    assert b.safety.eps_safe == res["chosen"]["eps_safe"] and b.metrics["closed_loop"]["farl"]["episodes"] == 4

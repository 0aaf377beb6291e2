"""The one decision path (decide.Decider): what the safety_filter node runs is what the
benchmarks measure, and PPO's data is on-policy under the default switch."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from ftrl_ros.learning.bundle import load_task_bundle
from ftrl_ros.learning.dataset import EpisodeRecorder, SOURCES
from ftrl_ros.learning.decide import RECOVERY, TASK, Decider, Proposals
from ftrl_ros.learning.methods import METHODS
from ftrl_ros.learning.ppo import PPO, PPOConfig
from ftrl_ros.learning.rollout import RolloutBuffer, from_episodes

TASK_NAME = "disturbed_push"


def _states(bundle, n: int, seed: int = 0) -> np.ndarray:
    """States around the offline data (mean +- 1.5 std), so both sources occur."""
    from ftrl_ros.control.validate import field_bounds
    from ftrl_ros.tasks import get_task

    rng = np.random.default_rng(seed)
    mean, std = bundle.task_policy.norm.mean.numpy(), bundle.task_policy.norm.std.numpy()
    lo, hi = np.array(list(field_bounds(get_task(bundle.task)).values())).T  # physically plausible only
    return np.clip(rng.normal(mean, 1.5 * std, (n, len(mean))), lo, hi).astype(np.float32)


@pytest.mark.parametrize("method", [m for m in METHODS if m != "mppi"])
def test_batch_decisions_equal_single_decisions(method):
    """The node decides one state at a time, the benchmark a batch: same numbers."""
    bundle = load_task_bundle(TASK_NAME)
    dec = Decider(bundle, method)
    s = _states(bundle, 64)
    p = dec.propose(s)
    batch = dec.decide(s, p)
    for i in range(len(s)):
        one = dec.decide(s[i : i + 1], Proposals(p.actions[i : i + 1], p.logp[i : i + 1]))
        np.testing.assert_allclose(one.executed[0], batch.executed[i], atol=1e-5)
        assert one.source[0] == batch.source[i]
        np.testing.assert_allclose(one.risk[0], batch.risk[i], atol=1e-5, equal_nan=True)
    assert np.all(np.abs(batch.executed) <= 1.0)
    if method == "farl":
        assert {TASK, RECOVERY} <= set(batch.source.tolist()), "pick states where both sources occur"


def test_critic_sees_clipped_proposals():
    bundle = load_task_bundle(TASK_NAME)
    dec = Decider(bundle, "farl")
    s = _states(bundle, 16)
    big = Proposals(np.full((16, 2), 3.0, np.float32), np.zeros(16, np.float32))
    unit = Proposals(np.ones((16, 2), np.float32), np.zeros(16, np.float32))
    np.testing.assert_allclose(dec.decide(s, big).risk, dec.decide(s, unit).risk, atol=1e-6)


def test_proposed_switch_stores_the_sample_and_its_logp():
    bundle = load_task_bundle(TASK_NAME)
    dec = Decider(bundle, "farl", learn_from="proposed", eps_safe=0.0)  # flag (almost) everything
    s = _states(bundle, 128)
    p, d = dec.act(s)
    assert (d.source == RECOVERY).mean() > 0.5
    np.testing.assert_array_equal(d.stored_action, p.actions)
    np.testing.assert_array_equal(d.stored_logp, p.logp)
    with torch.no_grad():
        again = bundle.task_policy.log_prob(torch.as_tensor(s), torch.as_tensor(d.stored_action)).numpy()
    np.testing.assert_allclose(again, d.stored_logp, atol=1e-4)  # on-policy: ratio 1 before the update


def _kl_at_start(learn_from: str) -> float:
    bundle = load_task_bundle(TASK_NAME)
    dec = Decider(bundle, "farl", learn_from=learn_from, eps_safe=0.0)
    s = _states(bundle, 256, seed=1)
    _, d = dec.act(s)
    with torch.no_grad():
        new = bundle.task_policy.log_prob(torch.as_tensor(s), torch.as_tensor(d.stored_action)).numpy()
    # the stored log-prob is what the policy had at collection; nothing changed yet, so any
    # gap is data that is not the policy's own
    log_ratio = new - d.stored_logp
    return float(np.mean(np.expm1(log_ratio) - log_ratio)), float(np.median(d.exec_logp[d.source == RECOVERY]))


def test_recovery_rows_cannot_dominate_approx_kl():
    kl_proposed, _ = _kl_at_start("proposed")
    assert kl_proposed < 1e-6
    # the paper's variant stores the recovery action with its (recomputed) log-prob: its ratio is
    # also 1 at the start, but those rows are far in the policy's tail, which the log-prob shows
    kl_exec, median_logp = _kl_at_start("executed")
    assert kl_exec < 1e-6 and median_logp < -3.0


def test_ppo_update_on_proposed_data_stays_near_policy():
    """A whole PPO update on rows that are mostly recovery steps: with proposals stored, the KL
    of the first minibatch is ~0 and the update runs more than one minibatch."""
    torch.manual_seed(0)
    bundle = load_task_bundle(TASK_NAME)
    dec = Decider(bundle, "farl", eps_safe=0.0, seed=0)
    buf = RolloutBuffer(16)
    s = _states(bundle, 16 * 20, seed=2).reshape(20, 16, -1)
    for t in range(19):
        _, d = dec.act(s[t])
        buf.add(s[t], d.stored_action, d.stored_logp, np.ones(16), np.zeros(16), s[t + 1], np.zeros(16, bool), np.zeros(16, bool))
    stats = PPO(bundle.task_policy, bundle.value, PPOConfig(value_warmup_epochs=0, lr=1e-5)).update(buf.data())
    assert stats["ppo/minibatch_steps"] > 1
    assert stats["ppo/clipfrac"] < 0.5


def test_rollout_buffer_lays_streams_out_and_cuts_them():
    buf = RolloutBuffer(2)
    for t in range(3):
        buf.add(
            np.full((2, 1), t),
            np.zeros((2, 2)),
            np.zeros(2),
            [t, 10 + t],
            np.zeros(2),
            np.full((2, 1), t + 1),
            [False, t == 1],
            [False, False],
        )
    d = buf.data()
    assert d.rewards.tolist() == [0, 1, 2, 10, 11, 12]  # env 0 then env 1
    assert d.terminated.tolist() == [False, False, False, False, True, False]
    assert d.truncated.tolist() == [False, False, True, False, False, True]  # the rollout's end: bootstrap


def test_from_episodes_uses_proposals_by_default():
    rec = EpisodeRecorder(np.zeros(3), {"task": "t", "layout": ["a", "b", "c"]})
    rec.add(
        [0.5, 0.0], np.ones(3), 1.0, 0.0, False, False, False, False, source="recovery", logp=-30.0, proposal=[0.1, 0.2], proposal_logp=0.4
    )
    rec.add([0.1, 0.0], np.ones(3) * 2, 1.0, 0.0, False, False, False, True, source="operator")
    ep = rec.finish()
    p = from_episodes([ep])
    assert p.actions[0].tolist() == pytest.approx([0.1, 0.2]) and p.logp[0] == pytest.approx(0.4)
    assert p.policy_mask.tolist() == [1.0, 0.0]  # no proposal on the operator's row
    e = from_episodes([ep], "executed")
    assert e.actions[0].tolist() == pytest.approx([0.5, 0.0]) and e.logp[0] == pytest.approx(-30.0)
    assert ep.source[1] == SOURCES["operator"]


# --- the node: the same decisions over real DDS ------------------------------------------------
def test_safety_filter_node_decides_as_the_benchmark():
    import rclpy
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Bool

    from ftrl_ros.nodes.conversions import DECISION_FIELDS, PROPOSAL_FIELDS, named_msg, named_values

    bundle = load_task_bundle(TASK_NAME)
    dec = Decider(bundle, "farl")
    s = _states(bundle, 40, seed=3)
    props = dec.propose(s)
    expected = dec.decide(s, props)
    assert {TASK, RECOVERY} <= set(expected.source.tolist())

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ftrl_ros.nodes.safety_filter",
            "--ros-args",
            "-p",
            f"task:={TASK_NAME}",
            "-p",
            "method:=farl",
            "-p",
            "max_state_age:=5.0",
            "-p",
            "autostart:=true",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("decide_probe", context=ctx)
    ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    got: dict[int, dict] = {}

    def on_decision(msg):
        fields, _ = named_values(msg, DECISION_FIELDS, bundle.layout)
        got[msg.header.stamp.nanosec] = fields

    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    node.create_subscription(JointState, "/ftrl/decision", on_decision, 100)
    running = node.create_publisher(Bool, "/ftrl/episode/running", latched)
    pub = node.create_publisher(JointState, "/ftrl/proposal", QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    running.publish(Bool(data=True))
    try:
        end = time.monotonic() + 60
        while pub.get_subscription_count() == 0 and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.05)
        assert pub.get_subscription_count() > 0, "safety_filter did not come up"
        ex.spin_once(timeout_sec=1.0)
        for i in range(len(s)):
            stamp = node.get_clock().now().to_msg()
            stamp.nanosec = i + 1  # a key to match the decision, still within max_state_age
            stamp.sec = int(time.time())
            values = [props.actions[i, 0], props.actions[i, 1], props.logp[i], 0]
            assert len(values) == len(PROPOSAL_FIELDS)
            pub.publish(named_msg(PROPOSAL_FIELDS, values, bundle.layout, s[i], stamp))
            end = time.monotonic() + 10
            while i + 1 not in got and time.monotonic() < end:
                ex.spin_once(timeout_sec=0.02)
    finally:
        ex.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        proc.terminate()
        log = proc.communicate(timeout=15)[0]
    assert len(got) == len(s), log[-2000:]
    for i in range(len(s)):
        f = got[i + 1]
        assert f["hold"] == 0.0, log[-2000:]
        assert f["exec_ax"] == pytest.approx(float(expected.executed[i, 0]), abs=1e-5)
        assert f["exec_ay"] == pytest.approx(float(expected.executed[i, 1]), abs=1e-5)
        assert int(f["source"]) == int(expected.source[i])
        assert f["risk"] == pytest.approx(float(expected.risk[i]), abs=1e-5)
        assert f["task_logp"] == pytest.approx(float(props.logp[i]), abs=1e-5)


def test_logger_reads_garbage_source_codes_without_raising():
    from ftrl_ros.control.episodes import source_name

    for code in (float("nan"), float("inf"), -1e9, 99.0):
        assert source_name({"source": code, "recovery": 1.0}) == "recovery"
        assert source_name({"source": code, "recovery": 0.0}) == "task"
    assert source_name({"source": float(SOURCES["mppi"]), "recovery": 1.0}) == "mppi"
    assert source_name({"recovery": 0.0}) == "task"  # decisions from before the source field

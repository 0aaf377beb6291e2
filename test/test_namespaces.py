"""Two stacks in two namespaces on one graph (issue 15): every topic and service name is relative,
so /a/ftrl/... and /b/ftrl/... never mix; an e-stop in one stack leaves the other running."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest


def _launch(ns: str, run_dir, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ftrl_ros.cli",
            "launch",
            "disturbed_push",
            "--namespace",
            ns,
            "--quiet",
            "--run-dir",
            str(run_dir),
            "--mode",
            "eval",
            "--set",
            f"operator_console.port={port}",
            "--set",
            "state_estimator_node.detector_threads=1",
            "--set",
            "state_estimator_node.debug_image_rate=0.0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_two_namespaced_stacks_do_not_cross_talk(tmp_path):
    import rclpy
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Bool
    from std_srvs.srv import SetBool

    stacks = {ns: _launch(ns, tmp_path / ns, port) for ns, port in (("a", 18181), ("b", 18182))}
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("ns_probe", context=ctx)
    ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    reliable = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    log: dict[str, list] = {k: [] for k in ("a/state", "b/state", "a/decision", "b/decision", "root/decision")}
    estop = {"a": None, "b": None}
    for ns in ("a", "b"):
        node.create_subscription(JointState, f"/{ns}/ftrl/state", lambda m, ns=ns: log[f"{ns}/state"].append(m), reliable)
        node.create_subscription(JointState, f"/{ns}/ftrl/decision", lambda m, ns=ns: log[f"{ns}/decision"].append(m), reliable)
        node.create_subscription(Bool, f"/{ns}/ftrl/estop/engaged", lambda m, ns=ns: estop.__setitem__(ns, m.data), latched)
    node.create_subscription(JointState, "/ftrl/decision", lambda m: log["root/decision"].append(m), reliable)

    def spin_until(done, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ex.spin_once(timeout_sec=0.02)
            if done():
                return True
        return False

    def moving(ns):
        return sum(dict(zip(m.name, m.position))["hold"] < 0.5 for m in log[f"{ns}/decision"])

    try:
        assert spin_until(lambda: moving("a") >= 5 and moving("b") >= 5, 180), (
            {k: len(v) for k, v in log.items()},
            [p.poll() for p in stacks.values()],
        )
        assert not log["root/decision"], "a namespaced stack published in the root namespace"
        stamp = lambda m: (m.header.stamp.sec, m.header.stamp.nanosec)  # noqa: E731
        for ns, other in (("a", "b"), ("b", "a")):  # each filter decides on its own camera's states only
            decided = {stamp(m) for m in log[f"{ns}/decision"]}
            assert not decided & {stamp(m) for m in log[f"{other}/state"]}
        # e-stop stack a through its own namespaced service: b keeps acting
        client = node.create_client(SetBool, "/a/ftrl/estop")
        assert client.wait_for_service(timeout_sec=20)
        future = client.call_async(SetBool.Request(data=True))
        assert spin_until(future.done, 10) and future.result().success
        assert spin_until(lambda: estop["a"] is True, 5)
        n_b = moving("b")
        n_a = len(log["a/decision"])
        spin_until(lambda: False, 4.0)
        assert estop["b"] is not True
        assert moving("b") > n_b, "stack b stopped acting when stack a's e-stop was pressed"
        after_a = log["a/decision"][n_a + 2 :]
        assert after_a and all(dict(zip(m.name, m.position))["hold"] > 0.5 for m in after_a)
        assert all(p.poll() is None for p in stacks.values())
    finally:
        ex.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        for p in stacks.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in stacks.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()

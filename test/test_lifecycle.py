"""Managed nodes over real DDS: each one driven through configure / activate / deactivate /
cleanup (and configured again) by lifecycle service calls, checked by its state, its
/diagnostics and what it publishes; a stack whose policy_server cannot configure stops at bring-up
naming it; the lifecycle manager's pause holds the arm and resume lets it move again."""

from __future__ import annotations

import signal
import subprocess
import time

import numpy as np
import pytest
from lifecycle_msgs.msg import Transition

from ftrl_ros.tools.harness import Probe, Stack, launch_command, node_command

CONFIGURE, ACTIVATE = Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE
DEACTIVATE, CLEANUP = Transition.TRANSITION_DEACTIVATE, Transition.TRANSITION_CLEANUP


class LifecycleProbe(Probe):
    """Lifecycle service clients for one node, plus its /diagnostics and one output topic."""

    def __init__(self, node_name: str, topic: str | None = None, msg_type=None):
        from diagnostic_msgs.msg import DiagnosticArray
        from lifecycle_msgs.srv import ChangeState, GetState
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        super().__init__("lifecycle_probe")
        self.change = self.node.create_client(ChangeState, f"/{node_name}/change_state")
        self.get = self.node.create_client(GetState, f"/{node_name}/get_state")
        self.name = node_name
        self.diag: list[tuple[float, str]] = []
        self.out: list[tuple[float, object]] = []
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 50)
        if topic is not None:
            self.node.create_subscription(
                msg_type,
                topic,
                lambda m: self.out.append((time.monotonic(), m)),
                QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT),
            )

    def _on_diag(self, msg) -> None:
        for s in msg.status:
            if s.name.split(":")[0] == self.name:
                self.diag.append((time.monotonic(), s.message))

    def wait_for_services(self, timeout: float) -> bool:
        """Both clients matched: get_state and change_state are separate DDS endpoints, and a
        request sent before its own service is discovered is silently dropped."""
        end = time.monotonic() + timeout
        return all(c.wait_for_service(timeout_sec=max(0.0, end - time.monotonic())) for c in (self.change, self.get))

    def state(self) -> str:
        """The node's state label. get_state is read-only, so a request whose reply got lost in
        discovery (the response writer matched late) is simply sent again."""
        from lifecycle_msgs.srv import GetState

        for _ in range(3):
            future = self.get.call_async(GetState.Request())
            if self.spin_until(future.done, 5.0):
                return future.result().current_state.label
            self.get.remove_pending_request(future)
        raise AssertionError(f"{self.name}: no answer to get_state in 3 tries")

    def transition(self, transition: int) -> bool:
        from lifecycle_msgs.srv import ChangeState

        req = ChangeState.Request()
        req.transition.id = transition
        future = self.change.call_async(req)
        assert self.spin_until(future.done, 60.0), f"{self.name}: no answer to transition {transition}"
        return future.result().success

    def says(self, text: str, since: float) -> bool:
        return any(t >= since and m.startswith(text) for t, m in self.diag)


def _outputs():
    from geometry_msgs.msg import PoseStamped, TwistStamped
    from sensor_msgs.msg import CameraInfo

    return {
        "sim_node": ("/ftrl/robot/tcp_pose", PoseStamped),
        "camera_node": ("/camera/camera/color/camera_info", CameraInfo),
        "safety_filter": ("/ftrl/cmd_vel", TwistStamped),
        "state_estimator_node": (None, None),
        "policy_server": (None, None),
    }


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    from ftrl_ros.tools.record_sim import record

    path = tmp_path_factory.mktemp("rec") / "disturbed_push.db3"
    record("disturbed_push", steps=10, seed=5, out=path)
    return path


@pytest.mark.parametrize("name", ["sim_node", "camera_node", "state_estimator_node", "policy_server", "safety_filter"])
def test_transitions_of_each_managed_node(name, recording):
    params = {"task": "disturbed_push"} if name != "camera_node" else {"playback_file": recording}
    proc = subprocess.Popen(node_command(name, params), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    topic, msg_type = _outputs()[name]
    probe = LifecycleProbe(name, topic, msg_type)
    try:
        assert probe.wait_for_services(60), "no lifecycle services"
        assert probe.state() == "unconfigured"
        probe.spin_for(1.0)
        assert not probe.out, "published before it was configured"

        t = time.monotonic()
        assert probe.transition(CONFIGURE) and probe.state() == "inactive"
        assert probe.spin_until(lambda: probe.says("inactive (configured)", t), 5), probe.diag[-3:]
        probe.spin_for(1.0)
        assert not probe.out, "an inactive node published"

        t = time.monotonic()
        assert probe.transition(ACTIVATE) and probe.state() == "active"
        assert probe.spin_until(lambda: probe.says("active", t), 5), probe.diag[-3:]
        if topic is not None and name != "safety_filter":  # self-driven outputs flow
            assert probe.spin_until(lambda: any(at >= t for at, _ in probe.out), 10), "no output while active"

        t = time.monotonic()
        assert probe.transition(DEACTIVATE) and probe.state() == "inactive"
        assert probe.spin_until(lambda: probe.says("inactive: holding", t), 5), probe.diag[-3:]
        if name == "safety_filter":  # deactivated: a zero command at once
            assert probe.spin_until(
                lambda: any(at >= t and m.twist.linear.x == 0.0 and m.twist.linear.y == 0.0 for at, m in probe.out), 5
            ), "no zero command on deactivate"
        elif topic is not None:
            probe.spin_for(0.5)  # what was in flight
            n = len(probe.out)
            probe.spin_for(1.0)
            assert len(probe.out) == n, "still publishing while inactive"

        assert probe.transition(CLEANUP) and probe.state() == "unconfigured"
        assert probe.transition(CONFIGURE) and probe.state() == "inactive"  # everything made again
        assert probe.transition(ACTIVATE) and probe.state() == "active"
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
    finally:
        probe.close()
        proc.send_signal(signal.SIGINT)
        try:
            out = proc.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate()[0]
    assert "Traceback" not in out, out[-3000:]


def test_a_node_failing_configure_stops_the_bring_up_with_its_name(tmp_path):
    sets = {"policy_server.bundle": "/nonexistent/policy.pt", "operator_console.port": 0}
    out = subprocess.run(launch_command(run_dir=tmp_path, sets=sets, quiet=False, duration=90), capture_output=True, text=True, timeout=150)
    text = out.stdout + out.stderr
    assert out.returncode != 0, text[-3000:]
    assert "bring-up stopped: policy_server failed to configure" in text, text[-3000:]
    assert "critical node lifecycle_manager exited" in text, text[-3000:]
    # the nodes it had brought up were taken down again (cleaned up), the one after it never configured
    assert "cleaned up" in (tmp_path / "logs" / "sim_node.log").read_text()
    assert "configured" not in (tmp_path / "logs" / "safety_filter.log").read_text()


@pytest.mark.slow
def test_pause_holds_the_arm_and_resume_lets_it_move(tmp_path):
    from geometry_msgs.msg import TwistStamped
    from std_srvs.srv import Trigger

    stack = Stack(tmp_path, sets={"operator_console.port": 0, "ppo_learner.mode": "eval"}).start()
    probe = LifecycleProbe("safety_filter", "/ftrl/robot/tcp_twist", TwistStamped)
    pause = probe.node.create_client(Trigger, "/lifecycle_manager/pause")
    resume = probe.node.create_client(Trigger, "/lifecycle_manager/resume")

    def call(client) -> tuple[bool, str]:
        response = probe.call(client, Trigger.Request(), 60)
        assert response is not None
        return response.success, response.message

    def speed_since(t: float) -> list[float]:
        return [float(np.hypot(m.twist.linear.x, m.twist.linear.y)) for at, m in probe.out if at >= t]

    try:
        assert pause.wait_for_service(timeout_sec=60)
        assert probe.spin_until(lambda: max(speed_since(time.monotonic() - 1.0), default=0.0) > 0.02, 90), "never moved"
        ok, message = call(pause)
        assert ok and probe.state() == "inactive", message
        t = time.monotonic()
        probe.spin_for(2.0)  # (the sim's physics pauses with it: no twist, or a zero one)
        assert max(speed_since(t + 1.0), default=0.0) < 0.002, "the arm moved while paused"
        ok, message = call(resume)
        assert ok and probe.state() == "active", message
        assert probe.spin_until(lambda: max(speed_since(time.monotonic() - 1.0), default=0.0) > 0.02, 60), "did not move again after resume"
        assert stack.alive
    finally:
        probe.close()
        stack.stop()


def test_composed_layout_runs_the_stack(tmp_path):
    """--layout composed: the estimator, policy server and safety filter as three nodes in one
    process; the manager brings them up by their own names and episodes are decided and logged."""
    sets = {"operator_console.port": 0, "episode_manager.max_episode_steps": 10}
    out = subprocess.run(
        launch_command(run_dir=tmp_path, sets=sets, layout="composed", duration=40), capture_output=True, text=True, timeout=120
    )
    assert "perception_control" in out.stdout and "critical node" not in out.stdout, out.stdout[-3000:]
    manager = (tmp_path / "logs" / "lifecycle_manager.log").read_text()
    assert "all 4 managed nodes active: sim_node, state_estimator_node, policy_server, safety_filter" in manager
    assert not (tmp_path / "logs" / "policy_server.log").exists()  # no process of its own
    assert list((tmp_path / "episodes").glob("ep_*.npz")), "no episode logged"


def test_garbage_transitions_are_refused_and_change_nothing():
    """rclpy raises out of change_state on a transition the state machine does not know: any
    process on the graph could end a critical node (and so the stack) that way."""
    proc = subprocess.Popen(
        node_command("policy_server", {"task": "disturbed_push", "autostart": True}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    probe = LifecycleProbe("policy_server")
    try:
        assert probe.wait_for_services(60)
        assert probe.spin_until(lambda: probe.state() == "active", 30)
        for transition in (99, 255, CONFIGURE, CLEANUP):  # unknown ids, and ones not allowed from active
            assert not probe.transition(transition)
            assert probe.state() == "active" and proc.poll() is None
    finally:
        probe.close()
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=20)[0]
    assert "Traceback" not in out, out[-3000:]

"""safety_filter: the last node before the arm.

For each proposal it calls ``decide.Decider`` -- the same code every benchmark measures: with
``method`` farl it evaluates C_H (the world model rolled H steps ahead under the task policy,
Eq. 11) and executes the task action if C_H <= eps_safe, else the recovery action (Eq. 12);
recovery_rl and mppi are the paper's ablations; uni_o4, ppo_lagrangian and p3o run every
proposal unfiltered. The executed action becomes a TCP velocity within the task's speed limit and workspace on
/ftrl/cmd_vel; every tick gets a /ftrl/decision (risk, threshold, source, latency, the state).

It holds the arm still (zero command, `hold` = 1 in the decision, the reason on
/ftrl/safety/status) when the state has NaN/stale fields, is too old, no episode is running, or
the e-stop is engaged. The e-stop service (/ftrl/estop, SetBool) sends the zero command from the
service call itself, not at the next tick, and it stays until released. A watchdog sends zero
when proposals stop coming.

Operator takeover (control/teleop.py): while /ftrl/teleop/active is true, the operator's
/ftrl/teleop/cmd_vel runs instead of the policy (same holds, same limits), logged with source
``operator``; without a fresh teleop command the arm holds.
"""

from __future__ import annotations

import sys
import time

import torch
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import TwistStamped
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool

from ..control import validate
from ..control.filter_tick import filter_tick
from ..control.teleop import Teleop
from ..learning.bundle import load_task_bundle
from ..learning.decide import Decider
from ..tasks import get_task
from .conversions import DECISION_FIELDS, PROPOSAL_FIELDS, hops_of, named_msg, named_values, since_stamp_s
from . import topics
from .diagnostics import StatusPublisher
from .policy_updates import PolicyUpdates
from .lifecycle import AUTOSTART, ManagedNode
from .params import Param, base_frame_param, declare, learn_from_param, method_param, task_param
from .runner import run_node


PARAMS = [
    task_param("task"),
    base_frame_param(),
    Param("run_dir", "runs/ros", "new policy versions are accepted from <run_dir>/checkpoints/ and models/ only", read_only=True),
    Param("bundle", "", "offline bundle with the world model ('' = models/<task>.pt)", read_only=True),
    method_param("the filter of decide.Decider"),
    learn_from_param(),
    Param("eps_safe", -1.0, "risk threshold; < 0 = the calibrated one in the bundle", range=(-1.0, 10.0)),
    Param("max_state_age", 0.4, "hold still when the state is older than this, s (two 5 Hz periods)", range=(0.01, 5.0)),
    AUTOSTART,
]


class SafetyFilterNode(ManagedNode):
    def __init__(self):
        super().__init__("safety_filter")
        self.p = declare(self, PARAMS, {"eps_safe": lambda v: self._set_eps(v)})

    def configure_node(self) -> None:
        p = self.p
        torch.set_num_threads(1)
        bundle = load_task_bundle(p["task"], p["bundle"])
        self.spec = get_task(p["task"])
        self.names = list(bundle.layout)
        self.decider = Decider(bundle, p["method"], p["learn_from"], eps_safe=p["eps_safe"], seed=0)
        self.policy = bundle.task_policy.eval()
        self.estop = False
        self.running = False
        self.last_proposal = time.monotonic()
        self.watchdog_fired = False
        self.last_reason: str | None = None

        self.pub_cmd = topics.publisher(self, topics.CMD_VEL)
        self.pub_decision = topics.publisher(self, topics.DECISION)
        self.pub_status = StatusPublisher(self, topics.SAFETY_STATUS)  # + /diagnostics
        self.pub_estop = topics.publisher(self, topics.ESTOP_ENGAGED)
        topics.subscribe(self, topics.PROPOSAL, self._on_proposal)
        # states too, only to tell a hung policy_server from a silent state estimator
        self.last_state = -1e9  # none yet
        topics.subscribe(self, topics.STATE, self._on_state)
        topics.subscribe(self, topics.EPISODE_RUNNING, self._on_running)
        self.updates = PolicyUpdates(self, p["task"], self.names, bundle.version, p["run_dir"])
        topics.service(self, topics.ESTOP, self._on_estop)
        self.teleop = Teleop(self.spec, p["max_state_age"])
        topics.subscribe(self, topics.TELEOP_CMD, self._on_teleop)
        topics.subscribe(self, topics.TELEOP_ACTIVE, self._on_take_over)
        self.create_timer(0.05, self._watchdog)
        self.pub_estop.publish(Bool(data=False))
        self._status("holding: no episode running yet", DiagnosticStatus.WARN)
        self.get_logger().info(
            f"{p['task']}: method {self.decider.method}, eps_safe {self.decider.threshold:.3f}, learning from {p['learn_from']}, "
            f"horizon {bundle.safety.horizon}, policy version {bundle.version}"
        )

    def hold(self) -> None:
        """Deactivated: a zero command at once; no decision runs until activated again."""
        self._zero()
        self._status("holding: inactive (lifecycle)", DiagnosticStatus.WARN)

    def _set_eps(self, value: float) -> None:
        """eps_safe at run time (< 0: the bundle's calibrated value); the next decision uses it."""
        if hasattr(self, "decider"):  # else not configured yet: configure reads the parameter
            self.decider.set_eps(value)

    # --- operator and episode inputs --------------------------------------------------------
    def _zero(self, stamp=None) -> None:
        msg = TwistStamped()
        msg.header.stamp = stamp or self.get_clock().now().to_msg()
        msg.header.frame_id = self.p["base_frame"]
        self.pub_cmd.publish(msg)

    def _on_estop(self, request, response):
        self.estop = bool(request.data)
        if self.estop:
            self._zero()  # at once, from the service call
        self.pub_estop.publish(Bool(data=self.estop))
        response.success = True
        response.message = "e-stop engaged: arm held still" if self.estop else "e-stop released"
        if self.estop:
            self.get_logger().warn(response.message)
        else:
            self.get_logger().info(response.message)
        return response

    def _on_running(self, msg: Bool) -> None:
        was, self.running = self.running, bool(msg.data)
        if self.running and not was:
            self.decider.reset()  # a new episode: the switch's debounce forgets the last one
        if not self.running:
            self._zero()

    def _on_teleop(self, msg: TwistStamped) -> None:
        age = since_stamp_s(self, msg.header.stamp)
        problem = self.teleop.command([msg.twist.linear.x, msg.twist.linear.y], age, time.monotonic())
        if problem:
            self.get_logger().error(f"{topics.resolved(self, topics.TELEOP_CMD)} rejected: {problem}", throttle_duration_sec=2.0)

    def _on_take_over(self, msg: Bool) -> None:
        if bool(msg.data) != self.teleop.active:
            self.get_logger().warn("operator took over" if msg.data else "operator handed back to the policy")
        self.teleop.take_over(bool(msg.data))

    # --- the decision ----------------------------------------------------------------------
    def _on_proposal(self, msg: JointState) -> None:
        t0 = time.perf_counter()
        weights = self.updates.take()
        if weights is not None:  # the critic's rollouts use the current task policy
            self.policy.load_state_dict(weights)
        try:
            fields, state = named_values(msg, PROPOSAL_FIELDS, self.names)
        except validate.InputError as exc:  # not a proposal: nothing to decide, the watchdog holds
            self.get_logger().error(f"{topics.resolved(self, topics.PROPOSAL)} ignored: {exc}", throttle_duration_sec=5.0)
            return
        self.last_proposal, self.watchdog_fired = time.monotonic(), False
        tick = filter_tick(
            self.decider,
            self.spec,
            fields,
            state,
            since_stamp_s(self, msg.header.stamp),
            self.p["max_state_age"],
            self.estop,
            self.running,
            self.teleop,
            time.monotonic(),
            self.updates.version,
        )
        cmd = TwistStamped()
        issued = self.get_clock().now()
        cmd.header.stamp, cmd.header.frame_id = issued.to_msg(), self.p["base_frame"]  # when issued: monotonic
        if not self.estop and self.running:  # (an e-stop may have come in while deciding)
            cmd.twist.linear.x, cmd.twist.linear.y = float(tick.velocity[0]), float(tick.velocity[1])
        self.pub_cmd.publish(cmd)
        record = {**tick.record, "latency_ms": (time.perf_counter() - t0) * 1000}
        # decided = when the command went out: its stamp is the camera stamp + t.decided_ms exactly
        camera_ns = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        hops = {**hops_of(msg.name, msg.position), "t.decided_ms": (issued.nanoseconds - camera_ns) / 1e6}
        values = [record[f] for f in DECISION_FIELDS]
        self.pub_decision.publish(named_msg(DECISION_FIELDS, values, self.names, state, msg.header.stamp, self.p["base_frame"], hops=hops))
        if tick.hold:
            self._status(f"holding: {tick.hold}", DiagnosticStatus.WARN)
        else:
            self._status("ok", DiagnosticStatus.OK)

    def _on_state(self, msg: JointState) -> None:
        self.last_state = time.monotonic()

    def _watchdog(self) -> None:
        now = time.monotonic()
        if now - self.last_proposal <= self.p["max_state_age"]:
            return
        if not self.watchdog_fired:
            self.watchdog_fired = True
            self._zero()
        # states that came after the last proposal went unanswered: the policy server is the one.
        # Checked on every tick of the hold, not once: on a loaded machine the state may be late
        # at the moment the watchdog fires and arrive a tick later, which names the policy server
        culprit = (
            "policy_server is not producing (hung or dead?)"
            if self.last_state > self.last_proposal
            else "no state either: state_estimator (or the camera/robot) is silent"
        )
        self._status(f"holding: no proposal for {self.p['max_state_age']:.2f} s; {culprit}", DiagnosticStatus.ERROR)

    def _status(self, message: str, level: bytes) -> None:
        if message == self.last_reason:
            return
        self.last_reason = message
        if level == DiagnosticStatus.OK:
            self.get_logger().info(f"safety: {message}")
        else:
            self.get_logger().warn(f"safety: {message}")
        self.pub_status.publish(DiagnosticStatus(level=level, name="ftrl/safety", message=message, hardware_id=self.p["task"]))


def main(args=None) -> int:
    return run_node(SafetyFilterNode, args)


if __name__ == "__main__":
    sys.exit(main())

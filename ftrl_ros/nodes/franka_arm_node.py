"""franka_arm_node: the real Franka arm (libfranka through pylibfranka) on the stack's topics.

Same contract as sim_node's robot side: follows /ftrl/cmd_vel (planar TCP velocity, base frame;
height and orientation held) and publishes /ftrl/robot/tcp_pose, /ftrl/robot/tcp_twist (velocity
over the last control period, as the learning state defines ee_v) and /joint_states. The 1 kHz
loop, stops and error handling live in ftrl_ros/robot/franka_driver.py; this node validates what
arrives and moves it in and out:

- a command is used only if finite, within the task's speed and not older than
  ``command_timeout``; anything else makes the arm stop (smoothly) and says why;
- /ftrl/estop/engaged -> stop at once, motion refused until released;
- a libfranka error (reflex, communication) -> the arm is still, ERROR on /ftrl/arm/status and
  /diagnostics; /ftrl/robot/recover runs automatic error recovery, and the arm moves again only
  for a command received after it;
- /ftrl/robot/home -> joint-space move to the task's start pose (``home_xy`` at the TCP height
  above ``table_z``, hand down).
"""

from __future__ import annotations

import sys
from collections import deque

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool

from ..control import validate
from ..robot.franka_driver import CollisionThresholds, FrankaDriver
from ..robot.kinematics import inverse, quaternion
from ..robot.motion import ArmLimits
from ..tasks import get_task
from ..tasks.spec import TCP_HEIGHT
from . import topics
from .conversions import since_stamp_s
from .lifecycle import AUTOSTART, ManagedNode
from .params import Param, declare, task_param
from .runner import run_node

_DEFAULT_COLLISION = CollisionThresholds()


def _numbers(n: int, lo: float, hi: float):
    def check(v) -> str | None:
        v = list(v)
        if len(v) != n or not all(isinstance(x, (int, float)) and lo <= x <= hi for x in v):
            return f"expected {n} numbers in [{lo}, {hi}], got {v}"
        return None

    return check


PARAMS = [
    task_param("task (workspace box, speed limit, home pose)"),
    Param("robot_ip", "172.16.0.2", "IP of the robot's control unit (FCI)", read_only=True),
    Param(
        "realtime",
        True,
        "enforce libfranka's real-time requirement (a PREEMPT_RT kernel); false for franky-sim or a quick try on a normal kernel",
        read_only=True,
    ),
    Param("command_timeout", 0.4, "stop smoothly when the last command is older than this, s (two 5 Hz periods)", range=(0.05, 2.0)),
    Param("max_acc", 1.5, "TCP acceleration while tracking commands and for smooth stops, m/s^2", read_only=True, range=(0.05, 13.0)),
    Param("max_jerk", 40.0, "TCP jerk while tracking, m/s^3", read_only=True, range=(1.0, 6500.0)),
    Param("stop_acc", 4.0, "TCP deceleration on e-stop, m/s^2", read_only=True, range=(0.1, 13.0)),
    Param("stop_jerk", 400.0, "TCP jerk on e-stop, m/s^3", read_only=True, range=(1.0, 6500.0)),
    Param("box_margin", 0.0, "the task's workspace box is enforced this far inside it, m", read_only=True, range=(0.0, 0.099)),
    Param(
        "lower_torque_thresholds",
        list(_DEFAULT_COLLISION.lower_torque),
        "joint torques above which a contact is flagged, Nm (7)",
        read_only=True,
        check=_numbers(7, 0.1, 200.0),
    ),
    Param(
        "upper_torque_thresholds",
        list(_DEFAULT_COLLISION.upper_torque),
        "joint torques above which a reflex stops the arm, Nm (7)",
        read_only=True,
        check=_numbers(7, 0.1, 200.0),
    ),
    Param(
        "lower_force_thresholds",
        list(_DEFAULT_COLLISION.lower_force),
        "end-effector wrench above which a contact is flagged, N / Nm (6)",
        read_only=True,
        check=_numbers(6, 0.1, 200.0),
    ),
    Param(
        "upper_force_thresholds",
        list(_DEFAULT_COLLISION.upper_force),
        "end-effector wrench above which a reflex stops the arm, N / Nm (6)",
        read_only=True,
        check=_numbers(6, 0.1, 200.0),
    ),
    Param(
        "table_z",
        0.0,
        "height of the table top in the robot base frame, m (0: the arm stands on the table)",
        read_only=True,
        range=(-0.5, 0.5),
    ),
    Param("home_xy", [0.38, 0.0], "TCP position (x, y) that /ftrl/robot/home moves to, base frame, m", check=_numbers(2, -1.0, 1.0)),
    Param("home_joint_speed", 0.5, "peak joint speed while homing, rad/s", range=(0.05, 2.0)),
    Param("state_rate", 50.0, "rate of tcp_pose, tcp_twist and joint_states, Hz", read_only=True, range=(5.0, 500.0)),
    Param(
        "control_period",
        0.2,
        "the stack's control period, s: tcp_twist is the mean velocity over it (the learning state's ee_v)",
        read_only=True,
        range=(0.02, 1.0),
    ),
    Param("arm_id", "panda", "joint name prefix in /joint_states (panda, fr3)", read_only=True),
    Param("base_frame", "base", "frame of tcp_pose / tcp_twist", read_only=True),
    AUTOSTART,
]

LEVELS = {
    "idle": DiagnosticStatus.OK,
    "moving": DiagnosticStatus.OK,
    "holding": DiagnosticStatus.OK,
    "homing": DiagnosticStatus.OK,
    "estop": DiagnosticStatus.WARN,
    "error": DiagnosticStatus.ERROR,
    "disconnected": DiagnosticStatus.ERROR,
}


def loop_figures(driver: FrankaDriver) -> dict[str, str]:
    """The loop's timing over the last minute, and how late commands reach this node
    (``ftrl bench-arm`` reads these from /diagnostics)."""
    out = dict(driver.figures)
    lat = np.array(driver.latency_receive, float) * 1e3
    if len(lat):
        out.update({"cmd_to_receive_p50_ms": f"{np.percentile(lat, 50):.2f}", "cmd_to_receive_p99_ms": f"{np.percentile(lat, 99):.2f}"})
    return out


class FrankaArmNode(ManagedNode):
    """configure connects to the robot (its loop holds the arm), activate lets /ftrl/cmd_vel and
    homing move it, deactivate stops it smoothly; the e-stop, the robot's state and its health
    report work in every configured state."""

    def __init__(self):
        super().__init__("franka_arm_node")
        self.p = declare(self, PARAMS)
        self.publishes_diagnostics = True  # its own array (status + loop figures); runner adds none

    def configure_node(self) -> None:
        p = self.p
        self.spec = get_task(p["task"])
        limits = ArmLimits(
            max_speed=self.spec.max_speed,
            max_acc=p["max_acc"],
            max_jerk=p["max_jerk"],
            stop_acc=p["stop_acc"],
            stop_jerk=p["stop_jerk"],
            box_margin=p["box_margin"],
        )
        collision = CollisionThresholds(
            tuple(p["lower_torque_thresholds"]),
            tuple(p["upper_torque_thresholds"]),
            tuple(p["lower_force_thresholds"]),
            tuple(p["upper_force_thresholds"]),
        )
        self.tcp_z = p["table_z"] + TCP_HEIGHT
        self.pub_pose = topics.publisher(self, topics.TCP_POSE)
        self.pub_twist = topics.publisher(self, topics.TCP_TWIST)
        self.pub_joints = topics.publisher(self, topics.JOINT_STATES)
        self.pub_status = topics.publisher(self, topics.ARM_STATUS)
        self.pub_diag = topics.publisher(self, topics.DIAGNOSTICS)
        self.driver = FrankaDriver(
            p["robot_ip"], self.spec.workspace, limits, p["command_timeout"], collision, realtime=p["realtime"]
        )  # bad limits or thresholds: ValueError naming them
        try:
            self.driver.start()
        except RuntimeError as exc:  # libfranka's NetworkException, IncompatibleVersion, ... in the loop process
            raise ValueError(f"cannot connect to the robot at {p['robot_ip']}: {exc}") from None
        self.history: deque[tuple[float, np.ndarray]] = deque()
        topics.subscribe(self, topics.CMD_VEL, self._on_command)
        topics.subscribe(self, topics.ESTOP_ENGAGED, self._on_estop)
        slow = MutuallyExclusiveCallbackGroup()  # homing blocks for seconds: not on the publishers' thread
        topics.service(self, topics.HOME, self._on_home, callback_group=slow)
        topics.service(self, topics.RECOVER, self._on_recover, callback_group=slow)
        with self.ungated():  # the robot's state and health are reported in every state
            self.create_timer(1.0 / p["state_rate"], self._publish_state)
            self.create_timer(1.0, self._publish_diagnostics)
        self.get_logger().info(
            f"{p['task']}: connected to {p['robot_ip']} (realtime {p['realtime']}), "
            f"workspace x {self.spec.workspace.x} y {self.spec.workspace.y} m, "
            f"max speed {self.spec.max_speed} m/s; holding until the first command"
        )

    # --- inputs ----------------------------------------------------------------------------
    def _on_command(self, msg: TwistStamped) -> None:
        try:
            v = np.array([msg.twist.linear.x, msg.twist.linear.y], np.float64)
            age = since_stamp_s(self, msg.header.stamp)
        except (ValueError, TypeError, OverflowError) as exc:
            problem = f"unreadable: {exc}"
        else:
            problem = validate.command_problem(v, self.spec.max_speed) or validate.stamp_problem(age, self.p["command_timeout"], "command")
        if problem:
            self.driver.set_command(np.zeros(2))  # stop smoothly, never follow it
            self.get_logger().error(f"{topics.resolved(self, topics.CMD_VEL)} rejected, stopping: {problem}", throttle_duration_sec=2.0)
            return
        self.driver.set_command(v, rclpy.time.Time.from_msg(msg.header.stamp).nanoseconds * 1e-9)

    def _on_estop(self, msg: Bool) -> None:
        self.driver.set_estop(bool(msg.data))

    def hold(self) -> None:
        if hasattr(self, "driver"):
            self.driver.set_command(np.zeros(2))  # a smooth stop within libfranka's limits

    def cleanup_node(self) -> None:
        if hasattr(self, "driver"):
            self.driver.close()
            del self.driver

    def _on_home(self, request, response):
        if not self.active:
            response.success, response.message = False, "franka_arm_node is not active (lifecycle): no motion"
            return response
        try:
            q = inverse(np.array([*self.p["home_xy"], self.tcp_z]))
        except ValueError as exc:
            response.success, response.message = False, f"home pose unreachable: {exc}"
            return response
        xy = np.asarray(self.p["home_xy"], float)
        if not np.array_equal(self.spec.workspace.clip(xy), xy):
            response.success, response.message = False, f"home_xy {xy.tolist()} is outside the workspace box"
            return response
        response.success, response.message = self.driver.home(q, self.p["home_joint_speed"])
        self.history.clear()
        return response

    def _on_recover(self, request, response):
        response.success, response.message = self.driver.recover()
        return response

    # --- outputs ---------------------------------------------------------------------------
    def _publish_state(self) -> None:
        if not self.driver.alive():
            # the arm is uncontrolled (libfranka stops it on the lost connection): a critical
            # node exits so the launch takes the stack down
            self.get_logger().fatal("the driver process died: the arm is not under control; exiting")
            raise SystemExit(1)
        for mode, message in self.driver.events():
            if mode == "error":  # (rclpy: one severity per logging call site)
                self.get_logger().error(f"arm {mode}: {message}")
            else:
                self.get_logger().info(f"arm {mode}: {message}")
            self.pub_status.publish(
                DiagnosticStatus(level=LEVELS[mode], name="ftrl/arm", message=f"{mode}: {message}", hardware_id=self.p["robot_ip"])
            )
        s = self.driver.state()
        if s.stamp == 0.0:
            return
        stamp = self.get_clock().now()
        header_stamp = stamp.to_msg()
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = header_stamp, self.p["base_frame"]
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = (float(v) for v in s.tcp[:3, 3])
        qx, qy, qz, qw = quaternion(s.tcp[:3, :3])
        pose.pose.orientation.x, pose.pose.orientation.y = float(qx), float(qy)
        pose.pose.orientation.z, pose.pose.orientation.w = float(qz), float(qw)
        self.pub_pose.publish(pose)
        # velocity over the last control period, as sim_node and the learning state define ee_v
        t = stamp.nanoseconds * 1e-9
        self.history.append((t, s.tcp[:2, 3].copy()))
        while len(self.history) > 2 and t - self.history[1][0] >= self.p["control_period"]:
            self.history.popleft()
        (t0, p0), (t1, p1) = self.history[0], self.history[-1]
        v = (p1 - p0) / (t1 - t0) if t1 > t0 else np.zeros(2)
        twist = TwistStamped()
        twist.header = pose.header
        twist.twist.linear.x, twist.twist.linear.y = float(v[0]), float(v[1])
        self.pub_twist.publish(twist)
        joints = JointState()
        joints.header.stamp = header_stamp
        joints.name = [f"{self.p['arm_id']}_joint{i}" for i in range(1, 8)]
        joints.position, joints.velocity = s.q.tolist(), s.dq.tolist()
        self.pub_joints.publish(joints)

    def _publish_diagnostics(self) -> None:
        s = self.driver.state()
        values = {"mode": s.mode, "robot_ip": self.p["robot_ip"], **loop_figures(self.driver)}
        last = getattr(self, "_last_clock", None)
        if last is not None and s.stamp > last[1]:
            # robot seconds per wall second: 1 on a real arm; below 1 when a simulator lags
            values["robot_time_factor"] = f"{(s.robot_time - last[0]) / (s.stamp - last[1]):.3f}"
        self._last_clock = (s.robot_time, s.stamp)
        status = DiagnosticStatus(
            level=LEVELS[s.mode],
            name=f"{self.get_name()}: arm",
            message=s.message,
            hardware_id=self.p["robot_ip"],
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
        )
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [status]
        self.pub_diag.publish(array)

    def destroy_node(self):
        self.cleanup_node()  # the loop brakes to a stop and ends the libfranka motion first
        return super().destroy_node()


def main(args=None) -> int:
    return run_node(FrankaArmNode, args, threads=2)


if __name__ == "__main__":
    sys.exit(main())

"""A ROS probe for the operator console's checks: records the commands the arm gets, its poses,
the decisions and the e-stop state, each with its arrival time, from a thread of its own.

Used by ``ftrl bench-console`` and by the browser test, so the latency the benchmark reports and
the behaviour the test checks come from the same measurement."""

from __future__ import annotations

import math
import threading
import time


class ConsoleProbe:
    """Subscribes (reliable, deep queues) to /ftrl/cmd_vel, /ftrl/robot/tcp_pose, /ftrl/decision
    and the latched /ftrl/estop/engaged; ``log[name]`` holds ``(arrival wall time, message)``."""

    def __init__(self, namespace: str = "/ftrl"):
        import rclpy
        from geometry_msgs.msg import PoseStamped, TwistStamped
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Bool

        from ..nodes import qos

        self.rclpy = rclpy
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.node = rclpy.create_node("console_probe", context=self.ctx)
        deep = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
        self.log: dict[str, list] = {"cmd": [], "pose": [], "decision": [], "estop": []}

        def keep(name: str, value=lambda m: m):
            return lambda m: self.log[name].append((time.time(), value(m)))

        self.node.create_subscription(Bool, f"{namespace}/estop/engaged", keep("estop", lambda m: m.data), qos.LATCHED)
        self.node.create_subscription(TwistStamped, f"{namespace}/cmd_vel", keep("cmd"), deep)
        self.node.create_subscription(PoseStamped, f"{namespace}/robot/tcp_pose", keep("pose"), deep)
        self.node.create_subscription(JointState, f"{namespace}/decision", keep("decision"), deep)
        self.ex = rclpy.executors.SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.node)
        self.running = True
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        while self.running:
            self.ex.spin_once(timeout_sec=0.01)

    def moving(self) -> bool:
        """The last two commands moved the arm (so the next zero is the e-stop's, not a hold's)."""
        last = self.log["cmd"][-2:]
        return len(last) == 2 and all(math.hypot(m.twist.linear.x, m.twist.linear.y) > 0.01 for _, m in last)

    def zero_after(self, t: float) -> float | None:
        """Stamp of the first zero command stamped at or after wall time ``t`` (None: none yet)."""
        for _, m in self.log["cmd"]:
            stamp = m.header.stamp.sec + m.header.stamp.nanosec * 1e-9
            if stamp >= t and m.twist.linear.x == 0.0 and m.twist.linear.y == 0.0:
                return stamp
        return None

    def engaged_after(self, t: float) -> float | None:
        """Arrival time of the first ``/ftrl/estop/engaged = true`` at or after ``t``."""
        return next((at for at, on in self.log["estop"] if at >= t and on), None)

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=2)
        self.ex.shutdown()
        self.node.destroy_node()
        self.rclpy.shutdown(context=self.ctx)


def wait_for(cond, timeout: float, step: float = 0.02) -> bool:
    """Poll ``cond`` until it holds or ``timeout`` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return False

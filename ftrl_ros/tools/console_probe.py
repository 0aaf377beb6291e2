"""A ROS probe for the operator console's checks: records the commands the arm gets, its poses,
the decisions and the e-stop state, each with its arrival time, from a thread of its own.

Used by ``ftrl bench-console`` and by the browser test, so the latency the benchmark reports and
the behaviour the test checks come from the same measurement."""

from __future__ import annotations

import math
import time

from .harness import Probe, wait_for

__all__ = ["ConsoleProbe", "wait_for"]


class ConsoleProbe(Probe):
    """Listens (reliable, deep queues) to the commands, TCP poses, decisions and the latched
    e-stop state of the stack in ``namespace``; ``log[name]`` holds ``(arrival wall time, message)``."""

    def __init__(self, namespace: str = ""):
        from ..nodes import topics

        super().__init__("console_probe", namespace, clock=time.time)
        self.log: dict[str, list] = {
            "estop": self.listen(topics.ESTOP_ENGAGED),
            "cmd": self.listen(topics.CMD_VEL),
            "pose": self.listen(topics.TCP_POSE),
            "decision": self.listen(topics.DECISION),
        }
        self.spin_in_background()

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
        """Arrival time of the first "e-stop engaged = true" at or after ``t``."""
        return next((at for at, m in self.log["estop"] if at >= t and m.data), None)

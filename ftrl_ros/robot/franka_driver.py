"""The Franka arm through libfranka (pylibfranka, Franka Robotics' own bindings), without ROS.

:class:`FrankaDriver` starts the 1 kHz loop (:mod:`.arm_loop`) in a process of its own and talks
to it through shared memory: ``set_command`` / ``set_estop`` go in, ``state()`` comes out, mode
changes and timing figures arrive as events; ``home`` and ``recover`` are requests. The loop
stops smoothly when the command goes stale, at once on e-stop, and leaves the robot still on any
libfranka error until ``recover`` -- after which only a new command moves it.
``ftrl_ros.nodes.franka_arm_node`` wraps this in ROS; its tests and ``ftrl bench-arm`` run it
against franky-sim, which speaks the same network protocol.

Why pylibfranka rather than franky-control: the stack needs its own loop (stale-command stop,
robot-side workspace box, e-stop deceleration, no silent resume after an error), which is what
libfranka's active-control API gives; franky plans whole motions (Ruckig) and would hide those
decisions inside its C++ loop.
"""

from __future__ import annotations

from typing import Any

import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from ..tasks.spec import Workspace
from . import arm_loop
from .arm_loop import MODES, ST_CMD, ST_DQ, ST_MODE, ST_Q, ST_RTIME, ST_STAMP, ST_TCP, Shared
from .kinematics import DQ_MAX, Q_MAX, Q_MIN
from .motion import ArmLimits


@dataclass(frozen=True)
class CollisionThresholds:
    """libfranka ``set_collision_behavior``: above ``upper`` a reflex stops the arm (an error);
    between ``lower`` and ``upper`` a contact is only flagged. Defaults: a pushing task touches
    objects on purpose, so contacts are flagged early and reflexes come at firm pushes."""

    lower_torque: tuple[float, ...] = (20.0, 20.0, 18.0, 18.0, 16.0, 14.0, 12.0)
    """Nm, joints 1-7."""
    upper_torque: tuple[float, ...] = (40.0, 40.0, 36.0, 36.0, 32.0, 28.0, 24.0)
    lower_force: tuple[float, ...] = (20.0, 20.0, 20.0, 25.0, 25.0, 25.0)
    """N (x, y, z) and Nm (about x, y, z) at the end effector."""
    upper_force: tuple[float, ...] = (40.0, 40.0, 40.0, 50.0, 50.0, 50.0)

    def problems(self) -> list[str]:
        out = []
        for name, n in (("lower_torque", 7), ("upper_torque", 7), ("lower_force", 6), ("upper_force", 6)):
            v = np.asarray(getattr(self, name), float)
            if v.shape != (n,) or not np.all(np.isfinite(v)) or np.any(v <= 0) or np.any(v > 200):
                out.append(f"collision {name} must be {n} numbers in (0, 200], got {list(getattr(self, name))}")
        for lo, hi in (("lower_torque", "upper_torque"), ("lower_force", "upper_force")):
            if not out and np.any(np.asarray(getattr(self, lo)) > np.asarray(getattr(self, hi))):
                out.append(f"collision {lo} must not exceed {hi}")
        return out


@dataclass
class ArmState:
    """A snapshot of the arm for publishers (copied out of shared memory under its lock)."""

    mode: str = "disconnected"
    message: str = "not connected"
    q: np.ndarray = field(default_factory=lambda: np.zeros(7))
    dq: np.ndarray = field(default_factory=lambda: np.zeros(7))
    tcp: np.ndarray = field(default_factory=lambda: np.eye(4))
    """O_T_EE, 4x4."""
    commanded: np.ndarray = field(default_factory=lambda: np.zeros(2))
    """The planar velocity sent in the last period, m/s."""
    robot_time: float = 0.0
    """Seconds of robot time since connecting (sum of libfranka periods)."""
    stamp: float = 0.0
    """time.monotonic() of the reading (0: none yet)."""


class FrankaDriver:
    def __init__(
        self,
        robot_ip: str,
        workspace: Workspace,
        limits: ArmLimits = ArmLimits(),
        command_timeout: float = 0.4,
        collision: CollisionThresholds = CollisionThresholds(),
        realtime: bool = False,
    ):
        problems = limits.problems() + collision.problems()
        if problems:
            raise ValueError("; ".join(problems))
        self.config = dict(
            robot_ip=robot_ip, workspace=workspace, limits=limits, command_timeout=command_timeout, collision=collision, realtime=realtime
        )
        self.ctx = arm_loop.context()
        self.shared = Shared(self.ctx)
        self.events_q = self.ctx.Queue()
        self.conn: Any = None  # multiprocessing Connection / Process once started
        self.proc: Any = None
        self.message = "not connected"
        self.figures: dict[str, str] = {}
        """The loop's latest timing figures (refreshed once a second by ``events``)."""
        self._request_lock = threading.Lock()
        self.latency_receive: list[float] = []
        """Seconds from a command's stamp to its arrival here (publisher -> DDS -> node), newest 2,000."""

    def start(self, timeout: float = 30.0) -> None:
        """Start the loop's process and connect; raises RuntimeError naming what went wrong."""
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(
            target=arm_loop.child_main, args=(child, self.events_q, self.shared, self.config), name="franka-driver", daemon=True
        )
        self.proc.start()
        if not self.conn.poll(timeout):
            self.close()
            raise RuntimeError(f"no answer from the driver process within {timeout:g} s")
        status, detail = self.conn.recv()
        if status != "ok":
            self.proc.join(timeout=5)
            raise RuntimeError(detail)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    # --- inputs ----------------------------------------------------------------------------------
    def set_command(self, velocity_xy: np.ndarray, stamp: float | None = None) -> None:
        """A validated planar velocity (m/s); followed until it is ``command_timeout`` old.
        ``stamp``: the command's own time (time.time() clock), for the latency figures."""
        v = np.asarray(velocity_xy, float).reshape(2)
        now = time.time()
        with self.shared.cmd.get_lock():
            c = self.shared.cmd
            c[arm_loop.CMD_VX], c[arm_loop.CMD_VY] = float(v[0]), float(v[1])
            c[arm_loop.CMD_TIME] = time.monotonic()
            c[arm_loop.CMD_STAMP] = now if stamp is None else float(stamp)
        if stamp is not None:
            self.latency_receive = self.latency_receive[-1999:] + [now - float(stamp)]

    def set_estop(self, engaged: bool) -> None:
        with self.shared.cmd.get_lock():
            was = bool(self.shared.cmd[arm_loop.CMD_ESTOP])
            self.shared.cmd[arm_loop.CMD_ESTOP] = float(bool(engaged))
            if was and not engaged:  # a release never re-uses a command from before it
                self.shared.cmd[arm_loop.CMD_RESUME] = time.monotonic()

    def _request(self, request: tuple, timeout: float) -> tuple[bool, str]:
        with self._request_lock:
            if not self.alive():
                return False, "the driver process is not running"
            self.conn.send(request)
            if not self.conn.poll(timeout):
                return False, f"{request[0]}: no answer within {timeout:g} s"
            return self.conn.recv()

    def recover(self) -> tuple[bool, str]:
        """libfranka's automatic error recovery (reconnecting if the connection was lost); the
        arm moves again only for a command received after it."""
        return self._request(("recover",), 30.0)

    def home(self, q_goal: np.ndarray, max_joint_speed: float = 0.5, timeout: float = 60.0) -> tuple[bool, str]:
        """Joint-space move to ``q_goal`` (blocks until done). Refused on e-stop or error."""
        q_goal = np.asarray(q_goal, float)
        if q_goal.shape != (7,) or not np.all(np.isfinite(q_goal)) or np.any(q_goal < Q_MIN) or np.any(q_goal > Q_MAX):
            return False, f"home pose outside the joint limits: {np.round(q_goal, 4).tolist()}"
        if not 0 < max_joint_speed <= float(DQ_MAX.min()):
            return False, f"max_joint_speed must be in (0, {DQ_MAX.min()}] rad/s"
        return self._request(("home", q_goal, max_joint_speed, timeout), timeout + 5.0)

    # --- outputs ---------------------------------------------------------------------------------
    def events(self) -> list[tuple[str, str]]:
        """Mode changes since the last call, as (mode, message); keeps ``figures`` current."""
        out = []
        while True:
            try:
                item = self.events_q.get_nowait()
            except queue.Empty:
                break
            if item[0] == "mode":
                self.message = item[2]
                out.append((item[1], item[2]))
            else:
                self.figures = item[1]
        return out

    def state(self) -> ArmState:
        with self.shared.state.get_lock():
            s = self.shared.state[:]
        return ArmState(
            MODES[int(s[ST_MODE])],
            self.message,
            np.array(s[ST_Q : ST_Q + 7]),
            np.array(s[ST_DQ : ST_DQ + 7]),
            np.array(s[ST_TCP : ST_TCP + 16]).reshape(4, 4, order="F"),
            np.array(s[ST_CMD : ST_CMD + 2]),
            s[ST_RTIME],
            s[ST_STAMP],
        )

    def close(self, timeout: float = 5.0) -> None:
        """The loop brakes to a stop and ends the libfranka motion, then the process exits."""
        if self.alive():
            try:
                self.conn.send(("close",))
            except (BrokenPipeError, OSError):
                pass
            self.proc.join(timeout)
            if self.proc.is_alive():
                self.proc.terminate()
                self.proc.join(2.0)

"""The Franka arm through libfranka (pylibfranka, Franka Robotics' own bindings), without ROS.

One thread runs libfranka's 1 kHz loop (``readOnce`` / ``writeOnce`` of a Cartesian velocity
motion): it tracks the latest planar command through :class:`PlanarVelocityTracker`, stops
smoothly when the command goes stale, at once on e-stop, and leaves the robot still on any
libfranka error until :meth:`recover` is called -- and even then it moves again only for a
command received after the recovery. :meth:`home` runs a joint-space move to a given pose.
``ftrl_ros.nodes.franka_arm_node`` wraps this in ROS; tests and ``ftrl bench-arm`` drive it
directly against franky-sim, which speaks the same network protocol.

Why pylibfranka rather than franky-control: the stack needs its own loop (stale-command stop,
robot-side workspace box, e-stop deceleration, no silent resume after an error), which is what
libfranka's active-control API gives; franky plans whole motions (Ruckig) and would hide those
decisions inside its C++ loop. The loop shares one interpreter with the node's ROS executor: see
``start`` for the one setting that takes.
"""
from __future__ import annotations

import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..tasks.spec import Workspace
from .kinematics import DQ_MAX, Q_MAX, Q_MIN
from .motion import ArmLimits, JointMove, PlanarVelocityTracker

# what the node shows operators; "error" needs recover(), "estop" a release
MODES = ("disconnected", "idle", "moving", "holding", "estop", "homing", "error")


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
    """A snapshot of the arm for publishers (copied out of the loop under a lock)."""
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
    """time.monotonic() of the reading."""


class FrankaDriver:
    def __init__(self, robot_ip: str, workspace: Workspace, limits: ArmLimits = ArmLimits(),
                 command_timeout: float = 0.4, collision: CollisionThresholds = CollisionThresholds(),
                 realtime: bool = False, on_event: Callable[[str, str], None] | None = None,
                 timing_window: int = 120_000):
        problems = limits.problems() + collision.problems()
        if problems:
            raise ValueError("; ".join(problems))
        self.ip, self.workspace, self.limits, self.collision = robot_ip, workspace, limits, collision
        self.command_timeout, self.realtime = command_timeout, realtime
        self.on_event = on_event or (lambda mode, message: None)
        self.tracker = PlanarVelocityTracker(limits, workspace)
        self._lock = threading.Lock()
        self._state = ArmState()
        self._command = np.zeros(2)
        self._command_time = -np.inf
        self._resume_after = -np.inf
        self._estop = False
        self._run = threading.Event()
        self._home_goal: np.ndarray | None = None
        self._home_speed = 0.5
        self._home_done = threading.Event()
        self._home_result = ""
        self._thread: threading.Thread | None = None
        self._robot = None
        self._closing = False
        self.periods: deque[float] = deque(maxlen=timing_window)
        """Wall-clock seconds between successive readOnce returns (loop timing)."""
        self.first_motion: list[tuple[float, float]] = []
        """(monotonic time a command arrived, time the commanded velocity first changed for it),
        the newest 1,000."""

    # --- connection ------------------------------------------------------------------------
    def connect(self) -> None:
        import pylibfranka as pf
        cfg = pf.RealtimeConfig.kEnforce if self.realtime else pf.RealtimeConfig.kIgnore
        robot = pf.Robot(self.ip, cfg)
        c = self.collision
        robot.set_collision_behavior(list(c.lower_torque), list(c.upper_torque), list(c.lower_force),
                                     list(c.upper_force))
        self._robot = robot
        self._store(robot.read_once(), 0.0, np.zeros(2))
        self._set_mode("idle", f"connected to {self.ip}")

    def start(self) -> None:
        """Connect (if needed) and start the control thread."""
        if self._robot is None:
            self.connect()
        # pylibfranka keeps the GIL while readOnce waits for the robot: with CPython's default 5 ms
        # switch interval, other threads of this process (the ROS executor) were measured waking
        # 200 ms late from a 200 ms sleep; at 0.5 ms they wake on time and the loop keeps its rate
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))
        self._run.set()
        self._thread = threading.Thread(target=self._loop, name="franka-1khz", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closing = True
        self._run.set()
        if self._thread is not None:
            self._thread.join(timeout=3.0)
        self._robot = None

    # --- inputs (any thread) ---------------------------------------------------------------
    def set_command(self, velocity_xy: np.ndarray) -> None:
        """A validated planar velocity (m/s); it is followed until it is ``command_timeout`` old."""
        v = np.asarray(velocity_xy, float).reshape(2)
        with self._lock:
            self._command, self._command_time = v.copy(), time.monotonic()

    def set_estop(self, engaged: bool) -> None:
        with self._lock:
            changed = self._estop != bool(engaged)
            self._estop = bool(engaged)
            if not engaged:  # a release never re-uses a command from before it
                self._resume_after = time.monotonic()
        if changed:
            mode = self.state().mode
            if engaged:
                self._set_mode("estop", "e-stop engaged: stopping, motion refused until release")
            elif mode == "estop":
                self._set_mode("holding", "e-stop released: waiting for a new command")

    def recover(self) -> tuple[bool, str]:
        """libfranka's automatic error recovery (reconnecting first if the connection was lost),
        then the loop restarts holding still; only a command received after this moves the arm."""
        if self.state().mode != "error":
            return False, f"nothing to recover (arm is {self.state().mode})"
        try:
            if self._robot is None:
                self.connect()
            self._robot.automatic_error_recovery()
        except Exception as exc:  # noqa: BLE001 - libfranka raises several kinds; all mean "still broken"
            self._robot = None
            return False, f"recovery failed: {exc}"
        with self._lock:
            self._resume_after = time.monotonic()
        self._set_mode("holding", "recovered: waiting for a new command")
        self._run.set()
        return True, "recovered; the arm moves again on the next command"

    def home(self, q_goal: np.ndarray, max_joint_speed: float = 0.5, timeout: float = 60.0) -> tuple[bool, str]:
        """Joint-space move to ``q_goal`` (blocks until done). Refused on e-stop or error."""
        q_goal = np.asarray(q_goal, float)
        if q_goal.shape != (7,) or not np.all(np.isfinite(q_goal)) or np.any(q_goal < Q_MIN) or np.any(q_goal > Q_MAX):
            return False, f"home pose outside the joint limits: {np.round(q_goal, 4).tolist()}"
        if not 0 < max_joint_speed <= float(DQ_MAX.min()):
            return False, f"max_joint_speed must be in (0, {DQ_MAX.min()}] rad/s"
        mode = self.state().mode
        if mode in ("estop", "error", "disconnected"):
            return False, f"cannot home: arm is {mode} ({self.state().message})"
        self._home_done.clear()
        with self._lock:
            self._home_goal, self._home_speed = q_goal, max_joint_speed
        if not self._home_done.wait(timeout):
            return False, "homing timed out"
        return self._home_result == "", self._home_result or "homed"

    # --- outputs ---------------------------------------------------------------------------
    def state(self) -> ArmState:
        with self._lock:
            s = self._state
            return ArmState(s.mode, s.message, s.q.copy(), s.dq.copy(), s.tcp.copy(), s.commanded.copy(),
                            s.robot_time, s.stamp)

    # --- the loop (its own thread) ---------------------------------------------------------
    def _set_mode(self, mode: str, message: str) -> None:
        with self._lock:
            if self._state.mode == mode and self._state.message == message:
                return
            self._state.mode, self._state.message = mode, message
        self.on_event(mode, message)

    def _store(self, rs, dt: float, commanded: np.ndarray) -> None:
        with self._lock:
            s = self._state
            s.q, s.dq = np.asarray(rs.q, float), np.asarray(rs.dq, float)
            s.tcp = np.asarray(rs.O_T_EE, float).reshape(4, 4, order="F")
            s.commanded = commanded
            s.robot_time += dt
            s.stamp = time.monotonic()

    def _loop(self) -> None:
        import pylibfranka as pf
        while not self._closing:
            if not self._run.wait(0.1):
                continue
            if self._closing:
                break
            try:
                if self._home_goal is not None:
                    self._run_home(pf)
                else:
                    self._run_velocity(pf)
            except Exception as exc:  # noqa: BLE001 - a libfranka error of any kind: stop, report, wait
                if self._closing:
                    break
                self._run.clear()
                if isinstance(exc, pf.NetworkException):
                    self._robot = None
                if self._home_goal is not None:
                    self._home_result, self._home_goal = f"homing aborted: {exc}", None
                    self._home_done.set()
                self.tracker.reset()
                self._set_mode("error", f"libfranka: {type(exc).__name__}: {exc}".strip())

    def _wanted(self, now: float) -> tuple[np.ndarray | None, bool]:
        """(velocity to follow or None, hard stop?) from the latest command and the e-stop."""
        with self._lock:
            estop, cmd, t_cmd, resume = self._estop, self._command, self._command_time, self._resume_after
        if estop or self._closing:
            return None, True
        if t_cmd <= resume or now - t_cmd > self.command_timeout:
            return None, False
        return cmd, False

    def _run_velocity(self, pf) -> None:
        ctrl = self._robot.start_cartesian_velocity_control(pf.ControllerMode.CartesianImpedance)
        self.tracker.reset()
        last_wall, seen_cmd, pending = None, -np.inf, None
        while True:
            rs, duration = ctrl.readOnce()
            now = time.monotonic()
            if last_wall is not None:
                self.periods.append(now - last_wall)
            last_wall = now
            dt = duration.to_sec()
            xy = np.asarray(rs.O_T_EE, float)[12:14]
            wanted, hard = self._wanted(now)
            before = self.tracker.v.copy()
            v = self.tracker.step(wanted, xy, dt, hard_stop=hard) if dt > 0 else self.tracker.v.copy()
            finish = (self._closing or self._home_goal is not None) and self.tracker.at_rest
            cmd = pf.CartesianVelocities([float(v[0]), float(v[1]), 0.0, 0.0, 0.0, 0.0])
            if finish:
                cmd = pf.CartesianVelocities([0.0] * 6)
                cmd.motion_finished = True
            ctrl.writeOnce(cmd)
            self._store(rs, dt, v)
            # command-to-motion latency (ftrl bench-arm): a new command arrived -> the first period
            # whose commanded velocity changes
            t_cmd = self._command_time
            if t_cmd != seen_cmd:  # only a command that asks for a change can show one
                changed = wanted is not None and not np.allclose(self.tracker.boxed(wanted, xy), before, atol=1e-6)
                seen_cmd, pending = t_cmd, (t_cmd if changed else None)
            if pending is not None and np.any(np.abs(v - before) > 1e-9):
                self.first_motion.append((pending, now))
                del self.first_motion[:-1000]
                pending = None
            if self._closing:
                mode = "holding"
            else:
                mode = "estop" if hard else ("moving" if wanted is not None else "holding")
            if mode != self._state.mode and not (mode == "holding" and self._state.mode == "idle"):
                self._set_mode(mode, {"estop": "e-stop engaged: stopping, motion refused until release",
                                      "moving": "following /ftrl/cmd_vel",
                                      "holding": "stopping: shutting down" if self._closing else
                                      "no current command: holding still"}[mode])
            if finish:
                return

    def _run_home(self, pf) -> None:
        q0 = self.state().q
        move = JointMove(q0, self._home_goal, self._home_speed)
        ctrl = self._robot.start_joint_position_control(pf.ControllerMode.JointImpedance)
        self._set_mode("homing", f"homing: {move.duration:.1f} s joint-space move")
        aborted = ""
        while True:
            rs, duration = ctrl.readOnce()
            with self._lock:
                estop = self._estop
            if estop and not aborted:
                aborted = "homing stopped by the e-stop"
            q = move.step(duration.to_sec(), stopping=bool(aborted) or self._closing)
            cmd = pf.JointPositions(q.tolist())
            end = move.done or (move.halted and (aborted or self._closing))
            cmd.motion_finished = end
            ctrl.writeOnce(cmd)
            self._store(rs, duration.to_sec(), np.zeros(2))
            if end:
                break
        with self._lock:
            self._home_goal = None
            self._resume_after = time.monotonic()
        self._home_result = aborted
        self._set_mode("estop" if aborted else "idle", aborted or "homed: waiting for a command")
        self._home_done.set()

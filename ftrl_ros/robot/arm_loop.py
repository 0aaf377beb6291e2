"""libfranka's 1 kHz loop, run in a process of its own by :class:`~.franka_driver.FrankaDriver`.

The loop (``readOnce`` / ``writeOnce`` of a Cartesian velocity motion) tracks the latest planar
command through :class:`PlanarVelocityTracker`, stops smoothly when the command goes stale, at
once on e-stop, and leaves the robot still on any libfranka error until ``recover`` -- and even
then it moves again only for a command received after the recovery. ``home`` runs a joint-space
move. Commands come in, and the robot state goes out, through shared memory (:class:`Shared`);
mode changes and timing figures through a queue; home / recover / close through a pipe.

Why a process: pylibfranka keeps the GIL while ``readOnce`` waits for the robot, so a loop thread
inside the ROS node starved the executor -- measured against franky-sim, commands reached the
node 31 ms (p50) / 157 ms (p99) after their stamp, and state publishing stalled the loop for up to
75 ms. Here the node's process never runs the loop, and this process runs nothing else of note.
"""

from __future__ import annotations

from typing import Any

import multiprocessing as mp
import sys
import threading
import time
from collections import deque

import numpy as np

from ..tasks.spec import Workspace
from .motion import ArmLimits, JointMove, PlanarVelocityTracker

MODES = ("disconnected", "idle", "moving", "holding", "estop", "homing", "error")
"""What the node shows operators; "error" needs recover(), "estop" a release."""

# shared command block: vx, vy, receive time (monotonic), stamp (time.time), e-stop, resume-after
CMD_VX, CMD_VY, CMD_TIME, CMD_STAMP, CMD_ESTOP, CMD_RESUME = range(6)
CMD_SIZE = 6
# shared state block: mode, robot time, monotonic stamp, commanded (2), q (7), dq (7), O_T_EE (16)
ST_MODE, ST_RTIME, ST_STAMP, ST_CMD, ST_Q, ST_DQ, ST_TCP = 0, 1, 2, 3, 5, 12, 19
STATE_SIZE = 35


class Shared:
    """The two shared-memory blocks (each with its own lock); picklable to the child process."""

    def __init__(self, ctx):
        self.cmd = ctx.Array("d", CMD_SIZE)
        self.state = ctx.Array("d", STATE_SIZE)
        with self.cmd.get_lock():
            self.cmd[CMD_TIME], self.cmd[CMD_RESUME] = -1e18, -1e18

    def read_command(self) -> tuple[np.ndarray, float, float, bool, float]:
        with self.cmd.get_lock():
            c = self.cmd[:]
        return np.array(c[CMD_VX : CMD_VY + 1]), c[CMD_TIME], c[CMD_STAMP], bool(c[CMD_ESTOP]), c[CMD_RESUME]

    def resume_now(self) -> None:
        """Commands received before now are never followed (after a release, recovery, homing)."""
        with self.cmd.get_lock():
            self.cmd[CMD_RESUME] = time.monotonic()

    def write_state(self, mode: str | None, rs=None, dt: float = 0.0, commanded=None) -> None:
        with self.state.get_lock():
            if mode is not None:
                self.state[ST_MODE] = MODES.index(mode)
            if rs is not None:
                self.state[ST_RTIME] += dt
                self.state[ST_STAMP] = time.monotonic()
                self.state[ST_CMD : ST_CMD + 2] = list(commanded)
                self.state[ST_Q : ST_Q + 7] = list(rs.q)
                self.state[ST_DQ : ST_DQ + 7] = list(rs.dq)
                self.state[ST_TCP : ST_TCP + 16] = list(rs.O_T_EE)


class ArmLoop:
    def __init__(
        self,
        shared: Shared,
        events,
        robot_ip: str,
        workspace: Workspace,
        limits: ArmLimits,
        command_timeout: float,
        collision,
        realtime: bool,
    ):
        self.shared, self.events = shared, events
        self.ip, self.collision, self.realtime = robot_ip, collision, realtime
        self.command_timeout = command_timeout
        self.tracker = PlanarVelocityTracker(limits, workspace)
        self.mode, self.message = "disconnected", "not connected"
        self._run = threading.Event()
        self._home: tuple[np.ndarray, float] | None = None
        self._home_done = threading.Event()
        self._home_result = ""
        self._closing = False
        self._robot: Any = None  # pylibfranka.Robot while connected
        self._thread: threading.Thread | None = None
        self._estop_seen = False
        self.periods: deque[float] = deque(maxlen=60_000)
        """Wall-clock seconds between successive readOnce returns (the last minute at 1 kHz)."""
        self.latency_ack: deque[float] = deque(maxlen=2000)
        """Seconds from the stamp of a command that starts the arm from rest to the robot
        reporting the new commanded velocity (``O_dP_EE_c``)."""
        self.latency_motion: deque[float] = deque(maxlen=2000)
        """Seconds from that stamp to the robot's TCP moving faster than 1 mm/s."""

    # --- requests (the child's main thread) --------------------------------------------------
    def connect(self) -> None:
        import pylibfranka as pf

        robot = pf.Robot(self.ip, pf.RealtimeConfig.kEnforce if self.realtime else pf.RealtimeConfig.kIgnore)
        c = self.collision
        robot.set_collision_behavior(list(c.lower_torque), list(c.upper_torque), list(c.lower_force), list(c.upper_force))
        self._robot = robot
        self.shared.write_state(None, robot.read_once(), 0.0, (0.0, 0.0))
        self._set_mode("idle", f"connected to {self.ip}")

    def start(self) -> None:
        # the request thread and the stats thread share this interpreter with the loop: with
        # CPython's default 5 ms switch interval a waiting thread was measured waking 200 ms late
        sys.setswitchinterval(0.0005)
        self._run.set()
        self._thread = threading.Thread(target=self._loop, name="franka-1khz", daemon=True)
        self._thread.start()
        threading.Thread(target=self._stats, name="franka-stats", daemon=True).start()

    def recover(self) -> tuple[bool, str]:
        """libfranka's automatic error recovery (reconnecting if the connection was lost); the
        loop restarts holding still, and only a command received after this moves the arm."""
        if self.mode != "error":
            return False, f"nothing to recover (arm is {self.mode})"
        try:
            if self._robot is None:
                self.connect()
            self._robot.automatic_error_recovery()
        except Exception as exc:  # noqa: BLE001 - libfranka raises several kinds; all mean "still broken"
            self._robot = None
            return False, f"recovery failed: {exc}"
        self.shared.resume_now()
        self._set_mode("holding", "recovered: waiting for a new command")
        self._run.set()
        return True, "recovered; the arm moves again on the next command"

    def home(self, q_goal: np.ndarray, speed: float, timeout: float) -> tuple[bool, str]:
        if self.mode in ("estop", "error", "disconnected"):
            return False, f"cannot home: arm is {self.mode} ({self.message})"
        self._home_done.clear()
        self._home = (np.asarray(q_goal, float), speed)
        if not self._home_done.wait(timeout):
            return False, "homing timed out"
        return self._home_result == "", self._home_result or "homed"

    def close(self) -> None:
        """Brake to a stop, end the libfranka motion, leave."""
        self._closing = True
        self._run.set()
        if self._thread is not None:
            self._thread.join(timeout=3.0)

    # --- the loop thread ------------------------------------------------------------------------
    def _set_mode(self, mode: str, message: str) -> None:
        if (mode, message) == (self.mode, self.message):
            return
        self.mode, self.message = mode, message
        self.shared.write_state(mode)
        self.events.put(("mode", mode, message))

    def _loop(self) -> None:
        import pylibfranka as pf

        while not self._closing:
            if not self._run.wait(0.1):
                continue
            try:
                if self._closing:
                    break
                if self._home is not None:
                    self._run_home(pf)
                else:
                    self._run_velocity(pf)
            except Exception as exc:  # noqa: BLE001 - a libfranka error of any kind: stop, report, wait
                if self._closing:
                    break
                self._run.clear()
                if isinstance(exc, pf.NetworkException):
                    self._robot = None
                if self._home is not None:
                    self._home_result, self._home = f"homing aborted: {exc}", None
                    self._home_done.set()
                self.tracker.reset()
                self._set_mode("error", f"libfranka: {type(exc).__name__}: {exc}".strip())

    def _wanted(self, now: float) -> tuple[np.ndarray | None, bool]:
        """(velocity to follow or None, hard stop?) from the shared command and the e-stop."""
        cmd, t_cmd, _, estop, resume = self.shared.read_command()
        if estop != self._estop_seen:
            self._estop_seen = estop
            if not estop and self.mode == "estop":
                self._set_mode("holding", "e-stop released: waiting for a new command")
        if estop or self._closing:
            return None, True
        if self._home is not None or t_cmd <= resume or now - t_cmd > self.command_timeout:
            return None, False  # homing asked for: stop first (smoothly), then the joint move
        return cmd, False

    def _run_velocity(self, pf) -> None:
        ctrl = self._robot.start_cartesian_velocity_control(pf.ControllerMode.CartesianImpedance)
        self.tracker.reset()
        last_wall, last_xy, seen_cmd, pending = None, None, -np.inf, None
        while True:
            rs, duration = ctrl.readOnce()
            now = time.monotonic()
            if last_wall is not None:
                self.periods.append(now - last_wall)
            last_wall = now
            dt = duration.to_sec()
            xy = np.asarray(rs.O_T_EE[12:14], float)
            wanted, hard = self._wanted(now)
            before = self.tracker.v.copy()
            v = self.tracker.step(wanted, xy, dt, hard_stop=hard) if dt > 0 else before
            finish = (self._closing or self._home is not None) and self.tracker.at_rest
            cmd = pf.CartesianVelocities([float(v[0]), float(v[1]), 0.0, 0.0, 0.0, 0.0])
            if finish:
                cmd = pf.CartesianVelocities([0.0] * 6)
                cmd.motion_finished = True
            ctrl.writeOnce(cmd)
            self.shared.write_state(None, rs, dt, v)
            # command-to-motion latency (ftrl bench-arm), for a command that starts the arm from
            # rest: the robot reporting the new commanded velocity, then its TCP moving (> 1 mm/s;
            # joint velocities would not do: franky-sim's elbow drifts while the TCP stands still)
            tcp_speed = float(np.linalg.norm(xy - last_xy)) / dt if last_xy is not None and dt > 0 else 0.0
            last_xy = xy
            _, t_cmd, stamp, _, _ = self.shared.read_command()
            if t_cmd != seen_cmd:
                seen_cmd = t_cmd
                from_rest = (
                    wanted is not None
                    and np.all(np.abs(before) < 1e-5)
                    and tcp_speed < 5e-4
                    and np.any(np.abs(self.tracker.boxed(wanted, xy)) > 1e-5)
                )
                pending = (stamp, np.asarray(rs.O_dP_EE_c[:2], float), False) if from_rest else None
            if pending is not None:
                stamp, ack_ref, acked = pending
                if not acked and np.any(np.abs(np.asarray(rs.O_dP_EE_c[:2]) - ack_ref) > 1e-7):
                    self.latency_ack.append(time.time() - stamp)
                    pending = stamp, ack_ref, True
                if tcp_speed > 1e-3:
                    self.latency_motion.append(time.time() - stamp)
                    pending = None
            if self._closing:
                mode = "holding"
            else:
                mode = "estop" if hard else ("moving" if wanted is not None else "holding")
            if mode != self.mode and not (mode == "holding" and self.mode == "idle"):
                self._set_mode(
                    mode,
                    {
                        "estop": "e-stop engaged: stopping, motion refused until release",
                        "moving": "following /ftrl/cmd_vel",
                        "holding": "stopping: shutting down" if self._closing else "no current command: holding still",
                    }[mode],
                )
            if finish:
                return

    def _run_home(self, pf) -> None:
        with self.shared.state.get_lock():
            q0 = np.array(self.shared.state[ST_Q : ST_Q + 7])
        assert self._home is not None, "homing without a goal"
        goal, speed = self._home
        move = JointMove(q0, goal, speed)
        ctrl = self._robot.start_joint_position_control(pf.ControllerMode.JointImpedance)
        self._set_mode("homing", f"homing: {move.duration:.1f} s joint-space move")
        aborted = ""
        while True:
            rs, duration = ctrl.readOnce()
            if self.shared.read_command()[3] and not aborted:
                aborted = "homing stopped by the e-stop"
            q = move.step(duration.to_sec(), stopping=bool(aborted) or self._closing)
            cmd = pf.JointPositions(q.tolist())
            end = move.done or (move.halted and bool(aborted or self._closing))
            cmd.motion_finished = end
            ctrl.writeOnce(cmd)
            self.shared.write_state(None, rs, duration.to_sec(), (0.0, 0.0))
            if end:
                break
        self._home = None
        self.shared.resume_now()
        self._home_result = aborted
        self._set_mode("estop" if aborted else "idle", aborted or "homed: waiting for a command")
        self._home_done.set()

    # --- timing figures, once a second (off the loop thread) --------------------------------------
    def _stats(self) -> None:
        while not self._closing:
            time.sleep(1.0)
            self.events.put(("figures", self.figures()))

    def figures(self) -> dict[str, str]:
        """The loop's timing over the last minute (``ftrl bench-arm`` reads these)."""
        out: dict[str, str] = {}
        periods = np.array(self.periods, float) * 1e3
        if len(periods) > 10:
            jitter = np.abs(periods - 1.0)
            out.update(
                {
                    "loop_rate_hz": f"{1e3 / periods.mean():.1f}",
                    "loop_cycles": str(len(periods)),
                    "loop_period_p50_ms": f"{np.percentile(periods, 50):.3f}",
                    "loop_period_p99_ms": f"{np.percentile(periods, 99):.3f}",
                    "loop_period_max_ms": f"{periods.max():.3f}",
                    "loop_jitter_p50_ms": f"{np.percentile(jitter, 50):.3f}",
                    "loop_jitter_p99_ms": f"{np.percentile(jitter, 99):.3f}",
                }
            )
        for name, window in (("ack", self.latency_ack), ("motion", self.latency_motion)):
            lat = np.array(window, float) * 1e3
            if len(lat):
                out.update(
                    {
                        f"cmd_to_{name}_p50_ms": f"{np.percentile(lat, 50):.2f}",
                        f"cmd_to_{name}_p99_ms": f"{np.percentile(lat, 99):.2f}",
                        f"cmd_to_{name}_n": str(len(lat)),
                    }
                )
        return out


def child_main(conn, events, shared: Shared, config: dict) -> None:
    """The driver process: connect, run the loop, answer requests until told to close (or the
    node's process goes away, which closes the pipe: then brake and end the motion too)."""
    loop = ArmLoop(shared, events, **config)
    try:
        loop.connect()
    except Exception as exc:  # noqa: BLE001 - NetworkException, IncompatibleVersionException, ...
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ok", ""))
    loop.start()
    try:
        while True:
            request = conn.recv()
            if request[0] == "close":
                break
            if request[0] == "home":
                conn.send(loop.home(*request[1:]))
            elif request[0] == "recover":
                conn.send(loop.recover())
    except (EOFError, OSError, KeyboardInterrupt):
        pass
    finally:
        loop.close()
        try:
            conn.send(("closed", ""))
        except (BrokenPipeError, OSError):
            pass


def context():
    """spawn: the node's process runs DDS threads that must not be forked."""
    return mp.get_context("spawn")

"""What the arm's 1 kHz loop commands, as plain numpy: planar TCP velocity tracking with
acceleration and jerk limits, the workspace box enforced on the robot side, smooth stops, and the
joint-space homing profile.

libfranka rejects a Cartesian velocity signal that jumps (``cartesian_motion_generator_*
_discontinuity``): the 5 Hz commands of the stack are steps, so every step is turned into a
jerk-limited ramp here. Height and orientation are held by commanding zero for those axes: the
motion generator integrates the commanded twist into the desired pose, so only x and y ever move.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..tasks.spec import Workspace

# libfranka's Cartesian motion-generator limits for the Panda (translation), for validation
LIBFRANKA_MAX_SPEED = 1.7  # m/s
LIBFRANKA_MAX_ACC = 13.0  # m/s^2
LIBFRANKA_MAX_JERK = 6500.0  # m/s^3


@dataclass(frozen=True)
class ArmLimits:
    max_speed: float = 0.15
    """Planar TCP speed the arm ever commands, m/s (the task's full-scale action)."""
    max_acc: float = 1.5
    """Acceleration while tracking commands and for smooth stops, m/s^2."""
    max_jerk: float = 40.0
    """Jerk while tracking, m/s^3: a 0 -> 0.15 m/s step (or a stop from it) takes 0.14 s."""
    stop_acc: float = 4.0
    """Deceleration for an e-stop or a command the arm must not follow, m/s^2."""
    stop_jerk: float = 400.0
    """Jerk for those stops, m/s^3 (far inside libfranka's 6,500)."""
    box_margin: float = 0.0
    """The box is enforced this much inside the workspace, m."""

    def problems(self) -> list[str]:
        out = []
        checks = (
            ("max_speed", self.max_speed, LIBFRANKA_MAX_SPEED),
            ("max_acc", self.max_acc, LIBFRANKA_MAX_ACC),
            ("max_jerk", self.max_jerk, LIBFRANKA_MAX_JERK),
            ("stop_acc", self.stop_acc, LIBFRANKA_MAX_ACC),
            ("stop_jerk", self.stop_jerk, LIBFRANKA_MAX_JERK),
        )
        for name, value, limit in checks:
            if not (np.isfinite(value) and 0 < value <= limit):
                out.append(f"{name} must be in (0, {limit}] (libfranka's limit), got {value}")
        if not (np.isfinite(self.box_margin) and 0 <= self.box_margin < 0.1):
            out.append(f"box_margin must be in [0, 0.1) m, got {self.box_margin}")
        return out


def _ramp(v: np.ndarray, a: np.ndarray, target: np.ndarray, dt: float, acc: float, jerk: float) -> tuple[np.ndarray, np.ndarray]:
    """One step of a per-axis jerk-limited velocity tracker. The acceleration aims at the largest
    value from which winding it down at full ``jerk`` still lands on ``target`` (solving
    e = b dt / 2 + b^2 / (2 jerk) for b, e the velocity error), moved towards it by at most
    ``jerk * dt`` and kept within ``acc``. Acceleration and jerk limits hold exactly; the landing
    overshoots by under 0.1 mm/s (checked from every start in the tests)."""
    err = target - v
    sign = np.where(err >= 0, 1.0, -1.0)
    e, b = sign * err, sign * a
    b_star = jerk * (np.sqrt(dt * dt / 4 + 2 * e / jerk) - dt / 2)
    b_new = np.clip(np.clip(b_star, b - jerk * dt, b + jerk * dt), -acc, acc)
    a_new = sign * b_new
    return v + a_new * dt, a_new


class PlanarVelocityTracker:
    """The planar velocity the arm commands, one libfranka period at a time.

    ``step`` takes the wanted velocity (None: stop) and the measured TCP position; the workspace
    box caps the speed towards each wall at what can still be braked at ``max_acc / 2`` before
    it, and an arm outside the box may only move back in.
    """

    def __init__(self, limits: ArmLimits, workspace: Workspace):
        self.limits, self.workspace = limits, workspace
        m = limits.box_margin
        self.lo = np.array([workspace.x[0] + m, workspace.y[0] + m])
        self.hi = np.array([workspace.x[1] - m, workspace.y[1] - m])
        self.v = np.zeros(2)
        self.a = np.zeros(2)

    def reset(self) -> None:
        """A new libfranka motion starts from rest."""
        self.v[:] = 0.0
        self.a[:] = 0.0

    def boxed(self, wanted: np.ndarray, xy: np.ndarray) -> np.ndarray:
        """``wanted`` with the speed towards each wall capped by the braking distance left."""
        brake = 0.5 * self.limits.max_acc
        up = np.sqrt(2.0 * brake * np.maximum(self.hi - xy, 0.0))
        down = np.sqrt(2.0 * brake * np.maximum(xy - self.lo, 0.0))
        return np.clip(wanted, -down, up)

    def step(self, wanted: np.ndarray | None, xy: np.ndarray, dt: float, hard_stop: bool = False) -> np.ndarray:
        """The next commanded planar velocity (m/s). ``wanted`` None or ``hard_stop`` = brake to
        zero (``hard_stop`` with the e-stop deceleration)."""
        lim = self.limits
        if wanted is None or hard_stop:
            target = np.zeros(2)
        else:
            target = np.asarray(wanted, float)
            speed = float(np.linalg.norm(target))
            if speed > lim.max_speed:
                target = target * (lim.max_speed / speed)
            target = self.boxed(target, np.asarray(xy, float))
        acc, jerk = (lim.stop_acc, lim.stop_jerk) if hard_stop else (lim.max_acc, lim.max_jerk)
        self.v, self.a = _ramp(self.v, self.a, target, dt, acc, jerk)
        return self.v.copy()

    @property
    def at_rest(self) -> bool:
        return bool(np.all(np.abs(self.v) < 1e-5) and np.all(np.abs(self.a) < 1e-3))


class JointMove:
    """A joint-space move from ``q0`` to ``q1`` on a quintic (zero velocity and acceleration at
    both ends), as long as the slowest joint needs at ``max_speed`` (rad/s) peak. ``scale`` lets
    a stop slow the time base smoothly to zero (an e-stop during homing)."""

    def __init__(self, q0: np.ndarray, q1: np.ndarray, max_speed: float, min_duration: float = 1.0):
        self.q0, self.q1 = np.asarray(q0, float), np.asarray(q1, float)
        peak = 1.875  # the quintic's peak velocity, in units of (q1 - q0) / T
        self.duration = max(min_duration, float(np.max(np.abs(self.q1 - self.q0))) * peak / max_speed)
        self.t = 0.0
        self.scale = 1.0

    def step(self, dt: float, stopping: bool = False) -> np.ndarray:
        self.scale = max(0.0, self.scale - 5.0 * dt) if stopping else min(1.0, self.scale + 5.0 * dt)
        self.t = min(self.duration, self.t + dt * self.scale)
        tau = self.t / self.duration
        s = tau**3 * (10.0 - 15.0 * tau + 6.0 * tau * tau)
        return self.q0 + (self.q1 - self.q0) * s

    @property
    def done(self) -> bool:
        return self.t >= self.duration

    @property
    def halted(self) -> bool:
        return self.scale == 0.0

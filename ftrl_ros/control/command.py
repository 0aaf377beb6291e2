"""From a chosen action to the velocity command sent to the arm, with the checks that make the
robot hold still instead: a missing or implausible state (``validate``), an old or future state,
e-stop, no running episode."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..tasks.spec import TaskSpec
from . import validate


class Command(NamedTuple):
    velocity: np.ndarray
    """TCP velocity (vx, vy), m/s, base frame; zeros when holding."""
    hold: str
    """Why the arm holds still ('' when it moves)."""


HOLD = np.zeros(2)


def hold_reason(spec: TaskSpec, state: np.ndarray, state_age: float, max_age: float, estop: bool, running: bool) -> str:
    """The first reason to hold still, or '' if the state may be acted on."""
    if estop:
        return "e-stop engaged"
    if not running:
        return "no episode running"
    return validate.state_problem(spec, state) or validate.stamp_problem(state_age, max_age)


def velocity_command(spec: TaskSpec, action: np.ndarray, ee_xy: np.ndarray) -> np.ndarray:
    """Action in [-1, 1]^2 -> m/s, limited to the task's speed, with the component that would push
    the TCP out of the workspace removed (the controller clips too; this keeps the command honest)."""
    a = np.asarray(action, float)
    if a.shape != (2,) or not np.all(np.isfinite(a)):
        raise ValueError(f"action must be 2 finite numbers, got {action!r}")
    v = spec.action_to_velocity(np.clip(a, -1.0, 1.0))
    speed = float(np.linalg.norm(v))
    if speed > spec.max_speed:
        v = v * (spec.max_speed / speed)
    lo = np.array([spec.workspace.x[0], spec.workspace.y[0]])
    hi = np.array([spec.workspace.x[1], spec.workspace.y[1]])
    ee = np.asarray(ee_xy, float)
    v = np.where((ee <= lo) & (v < 0) | (ee >= hi) & (v > 0), 0.0, v)
    return v

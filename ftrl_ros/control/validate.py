"""Edge validation, in one place: is an input from the ROS graph something the robot may act on?

Any process on the graph can publish on any topic, so every node passes what it receives through
these functions before using it. They never raise on bad content; they return a reason ('' =
fine) or raise :class:`InputError` with one, which the node logs (throttled) and turns into a
hold. Bounds come from the task spec: the workspace, the table around it and plausible speeds.
"""

from __future__ import annotations

import json
import math
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..tasks.spec import TaskSpec

TABLE_MARGIN = 0.35
"""How far (m) outside the TCP workspace an object or target may still be seen: the table."""
TCP_MARGIN = 0.05
"""How far (m) outside its workspace the TCP may be (controller overshoot)."""
MAX_OBJECT_SPEED = 3.0
"""Fastest plausible object speed (m/s): a kicked ball, a pot moved by hand."""
MAX_FUTURE = 0.05
"""A stamp this far (s) ahead of our clock is accepted (clock jitter); later ones are not."""
MAX_VERSION = 2**31 - 1


class InputError(ValueError):
    """A message that cannot be used; the text says why (for the log and the hold reason)."""


def tcp_speed_limit(spec: TaskSpec) -> float:
    """Fastest plausible TCP speed (m/s): twice the commanded maximum, plus an arm being pushed."""
    return 2.0 * spec.max_speed + 0.1


def field_bounds(spec: TaskSpec) -> dict[str, tuple[float, float]]:
    """Physical [low, high] of every state field of the task (m or m/s)."""
    ws = spec.workspace
    out = {}
    for name in spec.layout.names:
        group, axis = name.rsplit("_", 1)
        if group.endswith("_v") or axis in ("vx", "vy"):
            v = tcp_speed_limit(spec) if group.startswith("ee") else MAX_OBJECT_SPEED
            out[name] = (-v, v)
        else:
            margin = TCP_MARGIN if group == "ee" else TABLE_MARGIN
            lo, hi = ws.x if axis == "x" else ws.y
            out[name] = (lo - margin, hi + margin)
    return out


def state_problem(spec: TaskSpec, state: ArrayLike) -> str:
    """Why ``state`` (in the task's layout order) cannot be acted on, or ''."""
    s = np.asarray(state, np.float64).reshape(-1)
    names = spec.layout.names
    if s.shape[0] != len(names):
        return f"state has {s.shape[0]} values, the {spec.name} layout has {len(names)}"
    bad = [n for n, v in zip(names, s) if not math.isfinite(v)]
    if bad:
        return "state not available: " + ", ".join(sorted({n.rsplit("_", 1)[0] for n in bad}))
    for (name, (lo, hi)), v in zip(field_bounds(spec).items(), s):
        if not lo - 1e-6 <= v <= hi + 1e-6:  # (float32 states at a bound)
            return f"implausible state: {name} = {v:.4g} outside [{lo:.3g}, {hi:.3g}]"
    return ""


def stamp_problem(age: float, max_age: float, what: str = "state") -> str:
    """Why a message stamped ``age`` seconds ago is not usable for control, or ''."""
    if not math.isfinite(age):
        return f"{what} stamp not readable"
    if age > max_age:
        return f"{what} is {age:.2f} s old (limit {max_age:.2f} s)"
    if age < -MAX_FUTURE:
        return f"{what} stamped {-age:.2f} s in the future"
    return ""


def command_problem(velocity: ArrayLike, max_speed: float) -> str:
    """Why a TCP velocity command (m/s) must not be executed, or ''. The safety filter never
    sends more than ``max_speed`` (norm); 1 % is allowed for float rounding."""
    v = np.asarray(velocity, np.float64).reshape(-1)
    if v.shape[0] != 2 or not np.all(np.isfinite(v)):
        return "command not finite"
    speed = float(np.linalg.norm(v))
    if speed > 1.01 * max_speed:
        return f"command speed {speed:.4g} m/s above the task's {max_speed:g} m/s"
    return ""


def named_vector(names: Sequence[str], values: ArrayLike, wanted: Sequence[str]) -> np.ndarray:
    """``values`` of the fields ``wanted``, in that order, from parallel name/value arrays (a
    JointState's name/position). InputError on missing, duplicate or unpaired names."""
    keys, vals = list(names), np.asarray(values)
    if vals.ndim != 1 or len(keys) != len(vals):
        raise InputError(f"{len(keys)} names but {vals.size} values" + ("" if vals.ndim == 1 else f" in {vals.ndim} dimensions"))
    if len(set(keys)) != len(keys):
        raise InputError("duplicate field names")
    index = {n: i for i, n in enumerate(keys)}
    missing = [n for n in wanted if n not in index]
    if missing:
        raise InputError(f"message lacks fields {missing}")
    return np.array([vals[index[n]] for n in wanted], np.float64)


def action_problem(action: ArrayLike, logp: float) -> str:
    """Why a task proposal (action, log-prob) cannot be executed, or ''."""
    a = np.asarray(action, np.float64).reshape(-1)
    if a.shape[0] != 2 or not np.all(np.isfinite(a)) or not math.isfinite(logp):
        return "proposal not available"
    if np.any(np.abs(a) > 20.0) or not -1e4 < logp < 1e3:
        return f"implausible proposal {a.tolist()} (log-prob {logp:.3g})"
    return ""


def policy_version(text: str) -> tuple[int, str]:
    """(version, checkpoint path) from a /ftrl/policy_version JSON message; InputError otherwise."""
    try:
        info = json.loads(text)
    except (ValueError, TypeError, RecursionError) as exc:
        raise InputError(f"not JSON: {exc}") from None
    if not isinstance(info, dict):
        raise InputError("not a JSON object")
    version, path = info.get("version"), info.get("path")
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= MAX_VERSION:
        raise InputError(f"version must be an integer in [0, {MAX_VERSION}], got {version!r}")
    if not isinstance(path, str) or not path or len(path) > 4096 or "\x00" in path:
        raise InputError(f"path must be a non-empty string, got {path!r}")
    return version, path

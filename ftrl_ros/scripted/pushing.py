"""A planar pushing primitive: get behind an object (orbiting around it, never through it), then
push it towards a goal while steering to stay aligned. All three scripted experts use it.
"""

from __future__ import annotations

import numpy as np


def unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else np.zeros_like(v)


def saturate(v: np.ndarray, limit: float) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v * (limit / n) if n > limit else v


def push_velocity(
    ee: np.ndarray,
    obj: np.ndarray,
    goal: np.ndarray,
    contact_dist: float,
    max_speed: float,
    push_speed: float,
    orbit_margin: float = 0.03,
    align_deg: float = 25.0,
    gain: float = 4.0,
) -> np.ndarray:
    """TCP velocity (m/s) that pushes ``obj`` towards ``goal``.

    ``contact_dist`` is the TCP-object centre distance at contact (sum of radii). Behind the
    object within ``align_deg`` of the push line: push at ``push_speed`` while pulling the TCP
    onto the line. Otherwise orbit the object at ``contact_dist + orbit_margin`` towards the
    back side, so it is never bumped on the way.
    """
    push = unit(goal - obj)
    if not push.any():
        return np.zeros(2)
    rel = ee - obj
    radius = float(np.linalg.norm(rel))
    back = -push
    cos = float(np.dot(unit(rel), back)) if radius > 1e-9 else 1.0
    behind = obj + back * contact_dist
    if cos > np.cos(np.radians(align_deg)) and radius < contact_dist + orbit_margin * 1.5:
        # aligned and close: push, steering the TCP onto the line behind the object
        lateral = behind - ee
        lateral -= np.dot(lateral, push) * push
        return saturate(push * push_speed + gain * lateral, max_speed)
    if cos > np.cos(np.radians(align_deg)):
        # aligned but far: approach the point behind the object
        return saturate(gain * (behind - ee), max_speed)
    # orbit: tangential motion towards the back side plus radial correction to the orbit radius
    orbit_r = contact_dist + orbit_margin
    tangent = np.array([-rel[1], rel[0]])
    if np.dot(tangent, back) < 0:
        tangent = -tangent
    radial = unit(rel) * (orbit_r - radius) * gain
    return saturate(unit(tangent) * max_speed + radial, max_speed)

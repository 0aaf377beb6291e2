"""Scripted recovery controllers: from a near-failure state, back to one the task can go on from.

Push tasks: stop pushing and back the hand away from the hazard (the object then rests, the
object cannot slide into the hazard on its own). Soccer: get in front of the ball and nudge it
back towards the middle of the area.
"""

from __future__ import annotations

from functools import partial

from typing import Any, Callable

import numpy as np

from ..tasks.failurebench import TASKS as FAILUREBENCH_TASKS
from ..tasks import BoundedSoccerSpec, DisturbedPushSpec, FragilePushWallSpec
from .pushing import push_velocity, saturate, unit


class DisturbedPushRecovery:
    def __init__(self, spec: DisturbedPushSpec = DisturbedPushSpec()):
        self.spec = spec

    def __call__(self, state: np.ndarray) -> np.ndarray:
        s, L = self.spec, self.spec.layout
        ee, puck, obs = (L.get(state, k) for k in ("ee", "puck", "obstacle"))
        v = unit(ee - obs) * s.max_speed + unit(ee - puck) * 0.5 * s.max_speed
        return s.velocity_to_action(saturate(v, s.max_speed))


class FragilePushWallRecovery:
    def __init__(self, spec: FragilePushWallSpec = FragilePushWallSpec()):
        self.spec = spec

    def __call__(self, state: np.ndarray) -> np.ndarray:
        s, L = self.spec, self.spec.layout
        ee, cube = L.get(state, "ee"), L.get(state, "cube")
        away = unit(ee - cube)
        if not away.any():
            away = np.array([-1.0, 0.0])
        return s.velocity_to_action(away * s.max_speed)


class BoundedSoccerRecovery:
    def __init__(self, spec: BoundedSoccerSpec = BoundedSoccerSpec()):
        self.spec = spec
        self.center = np.array([np.mean(spec.bounds_x), np.mean(spec.bounds_y)])

    def __call__(self, state: np.ndarray) -> np.ndarray:
        s, L = self.spec, self.spec.layout
        ee, ball, ball_v = L.get(state, "ee"), L.get(state, "ball"), L.get(state, "ball_v")
        predicted = ball + ball_v * 0.2
        contact = s.ball_radius + s.tcp_radius
        v = push_velocity(ee, predicted, self.center, contact, s.max_speed, push_speed=0.05, orbit_margin=0.02)
        return s.velocity_to_action(saturate(v, s.max_speed))


def _failurebench_recovery(task: str):
    from ..failurebench.scripted import RecoveryController

    return RecoveryController(task)


RECOVERY: dict[str, Callable[..., Any]] = {
    "disturbed_push": DisturbedPushRecovery,
    "fragile_push_wall": FragilePushWallRecovery,
    "bounded_soccer": BoundedSoccerRecovery,
    **{f"fb_{t}": partial(_failurebench_recovery, t) for t in FAILUREBENCH_TASKS},
}

"""Scripted task experts: what a careful teleoperator does. They read only the state vector (the
same one perception estimates on the robot) and return normalised actions in [-1, 1]^2.
"""

from __future__ import annotations

from functools import partial

from typing import Any, Callable

import numpy as np

from ..tasks.failurebench import TASKS as FAILUREBENCH_TASKS
from ..tasks import BoundedSoccerSpec, DisturbedPushSpec, FragilePushWallSpec
from ..tasks.spec import point_box_distance, point_segment_distance
from .pushing import push_velocity, saturate, unit


def repel(ee: np.ndarray, hazard: np.ndarray, gap: float, zone: float, speed: float) -> np.ndarray:
    """Velocity pushing the TCP away from a hazard when closer than ``zone`` (gap in metres)."""
    if gap >= zone:
        return np.zeros(2)
    return unit(ee - hazard) * speed * (zone - gap) / zone * 1.5


class DisturbedPushExpert:
    """Push the puck to the target; wait while the pot is in the puck's way, keep the hand clear."""

    def __init__(
        self, spec: DisturbedPushSpec = DisturbedPushSpec(), lookahead: float = 0.12, path_clearance: float = 0.03, hand_zone: float = 0.05
    ):
        self.spec, self.lookahead = spec, lookahead
        self.path_clearance, self.hand_zone = path_clearance, hand_zone

    def __call__(self, state: np.ndarray) -> np.ndarray:
        s, L = self.spec, self.spec.layout
        ee, puck, obs, obs_v, target = (L.get(state, k) for k in ("ee", "puck", "obstacle", "obstacle_v", "target"))
        dist = float(np.linalg.norm(target - puck))
        contact = s.puck_radius + s.tcp_radius
        push_speed = float(np.clip(1.2 * dist, 0.04, 0.11))
        v = push_velocity(ee, puck, target, contact, s.max_speed, push_speed)
        if dist < s.success_radius * 0.4:
            v = np.zeros(2)
        ahead = puck + unit(target - puck) * min(self.lookahead, dist)
        predicted = obs + obs_v * 0.4
        for o in (obs, predicted):
            if point_segment_distance(o, puck, ahead) < s.puck_radius + s.obstacle_radius + self.path_clearance:
                v = np.zeros(2)  # the pot is in the way: wait for the person to move it
        for o in (obs, predicted):
            gap = float(np.linalg.norm(ee - o)) - s.finger_reach - s.obstacle_radius
            v = v + repel(ee, o, gap, self.hand_zone, s.max_speed)
        return s.velocity_to_action(saturate(v, s.max_speed))


class FragilePushWallExpert:
    """Push the cube along the route around the wall's free end, slowly near the wall."""

    def __init__(self, spec: FragilePushWallSpec = FragilePushWallSpec()):
        self.spec = spec

    def __call__(self, state: np.ndarray) -> np.ndarray:
        s, L = self.spec, self.spec.layout
        ee, cube, target = (L.get(state, k) for k in ("ee", "cube", "target"))
        goal = s.route(cube, target)[0]
        dist = float(np.linalg.norm(goal - cube))
        contact = s.cube_half * 1.2 + s.tcp_radius
        final = np.allclose(goal, target)
        push_speed = float(np.clip(1.2 * dist, 0.04, 0.1)) if final else 0.1
        v = push_velocity(ee, cube, goal, contact, s.max_speed, push_speed)
        if final and dist < s.success_radius * 0.4:
            v = np.zeros(2)
        wall_c, wall_h = np.array(s.wall_center), np.array(s.wall_half)
        gap = point_box_distance(ee, wall_c, wall_h) - s.tcp_radius
        nearest = np.clip(ee, wall_c - wall_h, wall_c + wall_h)
        v = v + repel(ee, nearest, gap, 0.03, s.max_speed)
        return s.velocity_to_action(saturate(v, s.max_speed))


class BoundedSoccerExpert:
    """Dribble the ball to the target: gentle touches, aiming at where the ball will be."""

    def __init__(self, spec: BoundedSoccerSpec = BoundedSoccerSpec()):
        self.spec = spec

    def __call__(self, state: np.ndarray) -> np.ndarray:
        s, L = self.spec, self.spec.layout
        ee, ball, ball_v, target = (L.get(state, k) for k in ("ee", "ball", "ball_v", "target"))
        predicted = ball + ball_v * 0.3
        dist = float(np.linalg.norm(target - predicted))
        if dist < s.success_radius * 0.5:
            return np.zeros(2)
        contact = s.ball_radius + s.tcp_radius
        push_speed = float(np.clip(0.5 * dist, 0.03, 0.09))
        v = push_velocity(ee, predicted, target, contact, s.max_speed, push_speed)
        return s.velocity_to_action(saturate(v, s.max_speed))


def _failurebench_expert(task: str):
    from ..failurebench.scripted import Expert  # Meta-World's scripted policies, loaded on demand

    return Expert(task)


EXPERTS: dict[str, Callable[[], Any]] = {
    "disturbed_push": DisturbedPushExpert,
    "fragile_push_wall": FragilePushWallExpert,
    "bounded_soccer": BoundedSoccerExpert,
    **{f"fb_{t}": partial(_failurebench_expert, t) for t in FAILUREBENCH_TASKS},
}

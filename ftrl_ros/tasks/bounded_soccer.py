"""Bounded Soccer: kick a ball to a goal target on uneven turf without it leaving the area.

IR failure: the ball leaves the bounded area (it would roll off the table / out of reach).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .spec import StateLayout, TaskSpec, Workspace, push_reward_terms

LAYOUT = StateLayout(
    [
        "ee_x",
        "ee_y",
        "ee_vx",
        "ee_vy",  # TCP position (m) and velocity (m/s)
        "ball_x",
        "ball_y",  # ball centre, from perception
        "ball_vx",
        "ball_vy",  # ball velocity from the tracker, m/s
        "target_x",
        "target_y",  # goal marker centre
    ]
)


@dataclass(frozen=True)
class BoundedSoccerSpec(TaskSpec):
    name: str = "bounded_soccer"
    layout: StateLayout = LAYOUT
    workspace: Workspace = Workspace(x=(0.35, 0.75), y=(-0.25, 0.25))
    max_speed: float = 0.3
    max_episode_steps: int = 50
    ball_radius: float = 0.025
    bounds_x: tuple[float, float] = (0.36, 0.82)
    bounds_y: tuple[float, float] = (-0.17, 0.17)
    """The bounded area (m): the ball's centre leaving it is an IR failure."""
    success_radius: float = 0.06
    recovered_margin: float = 0.08
    """A ball this far (m) inside the bounds and at rest or rolling inwards is safe again."""
    extra: dict = field(default_factory=dict)

    def reward_terms(self, state: np.ndarray) -> dict[str, float]:
        ee, ball, target = (self.layout.get(state, k) for k in ("ee", "ball", "target"))
        place = float(np.linalg.norm(ball - target))
        return push_reward_terms(ee, ball, self.ball_radius + self.tcp_radius, place, 0.15, place < self.success_radius)

    def success(self, state: np.ndarray) -> bool:
        ball, target = self.layout.get(state, "ball"), self.layout.get(state, "target")
        return bool(np.linalg.norm(ball - target) < self.success_radius)

    def constraint(self, state: np.ndarray) -> bool:
        return bool(self.hazard_gap(state)[0] < 0.0)

    def hazard_gap(self, states: np.ndarray) -> np.ndarray:
        """The ball centre's distance to the nearest boundary, negative outside."""
        ball = self.layout.get(np.array(states, np.float64, ndmin=2), "ball")
        x, y = ball[:, 0], ball[:, 1]
        return np.min(np.stack([x - self.bounds_x[0], self.bounds_x[1] - x, y - self.bounds_y[0], self.bounds_y[1] - y]), axis=0)

    def recovered(self, state: np.ndarray) -> bool:
        (x, y), v = self.layout.get(state, "ball"), self.layout.get(state, "ball_v")
        margin = min(x - self.bounds_x[0], self.bounds_x[1] - x, y - self.bounds_y[0], self.bounds_y[1] - y)
        center = np.array([np.mean(self.bounds_x), np.mean(self.bounds_y)])
        inward = float(np.dot(v, center - np.array([x, y]))) >= 0.0
        return margin > self.recovered_margin and (float(np.linalg.norm(v)) < 0.05 or inward)

"""Fragile Push Wall: push a fragile cube to a target behind a low wall, around the wall's end.

IR failure: the cube touches the wall (it would be damaged).
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
        "cube_x",
        "cube_y",  # fragile cube centre, from perception
        "target_x",
        "target_y",  # goal marker centre
    ]
)


@dataclass(frozen=True)
class FragilePushWallSpec(TaskSpec):
    name: str = "fragile_push_wall"
    layout: StateLayout = LAYOUT
    workspace: Workspace = Workspace(x=(0.35, 0.75), y=(-0.25, 0.25))
    max_speed: float = 0.15
    max_episode_steps: int = 100
    cube_half: float = 0.025
    wall_center: tuple[float, float] = (0.60, -0.04)
    wall_half: tuple[float, float] = (0.01, 0.10)
    """Wall footprint half extents (m): thin in x, spanning y in [-0.14, 0.06]."""
    wall_clearance: float = 0.02
    """Gap (m) between the cube's corner and the wall's free end along the route."""
    success_radius: float = 0.05
    contact_margin: float = 0.004
    extra: dict = field(default_factory=dict)

    @property
    def via_points(self) -> tuple[np.ndarray, np.ndarray]:
        """The route around the wall's free (+y) end: (before the wall, past the wall)."""
        cx, cy = self.wall_center
        y = cy + self.wall_half[1] + self.cube_half * np.sqrt(2.0) + self.wall_clearance
        return (np.array([cx - self.wall_half[0] - 0.05, y]), np.array([cx + self.wall_half[0] + 0.05, y]))

    def route(self, cube: np.ndarray, target: np.ndarray) -> list[np.ndarray]:
        """Waypoints the cube still has to visit, decided from its position alone (Markov)."""
        before, past = self.via_points
        tol = 0.015
        if cube[0] >= past[0] - tol:
            return [target]
        if cube[0] < before[0] + tol and cube[1] < before[1] - tol:
            return [before, past, target]
        return [past, target]

    def route_distance(self, cube: np.ndarray, target: np.ndarray) -> float:
        """Length of the route the cube still has to travel (m)."""
        points = [np.asarray(cube), *self.route(cube, target)]
        return float(sum(np.linalg.norm(b - a) for a, b in zip(points[:-1], points[1:])))

    def reward_terms(self, state: np.ndarray) -> dict[str, float]:
        ee, cube, target = (self.layout.get(state, k) for k in ("ee", "cube", "target"))
        return push_reward_terms(
            ee,
            cube,
            self.cube_half * 1.2 + self.tcp_radius,
            self.route_distance(cube, target),
            0.25,
            bool(np.linalg.norm(cube - target) < self.success_radius),
        )

    def success(self, state: np.ndarray) -> bool:
        cube, target = self.layout.get(state, "cube"), self.layout.get(state, "target")
        return bool(np.linalg.norm(cube - target) < self.success_radius)

    def constraint(self, state: np.ndarray) -> bool:
        return bool(self.hazard_gap(state)[0] < 0.0)

    def hazard_gap(self, states: np.ndarray) -> np.ndarray:
        """Cube-to-wall clearance less the margin. The cube's yaw is not estimated, so it is
        treated as a disc of its half-diagonal: conservative."""
        cube = self.layout.get(np.array(states, np.float64, ndmin=2), "cube")
        d = np.linalg.norm(np.maximum(np.abs(cube - np.array(self.wall_center)) - np.array(self.wall_half), 0.0), axis=-1)
        return d - (self.cube_half * np.sqrt(2.0) + self.contact_margin)

    def moved(self, states: np.ndarray, dt: float) -> np.ndarray:
        """The hand moves with its velocity; the cube has no velocity estimate, so it is taken to
        move with the hand while the fingers are on it (pushing) and to rest otherwise."""
        out = super().moved(states, dt)
        s = np.array(states, np.float64, ndmin=2)
        ee, cube, v = (self.layout.get(s, k) for k in ("ee", "cube", "ee_v"))
        pushing = np.linalg.norm(ee - cube, axis=-1) < self.tcp_radius + self.cube_half * np.sqrt(2.0) + 0.01
        out[:, self.layout.columns("cube")] += np.where(pushing[:, None], v * dt, 0.0)
        return out

    def recovered(self, state: np.ndarray) -> bool:
        ee, cube = self.layout.get(state, "ee"), self.layout.get(state, "cube")
        hand_gap = float(np.linalg.norm(ee - cube)) - self.tcp_radius - self.cube_half * np.sqrt(2.0)
        return not self.constraint(state) and hand_gap > 0.02

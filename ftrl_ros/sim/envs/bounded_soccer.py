"""Bounded Soccer in MuJoCo: a rolling ball on turf whose bumps and friction change every episode."""

from __future__ import annotations

import numpy as np

from ...tasks.bounded_soccer import BoundedSoccerSpec
from ..env import TaskEnv

N_BUMPS = 6


class BoundedSoccerEnv(TaskEnv):
    spec_task: BoundedSoccerSpec

    def __init__(self, render_mode: str | None = None, **kwargs):
        super().__init__(BoundedSoccerSpec(), render_mode, **kwargs)
        self.target = np.zeros(2)
        self._bumps = [self.model.geom(f"bump{i}").id for i in range(N_BUMPS)]
        self._ball_geom = self.model.geom("ball").id
        self._turf = self.model.geom("turf").id

    def _sample_start(self, mode: str) -> dict:
        rng, s = self.np_random, self.spec_task
        target = np.array([rng.uniform(0.70, 0.75), rng.uniform(-0.08, 0.08)])
        surface = {
            "bumps": np.column_stack([rng.uniform(0.42, 0.80, N_BUMPS), rng.uniform(-0.15, 0.15, N_BUMPS)]),
            "sliding": rng.uniform(0.4, 0.8),
            "rolling": rng.uniform(0.0005, 0.002),
        }
        velocity = np.zeros(2)
        if mode == "nominal":
            ball = np.array([rng.uniform(0.45, 0.50), rng.uniform(-0.08, 0.08)])
            kick = (target - ball) / np.linalg.norm(target - ball)
            ee = ball - kick * (s.ball_radius + s.tcp_radius + rng.uniform(0.03, 0.07))
        else:  # near failure, close to a side line: about to be kicked out, or rolling out slowly
            side = rng.choice([-1.0, 1.0])
            edge = s.bounds_y[1] if side > 0 else s.bounds_y[0]
            contact = s.ball_radius + s.tcp_radius
            if rng.random() < 0.5:
                ball = np.array([rng.uniform(0.47, 0.68), edge - side * rng.uniform(0.03, 0.06)])
                ee = ball + np.array([rng.uniform(-0.01, 0.01), -side * (contact + rng.uniform(0.005, 0.02))])
            else:
                ball = np.array([rng.uniform(0.47, 0.68), edge - side * rng.uniform(0.05, 0.08)])
                velocity = np.array([rng.uniform(-0.03, 0.03), side * rng.uniform(0.06, 0.12)])
                ee = ball + np.array([rng.choice([-1.0, 1.0]) * rng.uniform(0.05, 0.07), side * rng.uniform(0.02, 0.05)])
        return {"ee": ee, "ball": ball, "ball_velocity": velocity, "target": target, "surface": surface}

    def _apply_start(self, start: dict) -> None:
        surface = start["surface"]
        for gid, xy in zip(self._bumps, surface["bumps"]):
            self.model.geom_pos[gid, :2] = xy
        for gid in (self._ball_geom, self._turf):
            self.model.geom_friction[gid, 0] = surface["sliding"]
        self.model.geom_friction[self._ball_geom, 2] = surface["rolling"]
        self.set_free_body("ball", start["ball"], z=self.spec_task.ball_radius + 0.001, vel_xy=start["ball_velocity"])
        self.set_mocap("target", start["target"])
        self.target = start["target"].copy()

    def _positions(self) -> dict:
        return {"ball": self.body_xy("ball"), "target": self.target}

    def _velocity_keys(self) -> tuple[str, ...]:
        return ("ball",)

    def _initial_velocities(self, start: dict) -> dict[str, np.ndarray]:
        return {"ball": start["ball_velocity"]}

    def _state_failure(self, state: np.ndarray) -> bool:
        return self.spec_task.constraint(state)

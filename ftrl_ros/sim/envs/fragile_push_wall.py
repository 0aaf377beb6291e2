"""Fragile Push Wall in MuJoCo: a free cube, a static wall; cube-wall contact is the IR failure."""

from __future__ import annotations

import numpy as np

from ...tasks.fragile_push_wall import FragilePushWallSpec
from ..env import TaskEnv


class FragilePushWallEnv(TaskEnv):
    spec_task: FragilePushWallSpec

    def __init__(self, render_mode: str | None = None, **kwargs):
        super().__init__(FragilePushWallSpec(), render_mode, **kwargs)
        self._set_contact_failure(["cube"], ["wall"])
        self.target = np.zeros(2)

    def _sample_start(self, mode: str) -> dict:
        rng, s = self.np_random, self.spec_task
        wx, wy = s.wall_center
        wall_hi = wy + s.wall_half[1]
        target = np.array([rng.uniform(0.665, 0.69), rng.uniform(-0.10, -0.02)])
        yaw = rng.uniform(-0.2, 0.2)
        if mode == "nominal":
            cube = np.array([rng.uniform(0.525, 0.545), rng.uniform(-0.10, -0.02)])
            towards = s.via_points[0] - cube
            towards /= np.linalg.norm(towards)
            ee = cube - towards * (s.cube_half * 1.5 + s.tcp_radius + rng.uniform(0.03, 0.06))
        else:  # near failure: being pushed at the wall's face, or clipping its free end
            # start outside the (yaw-agnostic, conservative) constraint disc, but close to it
            gap = rng.uniform(0.016, 0.035)
            front = wx - s.wall_half[0] - s.cube_half - gap
            if rng.random() < 0.6:
                cube = np.array([front, rng.uniform(wy - s.wall_half[1] + 0.03, wall_hi - 0.03)])
            else:
                cube = np.array([front - rng.uniform(0.0, 0.02), wall_hi + rng.uniform(-0.01, 0.02)])
            yaw = 0.0
            ee = cube - np.array([s.cube_half + s.tcp_radius + 0.004, 0.0])
        return {"ee": ee, "cube": cube, "yaw": yaw, "target": target}

    def _apply_start(self, start: dict) -> None:
        self.set_free_body("cube", start["cube"], z=self.spec_task.cube_half, yaw=start["yaw"])
        self.set_mocap("target", start["target"])
        self.target = start["target"].copy()

    def _positions(self) -> dict:
        return {"cube": self.body_xy("cube"), "target": self.target}

"""Disturbed Push in MuJoCo: the scripted person moves the flower pot (a mocap body)."""

from __future__ import annotations

import numpy as np

from ...tasks.disturbed_push import DisturbedPushSpec
from ..disturbance import DisturbanceConfig, ScriptedPerson
from ..env import TaskEnv


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


class DisturbedPushEnv(TaskEnv):
    spec_task: DisturbedPushSpec

    def __init__(self, render_mode: str | None = None, disturbance: DisturbanceConfig = DisturbanceConfig(), **kwargs):
        super().__init__(DisturbedPushSpec(), render_mode, **kwargs)
        s = self.spec_task
        self.person = ScriptedPerson(disturbance, s.obstacle_radius, s.puck_radius, s.finger_reach)
        self._set_contact_failure(["obstacle"], ["puck"], robot=True)
        self.target = np.zeros(2)

    def _sample_start(self, mode: str) -> dict:
        rng, s = self.np_random, self.spec_task
        puck = np.array([rng.uniform(0.43, 0.48), rng.uniform(-0.10, 0.10)])
        target = np.array([rng.uniform(0.64, 0.70), rng.uniform(-0.12, 0.12)])
        push = _unit(target - puck)
        side = np.array([-push[1], push[0]])
        if mode == "nominal":
            ee = puck - push * (s.puck_radius + s.tcp_radius + rng.uniform(0.03, 0.08)) + side * rng.uniform(-0.02, 0.02)
            obstacle = np.array([rng.uniform(0.48, 0.72), rng.choice([-1.0, 1.0]) * rng.uniform(0.18, 0.22)])
            hold = rng.uniform(*self.person.cfg.dwell)
        else:  # near failure: pushing with the pot just ahead of the puck (or of the fingers)
            ee = puck - push * (s.puck_radius + s.tcp_radius + 0.004)
            gap = rng.uniform(0.008, 0.03)
            if rng.random() < 0.75:
                obstacle = puck + push * (s.puck_radius + s.obstacle_radius + gap) + side * rng.uniform(-0.02, 0.02)
            else:
                obstacle = ee + side * rng.choice([-1.0, 1.0]) * (s.finger_reach + s.obstacle_radius + gap)
            hold = 3.0  # the person has just put it there and lets go for a while
        return {"ee": ee, "puck": puck, "target": target, "obstacle": obstacle, "hold": hold}

    def _apply_start(self, start: dict) -> None:
        self.set_free_body("puck", start["puck"], z=0.02)
        self.set_mocap("target", start["target"])
        self.set_mocap("obstacle", start["obstacle"])
        self.target = start["target"].copy()
        self.person.reset(start["obstacle"], self.np_random)
        self.person.wait = float(start["hold"])

    def _positions(self) -> dict:
        return {"puck": self.body_xy("puck"), "obstacle": self.person.position.copy(), "target": self.target}

    def _velocity_keys(self) -> tuple[str, ...]:
        return ("obstacle",)

    def _before_chunk(self, dt: float) -> None:
        pos = self.person.step(dt, self.np_random, self.body_xy("puck"), self.controller.tcp(self.data)[:2], self.target)
        self.set_mocap("obstacle", pos)

"""A scripted 'person' who keeps moving the fragile flower pot around the table.

It imitates the operator in the paper's Disturbed Push task: random waypoints at human speed with
random pauses, and with probability ``p_into_path`` a waypoint right in the puck's way to the
target. The person is careful: they never move the pot into the puck or the robot themselves
(they pause and then pick another spot), so every contact is caused by the robot.
Randomness comes only from the generator passed in (the env's ``np_random``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DisturbanceConfig:
    speed: tuple[float, float] = (0.05, 0.14)
    """Range of carrying speeds, m/s."""
    dwell: tuple[float, float] = (0.4, 2.0)
    """Range of pauses at a waypoint, s."""
    p_into_path: float = 0.5
    """Probability that the next waypoint lies on the puck's path to the target."""
    region_x: tuple[float, float] = (0.45, 0.75)
    region_y: tuple[float, float] = (-0.22, 0.22)
    clearance: float = 0.015
    """Gap (m) the person keeps between the pot and the puck / the robot's fingers."""
    give_up_after: float = 1.0
    """Seconds of being blocked before the person picks another waypoint."""


class ScriptedPerson:
    def __init__(self, config: DisturbanceConfig, obstacle_radius: float, puck_radius: float, tcp_radius: float):
        self.cfg = config
        self.r_obs, self.r_puck, self.r_tcp = obstacle_radius, puck_radius, tcp_radius
        self.position = np.zeros(2)
        self.waypoint: np.ndarray | None = None
        self.speed = 0.0
        self.wait = 0.0
        self.blocked = 0.0

    def reset(self, position: np.ndarray, rng: np.random.Generator) -> None:
        self.position = np.asarray(position, float).copy()
        self.waypoint = None
        self.wait = float(rng.uniform(*self.cfg.dwell))
        self.blocked = 0.0

    def _too_close(self, p: np.ndarray, puck: np.ndarray, tcp: np.ndarray) -> bool:
        c = self.cfg.clearance
        return bool(np.linalg.norm(p - puck) < self.r_obs + self.r_puck + c or np.linalg.norm(p - tcp) < self.r_obs + self.r_tcp + c)

    def _pick(self, rng: np.random.Generator, puck: np.ndarray, tcp: np.ndarray, target: np.ndarray) -> np.ndarray:
        lo = np.array([self.cfg.region_x[0], self.cfg.region_y[0]])
        hi = np.array([self.cfg.region_x[1], self.cfg.region_y[1]])
        for _ in range(20):
            if rng.random() < self.cfg.p_into_path:
                path = target - puck
                normal = np.array([-path[1], path[0]]) / max(np.linalg.norm(path), 1e-9)
                p = puck + rng.uniform(0.35, 0.9) * path + rng.uniform(-0.03, 0.03) * normal
            else:
                p = rng.uniform(lo, hi)
            p = np.clip(p, lo, hi)
            if not self._too_close(p, puck, tcp):
                return p
        return self.position.copy()

    def step(self, dt: float, rng: np.random.Generator, puck: np.ndarray, tcp: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Advance ``dt`` seconds; returns the pot's new (x, y)."""
        if self.wait > 0.0:
            self.wait -= dt
            return self.position
        if self.waypoint is None:
            self.waypoint = self._pick(rng, puck, tcp, target)
            self.speed = float(rng.uniform(*self.cfg.speed))
        delta = self.waypoint - self.position
        dist = float(np.linalg.norm(delta))
        move = min(dist, self.speed * dt)
        nxt = self.position + (delta / dist * move if dist > 1e-9 else 0.0)
        if self._too_close(nxt, puck, tcp) and not self._too_close(self.position, puck, tcp):
            self.blocked += dt
            if self.blocked > self.cfg.give_up_after:
                self.waypoint, self.blocked = None, 0.0
            return self.position
        self.blocked = 0.0
        self.position = nxt
        if move >= dist - 1e-9:
            self.waypoint = None
            self.wait = float(rng.uniform(*self.cfg.dwell))
        return self.position

"""A small per-object tracker: constant-velocity alpha-beta filter on (x, y) with outlier gating
and a staleness flag. Gives the ball/obstacle velocities the state needs and drops single-frame
mis-detections."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrackerConfig:
    alpha: float = 1.0
    """Position correction gain (1 = trust each measurement fully: measured positions are
    accurate to millimetres here, and any smoothing lags a pushed object by centimetres)."""
    beta: float = 0.5
    """Velocity correction gain."""
    gate: float = 0.05
    """A measurement further than ``gate + gate_speed * dt`` (m) from the prediction is an outlier."""
    gate_speed: float = 0.5
    """Fastest plausible object speed, m/s (gives the gate room after a dropped frame)."""
    reacquire_after: int = 3
    """Consecutive outliers after which the track jumps to the new position (the object was moved)."""
    stale_after: float = 0.4
    """Seconds without an accepted measurement after which the track is stale (two 5 Hz
    control periods); a stale track restarts from the next measurement."""
    max_speed: float = 2.0
    """Velocity estimates are clipped to this (m/s)."""


class Track:
    def __init__(self, cfg: TrackerConfig = TrackerConfig()):
        self.cfg = cfg
        self.pos: np.ndarray | None = None
        self.vel = np.zeros(2)
        self.t_last: float | None = None
        self.rejected = 0

    def predict(self, t: float) -> np.ndarray | None:
        if self.pos is None or self.t_last is None:
            return None
        return self.pos + self.vel * (t - self.t_last)

    def update(self, t: float, xy: np.ndarray) -> bool:
        """Feed a measurement taken at time ``t`` (s); returns whether it was accepted."""
        xy = np.asarray(xy, float)
        if not np.all(np.isfinite(xy)):
            return False
        if self.pos is None or self.t_last is None or self.stale(t):  # nothing to gate against: start afresh
            self.pos, self.vel, self.t_last, self.rejected = xy.copy(), np.zeros(2), t, 0
            return True
        dt = t - self.t_last
        if dt <= 0:
            return False
        pred = self.pos + self.vel * dt
        if np.linalg.norm(xy - pred) > self.cfg.gate + self.cfg.gate_speed * dt:
            self.rejected += 1
            if self.rejected < self.cfg.reacquire_after:
                return False
            self.pos, self.vel, self.t_last, self.rejected = xy.copy(), np.zeros(2), t, 0
            return True
        residual = xy - pred
        self.pos = pred + self.cfg.alpha * residual
        vel = self.vel + self.cfg.beta * residual / dt
        speed = np.linalg.norm(vel)
        self.vel = vel * (self.cfg.max_speed / speed) if speed > self.cfg.max_speed else vel
        self.t_last, self.rejected = t, 0
        return True

    def stale(self, now: float) -> bool:
        return self.t_last is None or now - self.t_last > self.cfg.stale_after

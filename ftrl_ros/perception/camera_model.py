"""Pinhole camera model shared by the simulator and the real RealSense pipeline: intrinsics (what
CameraInfo carries) and the camera's pose in the robot base frame (the extrinsic calibration)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole model, pixels. Defaults: D435 colour stream at 640x480."""

    width: int = 640
    height: int = 480
    fx: float = 615.0
    fy: float = 615.0
    cx: float = 320.0
    cy: float = 240.0

    @property
    def fovy_deg(self) -> float:
        return float(np.degrees(2.0 * np.arctan(self.height / (2.0 * self.fy))))

    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])


@dataclass(frozen=True)
class CameraPose:
    """Camera placed at ``position`` looking at ``look_at`` (robot base frame, metres)."""

    position: tuple[float, float, float] = (1.12, 0.0, 0.80)
    look_at: tuple[float, float, float] = (0.57, 0.0, 0.0)

    def rotation(self) -> np.ndarray:
        """World-from-camera rotation in the OpenCV optical convention (x right, y down, z forward).
        Computed once per pose (read-only array): perception uses it for every object of every frame."""
        cached = self.__dict__.get("_rotation")
        if cached is not None:
            return cached
        z = np.asarray(self.look_at, float) - np.asarray(self.position, float)
        z /= np.linalg.norm(z)
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        r = np.stack([x, y, z], axis=1)
        r.setflags(write=False)
        self.__dict__["_rotation"] = r
        return r

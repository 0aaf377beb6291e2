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
    """Camera placed at ``position`` looking at ``look_at`` (robot base frame, metres), turned by
    ``roll`` (rad) about its optical axis (0: image x axis level with the table)."""

    position: tuple[float, float, float] = (1.12, 0.0, 0.80)
    look_at: tuple[float, float, float] = (0.57, 0.0, 0.0)
    roll: float = 0.0

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
        c, s = np.cos(self.roll), np.sin(self.roll)
        r = np.stack([c * x + s * y, -s * x + c * y, z], axis=1)
        r.setflags(write=False)
        self.__dict__["_rotation"] = r
        return r

    @staticmethod
    def from_rotation(position, rotation: np.ndarray, table_z: float = 0.0) -> "CameraPose":
        """The pose of a camera at ``position`` with world-from-camera ``rotation`` (optical
        convention); ``look_at`` is where the optical axis meets the table plane (or 1 m ahead)."""
        p = np.asarray(position, float)
        r = np.asarray(rotation, float)
        z = r[:, 2]
        dist = (table_z - p[2]) / z[2] if z[2] < -1e-6 else 1.0
        level = CameraPose(tuple(p), tuple(p + dist * z)).rotation()
        roll = float(np.arctan2(np.dot(r[:, 0], level[:, 1]), np.dot(r[:, 0], level[:, 0])))
        at = p + dist * z
        return CameraPose((float(p[0]), float(p[1]), float(p[2])), (float(at[0]), float(at[1]), float(at[2])), roll)

"""A RealSense D435-like camera: intrinsics, its pose, and a headless RGB + metric depth renderer.

The same intrinsics/extrinsics are what ``camera_info`` carries on the real robot, so perception
code is tested against exactly the geometry it will see.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
import mujoco  # noqa: E402  (MUJOCO_GL must be set before import)


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
        """World-from-camera rotation in the OpenCV optical convention (x right, y down, z forward)."""
        z = np.asarray(self.look_at, float) - np.asarray(self.position, float)
        z /= np.linalg.norm(z)
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        return np.stack([x, y, z], axis=1)

    def mujoco_quat(self) -> np.ndarray:
        """MuJoCo cameras look along -z with y up: R_mj = [x_cv, -y_cv, -z_cv]."""
        r = self.rotation()
        r_mj = np.stack([r[:, 0], -r[:, 1], -r[:, 2]], axis=1)
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, r_mj.reshape(-1))
        return quat


CAMERA_NAME = "realsense"


def add_camera(spec: "mujoco.MjSpec", intr: Intrinsics, pose: CameraPose) -> None:
    spec.worldbody.add_camera(name=CAMERA_NAME, pos=list(pose.position), quat=list(pose.mujoco_quat()),
                              fovy=intr.fovy_deg)


class RGBDRenderer:
    """Offscreen RGB (uint8 HxWx3) and depth (float32 metres) from the task camera.

    Shadows, reflections and skybox are off: that is what makes 640x480 RGB-D run at ~30 fps
    on a CPU-only machine with EGL/OSMesa.
    """

    def __init__(self, model: "mujoco.MjModel", intr: Intrinsics = Intrinsics()):
        self.intr = intr
        self._rgb = mujoco.Renderer(model, height=intr.height, width=intr.width)
        self._depth = mujoco.Renderer(model, height=intr.height, width=intr.width)
        self._depth.enable_depth_rendering()
        for r in (self._rgb, self._depth):
            flags = r.scene.flags
            flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
            flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
            flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = False

    def rgb(self, data: "mujoco.MjData") -> np.ndarray:
        self._rgb.update_scene(data, camera=CAMERA_NAME)
        return self._rgb.render()

    def depth(self, data: "mujoco.MjData") -> np.ndarray:
        self._depth.update_scene(data, camera=CAMERA_NAME)
        return self._depth.render().astype(np.float32, copy=False)

    def rgbd(self, data: "mujoco.MjData") -> tuple[np.ndarray, np.ndarray]:
        return self.rgb(data), self.depth(data)

    def close(self) -> None:
        self._rgb.close()
        self._depth.close()

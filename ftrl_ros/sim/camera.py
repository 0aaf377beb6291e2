"""A RealSense D435-like camera: intrinsics, its pose, and a headless RGB + metric depth renderer.

The same intrinsics/extrinsics are what ``camera_info`` carries on the real robot, so perception
code is tested against exactly the geometry it will see.
"""

from __future__ import annotations

import os

import mujoco
import numpy as np

from ..perception.camera_model import CameraPose, Intrinsics

__all__ = ["CameraPose", "Intrinsics", "CAMERA_NAME", "add_camera", "RGBDRenderer", "mujoco_quat"]


CAMERA_NAME = "realsense"


def mujoco_quat(pose: CameraPose) -> np.ndarray:
    """MuJoCo cameras look along -z with y up: R_mj = [x_cv, -y_cv, -z_cv]."""
    r = pose.rotation()
    r_mj = np.stack([r[:, 0], -r[:, 1], -r[:, 2]], axis=1)
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, r_mj.reshape(-1))
    return quat


def add_camera(spec: "mujoco.MjSpec", intr: Intrinsics, pose: CameraPose) -> None:
    spec.worldbody.add_camera(name=CAMERA_NAME, pos=list(pose.position), quat=list(mujoco_quat(pose)), fovy=intr.fovy_deg)


def _gl_context(width: int, height: int):
    """A headless GL context by MUJOCO_GL (egl default, osmesa, or glfw), whatever mujoco chose
    at import time (it reads MUJOCO_GL only then)."""
    backend = os.environ.get("MUJOCO_GL", "egl").lower()
    if backend == "egl":
        from mujoco.egl import GLContext
    elif backend == "osmesa":
        from mujoco.osmesa import GLContext
    else:
        from mujoco.gl_context import GLContext
    return GLContext(width, height)


class RGBDRenderer:
    """Offscreen RGB (uint8 HxWx3) and depth (float32 metres, HxW) from the task camera.

    One render pass gives both images (``mjr_readPixels`` reads the colour and the depth buffer),
    with shadows, reflections and skybox off: that is what keeps 640x480 RGB-D above 30 fps on a
    CPU-only machine with EGL/OSMesa.
    """

    def __init__(self, model: "mujoco.MjModel", intr: Intrinsics = Intrinsics()):
        self.intr, self.model = intr, model
        w, h = intr.width, intr.height
        if w > model.vis.global_.offwidth or h > model.vis.global_.offheight:
            raise ValueError(f"{w}x{h} exceeds the model's offscreen buffer; raise <visual><global offwidth/offheight>")
        self._gl = _gl_context(w, h)
        self._gl.make_current()
        self._ctx = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_150.value)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN.value, self._ctx)
        self._scene = mujoco.MjvScene(model, maxgeom=2000)
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION, mujoco.mjtRndFlag.mjRND_SKYBOX):
            self._scene.flags[flag] = False
        self._option = mujoco.MjvOption()
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._camera.fixedcamid = model.camera(CAMERA_NAME).id
        self._rect = mujoco.MjrRect(0, 0, w, h)
        self._rgb = np.empty((h, w, 3), np.uint8)
        self._zbuf = np.empty((h, w), np.float32)
        extent = model.stat.extent
        self._near = model.vis.map.znear * extent
        self._far = model.vis.map.zfar * extent

    def rgbd(self, data: "mujoco.MjData") -> tuple[np.ndarray, np.ndarray]:
        if self._ctx is None:
            raise RuntimeError("renderer is closed")
        self._gl.make_current()
        mujoco.mjv_updateScene(self.model, data, self._option, None, self._camera, mujoco.mjtCatBit.mjCAT_ALL.value, self._scene)
        mujoco.mjr_render(self._rect, self._scene, self._ctx)
        mujoco.mjr_readPixels(self._rgb, self._zbuf, self._rect, self._ctx)
        # OpenGL rows start at the bottom; the z-buffer holds non-linear depth in [0, 1].
        rgb = np.flipud(self._rgb).copy()
        z = np.flipud(self._zbuf)
        depth = self._near / (1.0 - z * (1.0 - self._near / self._far))
        return rgb, depth.astype(np.float32)

    def segmentation(self, data: "mujoco.MjData", hidden_groups: tuple[int, ...] = ()) -> np.ndarray:
        """Geom id per pixel (int32 HxW, -1 where no geom): automatic labels for perception data.

        ``hidden_groups`` leaves geom groups out (the Panda's visual meshes are group 2), which
        gives an object's unoccluded footprint for visibility fractions.
        """
        self._gl.make_current()
        option = mujoco.MjvOption()
        for g in hidden_groups:
            option.geomgroup[g] = 0
        mujoco.mjv_updateScene(self.model, data, option, None, self._camera, mujoco.mjtCatBit.mjCAT_ALL.value, self._scene)
        flags = self._scene.flags
        flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = True
        try:
            mujoco.mjr_render(self._rect, self._scene, self._ctx)
            mujoco.mjr_readPixels(self._rgb, None, self._rect, self._ctx)
        finally:
            flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = False
        code = np.flipud(self._rgb).astype(np.int32)
        seg = code[..., 0] + (code[..., 1] << 8) + (code[..., 2] << 16) - 1  # scene geom index, -1 none
        lookup = np.full(self._scene.ngeom + 1, -1, np.int32)
        for i in range(self._scene.ngeom):
            g = self._scene.geoms[i]
            if g.objtype == mujoco.mjtObj.mjOBJ_GEOM:
                lookup[i] = g.objid
        seg[(seg < 0) | (seg >= self._scene.ngeom)] = self._scene.ngeom
        return lookup[seg]

    def rgb(self, data: "mujoco.MjData") -> np.ndarray:
        return self.rgbd(data)[0]

    def close(self) -> None:
        if self._ctx is not None:
            self._ctx.free()
            self._ctx = None
            self._gl.free()

"""The task scene with a ChArUco board lying on the table, seen by the task camera placed where
the caller says: what ``ftrl calibrate-camera --sim`` and the calibration tests look at. The
movable objects are hidden (an operator clears the table to calibrate); fixtures stay."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import mujoco
import numpy as np

from ..perception.calibration import ChArUcoTarget
from .camera import CAMERA_NAME, CameraPose, Intrinsics, RGBDRenderer, mujoco_quat
from .world import build_model

MOVABLE = ("puck", "obstacle", "bloom", "cube", "ball", "target")


def board_model(task: str, target: ChArUcoTarget, intr: Intrinsics = Intrinsics(), px_per_square: int = 100) -> mujoco.MjModel:
    folder = Path(tempfile.mkdtemp(prefix="charuco_"))
    png = folder / "board.png"
    cv2.imwrite(str(png), cv2.cvtColor(target.image(px_per_square), cv2.COLOR_GRAY2BGR))
    w, h = target.size
    board = target.base_from_board()
    # a plane's 2-D texture runs along its local x (image columns) and -y (image rows, first row
    # at +y): its frame is the board frame turned upside down about x, centred on the board
    x, y = board[:3, 0], board[:3, 1]
    rot = np.stack([x, -y, np.cross(x, -y)], axis=1)
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, rot.reshape(-1))
    centre = board[:3, 3] + x * w / 2 + y * h / 2  # the origin's z: the board's surface, above the table

    def decorate(spec: mujoco.MjSpec) -> None:
        spec.add_texture(name="charuco", type=mujoco.mjtTexture.mjTEXTURE_2D, file=str(png))
        mat = spec.add_material(name="charuco")
        mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "charuco"
        mat.texrepeat, mat.texuniform = [1, 1], False
        spec.worldbody.add_geom(
            name="charuco",
            type=mujoco.mjtGeom.mjGEOM_PLANE,
            size=[w / 2, h / 2, 0.01],
            pos=list(centre),
            quat=list(quat),
            material="charuco",
            contype=0,
            conaffinity=0,
        )

    model = build_model(task, intr, decorate=decorate)
    for name in MOVABLE:
        try:
            model.geom_rgba[model.geom(name).id, 3] = 0.0
        except KeyError:
            pass
    return model


def render_board(task: str, target: ChArUcoTarget, camera: CameraPose, intr: Intrinsics = Intrinsics()):
    """One RGB (uint8) + depth (m) frame of the board from ``camera``."""
    model = board_model(task, target, intr)
    cam = model.camera(CAMERA_NAME).id
    model.cam_pos[cam] = camera.position
    model.cam_quat[cam] = mujoco_quat(camera)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    renderer = RGBDRenderer(model, intr)
    try:
        return renderer.rgbd(data)
    finally:
        renderer.close()

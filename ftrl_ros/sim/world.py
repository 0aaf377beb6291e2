"""Compose a task scene (sim/<task>.xml) with the Franka Panda into one MuJoCo model."""

from __future__ import annotations

from typing import Callable

import mujoco

from .assets import panda_xml, scene_xml
from .camera import CameraPose, Intrinsics, add_camera

ROBOT_PREFIX = "panda/"
TCP_SITE = ROBOT_PREFIX + "tcp"
ARM_JOINTS = tuple(f"{ROBOT_PREFIX}joint{i}" for i in range(1, 8))
TCP_OFFSET = 0.1034
"""Franka hand flange to fingertip centre, metres (Franka's default TCP)."""


def panda_spec() -> mujoco.MjSpec:
    """The menagerie Panda, set up as it behaves on the real arm under a Cartesian controller.

    - gravity compensation on every link (the Franka controller compensates gravity itself);
    - collision class 2: the robot touches objects and walls, never the table or itself;
    - a ``tcp`` site between the closed fingertips, the point the policy moves.
    """
    spec = mujoco.MjSpec.from_file(str(panda_xml()))
    for geom in spec.geoms:
        if geom.contype or geom.conaffinity:
            geom.contype, geom.conaffinity = 2, 0
    for body in spec.bodies:
        body.gravcomp = 1.0
    spec.body("hand").add_site(name="tcp", pos=[0.0, 0.0, TCP_OFFSET], size=[0.005, 0.005, 0.005])
    return spec


def build_model(
    task: str,
    intrinsics: Intrinsics = Intrinsics(),
    camera: CameraPose = CameraPose(),
    decorate: Callable[[mujoco.MjSpec], None] | None = None,
) -> mujoco.MjModel:
    """``decorate`` may add purely visual things to the scene before compiling (the synthetic
    perception data adds textures and distractors); physics must not depend on it."""
    scene = mujoco.MjSpec.from_file(str(scene_xml(task)))
    scene.attach(panda_spec(), prefix=ROBOT_PREFIX, frame=scene.worldbody.add_frame())
    add_camera(scene, intrinsics, camera)
    if decorate is not None:
        decorate(scene)
    return scene.compile()

"""Compose a task scene (sim/<task>.xml) with the Franka Panda into one MuJoCo model."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

import mujoco
import numpy as np

from .assets import panda_xml, scene_xml
from .camera import CameraPose, Intrinsics, add_camera
from .mesh_lod import cluster_vertices

ROBOT_PREFIX = "panda/"
TCP_SITE = ROBOT_PREFIX + "tcp"
ARM_JOINTS = tuple(f"{ROBOT_PREFIX}joint{i}" for i in range(1, 8))
TCP_OFFSET = 0.1034
"""Franka hand flange to fingertip centre, metres (Franka's default TCP)."""
VISUAL_MESH_CELL = 0.004
"""Grid cell the Panda's large visual meshes are simplified on, m (0: as shipped). 4 mm is 2-3
pixels at the table: the arm renders ~1.8x faster and the estimator's output is unchanged
(``test_simplified_arm_does_not_change_the_estimate``; figures in ``ftrl bench-sim``)."""
MIN_FACES_TO_SIMPLIFY = 1000
"""Visual meshes with fewer triangles (fingers, small parts) are kept as shipped."""


def panda_spec(visual_mesh_cell: float = VISUAL_MESH_CELL) -> mujoco.MjSpec:
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
    if visual_mesh_cell > 0:
        for name, (vert, face) in _simplified_visual_meshes(str(panda_xml()), visual_mesh_cell).items():
            mesh = _mesh_by_name(spec, name)
            mesh.name, mesh.file = name, ""
            mesh.uservert, mesh.userface, mesh.usernormal = vert.reshape(-1).tolist(), face.reshape(-1).tolist(), []
    return spec


def _mesh_by_name(spec: mujoco.MjSpec, name: str):
    """Menagerie's visual meshes are unnamed: MuJoCo names them after their file."""
    for mesh in spec.meshes:
        if (mesh.name or Path(mesh.file).stem) == name:
            return mesh
    raise KeyError(f"no mesh {name!r} in the Panda model")


@functools.lru_cache(maxsize=4)
def _simplified_visual_meshes(xml: str, cell: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Simplified vertices (in the mesh file's frame) and faces of every large visual mesh, by
    name; computed once per process (~0.3 s) from the model MuJoCo compiles from the files."""
    spec = mujoco.MjSpec.from_file(xml)
    model = spec.compile()
    out = {}
    for geom in spec.geoms:
        if geom.type != mujoco.mjtGeom.mjGEOM_MESH or geom.contype or geom.conaffinity or geom.meshname in out:
            continue
        m = model.mesh(geom.meshname).id
        if model.mesh_facenum[m] < MIN_FACES_TO_SIMPLIFY:
            continue
        v0, nv = model.mesh_vertadr[m], model.mesh_vertnum[m]
        f0, nf = model.mesh_faceadr[m], model.mesh_facenum[m]
        # compiled vertices sit in the mesh's inertial frame: back to the file's frame
        rot = np.zeros(9)
        mujoco.mju_quat2Mat(rot, model.mesh_quat[m])
        vert = model.mesh_vert[v0 : v0 + nv].astype(np.float64) @ rot.reshape(3, 3).T + model.mesh_pos[m]
        out[geom.meshname] = cluster_vertices(vert, model.mesh_face[f0 : f0 + nf], cell)
    return out


def build_model(
    task: str,
    intrinsics: Intrinsics = Intrinsics(),
    camera: CameraPose = CameraPose(),
    decorate: Callable[[mujoco.MjSpec], None] | None = None,
    visual_mesh_cell: float = VISUAL_MESH_CELL,
) -> mujoco.MjModel:
    """``decorate`` may add purely visual things to the scene before compiling (the synthetic
    perception data adds textures and distractors); physics must not depend on it."""
    scene = mujoco.MjSpec.from_file(str(scene_xml(task)))
    scene.attach(panda_spec(visual_mesh_cell), prefix=ROBOT_PREFIX, frame=scene.worldbody.add_frame())
    add_camera(scene, intrinsics, camera)
    if decorate is not None:
        decorate(scene)
    return scene.compile()

"""Synthetic, automatically labelled camera frames from the sim tasks, with domain randomisation.

Labels come from MuJoCo's segmentation render (which geom each pixel shows), so boxes are the
visible extent of each object and need no hand labelling. Randomised per frame: lighting (key
light and headlight strength and direction), each object's colour within its hue band, table and
turf tint over a noise texture, flat coloured distractors on the table (tape, paper, some in the
objects' own colours, so the detector learns shape and not just colour) and a small camera pose
jitter (calibration error). Robot and object poses come from rolling out the noisy scripted
expert, so the arm occludes objects as it does when pushing.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Iterator, NamedTuple

import mujoco
import numpy as np

from ..perception.camera_model import CameraPose
from ..scripted.experts import EXPERTS
from ..utils.noise import BurstNoisePolicy
from ..perception.objects import Catalogue, ObjectSpec

SIM_GEOM = {"puck": "puck", "obstacle": "obstacle", "cube": "cube", "ball": "ball", "target": "target"}
"""The MuJoCo geom that *is* each catalogue object (the box label and the ground-truth centre)."""
ROBOT_VISUAL_GROUP = 2
N_DISTRACTORS = 4


@dataclass(frozen=True)
class RandomisationConfig:
    light_scale: tuple[float, float] = (0.45, 1.35)
    """Multiplier on the key light and headlight intensities."""
    hue_jitter: float = 3.0
    """Object hue shift, OpenCV hue units (the config bands are wider)."""
    sat_scale: tuple[float, float] = (0.8, 1.05)
    val_scale: tuple[float, float] = (0.7, 1.1)
    camera_shift: float = 0.01
    """Standard deviation of the camera position error, m."""
    camera_tilt_deg: float = 0.7
    """Standard deviation of the camera orientation error, degrees."""
    distractor_prob: float = 0.6
    """Chance that each distractor lies on the table in a frame."""


class Label(NamedTuple):
    name: str
    class_id: int
    box: tuple[int, int, int, int]
    """Visible extent x, y, w, h in pixels."""
    visible_px: int
    visibility: float
    """Visible pixels / pixels it would cover without the robot in front of it."""
    center: np.ndarray
    """Ground-truth centre in the robot base frame, m."""


class Frame(NamedTuple):
    rgb: np.ndarray
    depth: np.ndarray
    labels: list[Label]
    camera: CameraPose
    """The (jittered) pose the frame was rendered from."""
    ground_truth: dict


def decorate(spec: mujoco.MjSpec) -> None:
    """Visual-only additions: a noise texture on the table and flat distractors (no collisions)."""
    tex = spec.add_texture(
        name="table_noise",
        type=mujoco.mjtTexture.mjTEXTURE_2D,
        builtin=mujoco.mjtBuiltin.mjBUILTIN_FLAT,
        mark=mujoco.mjtMark.mjMARK_RANDOM,
        random=0.08,
        width=256,
        height=256,
        rgb1=[1.0, 1.0, 1.0],
        rgb2=[0.55, 0.55, 0.55],
    )
    table = spec.material("table")
    table.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = tex.name
    table.texrepeat = [6, 6]
    for i in range(N_DISTRACTORS):
        spec.worldbody.add_geom(
            name=f"distractor{i}", type=mujoco.mjtGeom.mjGEOM_BOX, pos=[0, 0, -1.0], size=[0.03, 0.02, 0.0008], contype=0, conaffinity=0
        )


def _band_centre(obj: ObjectSpec) -> float:
    lo, hi = obj.band.hue
    return ((lo + (hi + 180 if hi < lo else hi)) / 2) % 180


class Randomiser:
    """Applies one random appearance to a decorated task model; ``np_random`` is the only source."""

    def __init__(self, model: mujoco.MjModel, catalogue: Catalogue, cfg: RandomisationConfig = RandomisationConfig()):
        self.model, self.cfg = model, cfg
        self.base_light = model.light_diffuse.copy()
        self.base_light_dir = model.light_dir.copy()
        self.base_head = (model.vis.headlight.ambient.copy(), model.vis.headlight.diffuse.copy())
        self.base_cam_pos = model.cam_pos.copy()
        self.base_cam_quat = model.cam_quat.copy()
        self.base_mat = model.mat_rgba.copy()
        self.objects = []  # (geom id or material id, is_material, base rgba, hue centre)
        for obj in catalogue.objects:
            try:
                gid = model.geom(SIM_GEOM[obj.name]).id
            except KeyError:
                continue
            mat = model.geom_matid[gid]
            rgba = (model.mat_rgba[mat] if mat >= 0 else model.geom_rgba[gid]).copy()
            self.objects.append((int(mat) if mat >= 0 else gid, mat >= 0, rgba))
        self.table_mat = model.material("table").id
        self.turf_mat = model.material("turf").id if _has(model, mujoco.mjtObj.mjOBJ_MATERIAL, "turf") else -1
        self.distractors = [model.geom(f"distractor{i}").id for i in range(N_DISTRACTORS)]
        self.object_hues = [_band_centre(o) for o in catalogue.objects]

    def apply(self, rng: np.random.Generator, data: mujoco.MjData) -> CameraPose:
        m, c = self.model, self.cfg
        scale = rng.uniform(*c.light_scale)
        m.light_diffuse[:] = np.clip(self.base_light * scale, 0, 1)
        d = self.base_light_dir + rng.normal(0, 0.25, self.base_light_dir.shape)
        m.light_dir[:] = d / np.linalg.norm(d, axis=-1, keepdims=True)
        m.vis.headlight.ambient[:] = np.clip(self.base_head[0] * rng.uniform(*c.light_scale), 0, 1)
        m.vis.headlight.diffuse[:] = np.clip(self.base_head[1] * rng.uniform(*c.light_scale), 0, 1)
        for idx, is_mat, rgba in self.objects:
            h, s, v = colorsys.rgb_to_hsv(*rgba[:3])
            h = (h + rng.uniform(-c.hue_jitter, c.hue_jitter) / 180.0) % 1.0
            rgb = colorsys.hsv_to_rgb(h, min(s * rng.uniform(*c.sat_scale), 1.0), min(v * rng.uniform(*c.val_scale), 1.0))
            (m.mat_rgba if is_mat else m.geom_rgba)[idx, :3] = rgb
        for mat in (self.table_mat, self.turf_mat):
            if mat >= 0:
                m.mat_rgba[mat, :3] = np.clip(self.base_mat[mat, :3] * rng.uniform(0.75, 1.2, 3), 0, 1)
        for gid in self.distractors:
            if rng.random() < c.distractor_prob:
                m.geom_pos[gid] = [rng.uniform(0.3, 0.95), rng.uniform(-0.35, 0.35), 0.0009]
                yaw = rng.uniform(0, np.pi)
                m.geom_quat[gid] = [np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)]
                m.geom_size[gid, :2] = rng.uniform(0.01, 0.05, 2)
                hue = (rng.choice(self.object_hues) + rng.normal(0, 3)) % 180 if rng.random() < 0.5 else rng.uniform(0, 180)
                m.geom_rgba[gid] = [*colorsys.hsv_to_rgb(hue / 180, rng.uniform(0.4, 1.0), rng.uniform(0.5, 1.0)), 1]
            else:
                m.geom_pos[gid] = [0, 0, -1.0]
        # camera pose error: shift and a small rotation about a random axis
        m.cam_pos[:] = self.base_cam_pos + rng.normal(0, c.camera_shift, 3)
        axis = rng.normal(size=3)
        dq = np.zeros(4)
        mujoco.mju_axisAngle2Quat(dq, axis / np.linalg.norm(axis), np.radians(rng.normal(0, c.camera_tilt_deg)))
        for i in range(m.ncam):
            mujoco.mju_mulQuat(m.cam_quat[i], dq, self.base_cam_quat[i])
        mujoco.mj_kinematics(m, data)
        return camera_pose_of(m, data)


def _has(model: mujoco.MjModel, kind, name: str) -> bool:
    return mujoco.mj_name2id(model, kind, name) >= 0


def camera_pose_of(model: mujoco.MjModel, data: mujoco.MjData, cam: int = 0) -> CameraPose:
    """The task camera's actual pose as a :class:`CameraPose` (position, a point it looks at, roll)."""
    r_mj = data.cam_xmat[cam].reshape(3, 3)  # MuJoCo cameras look along -z with y up
    return CameraPose.from_rotation(data.cam_xpos[cam].copy(), np.stack([r_mj[:, 0], -r_mj[:, 1], -r_mj[:, 2]], axis=1))


def labels_for(env, renderer, catalogue: Catalogue, min_visible_px: int = 25) -> list[Label]:
    """Visible boxes of the task's objects from the segmentation render."""
    seg = renderer.segmentation(env.data)
    free = renderer.segmentation(env.data, hidden_groups=(ROBOT_VISUAL_GROUP,))
    out = []
    for obj in catalogue.objects:
        try:
            gid = env.model.geom(SIM_GEOM[obj.name]).id
        except KeyError:
            continue
        ys, xs = np.nonzero(seg == gid)
        unoccluded = int((free == gid).sum())
        if len(xs) < min_visible_px:
            continue
        box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
        center = env.data.geom_xpos[gid].copy()
        out.append(Label(obj.name, obj.class_id, box, len(xs), len(xs) / max(unoccluded, 1), center))
    return out


def frames(
    task: str,
    catalogue: Catalogue,
    n: int,
    seed: int,
    every: int = 3,
    cfg: RandomisationConfig = RandomisationConfig(),
    randomise: bool = True,
    camera: CameraPose | None = None,
) -> Iterator[Frame]:
    """``n`` labelled frames of ``task``: noisy-expert rollouts, one frame every ``every`` steps,
    from the task camera or from ``camera`` (a camera mounted elsewhere)."""
    from ..sim.camera import CAMERA_NAME, mujoco_quat
    from ..sim.envs import make_task_env

    env = make_task_env(task, decorate=decorate)
    if camera is not None:
        cam = env.model.camera(CAMERA_NAME).id
        env.model.cam_pos[cam], env.model.cam_quat[cam] = camera.position, mujoco_quat(camera)
    rng = np.random.default_rng(seed)
    rand = Randomiser(env.model, catalogue, cfg)
    renderer = env._get_renderer()
    policy = BurstNoisePolicy(EXPERTS[task](), rng)
    made, episode = 0, 0
    try:
        while made < n:
            state, _ = env.reset(seed=seed * 100_003 + episode, options={"start": "near_failure" if rng.random() < 0.3 else "nominal"})
            policy.reset()
            episode += 1
            for step in range(env.spec_task.max_episode_steps):
                if step % every == 0:
                    pose = rand.apply(rng, env.data) if randomise else camera_pose_of(env.model, env.data)
                    rgb, depth = renderer.rgbd(env.data)
                    yield Frame(rgb, depth, labels_for(env, renderer, catalogue), pose, env.ground_truth())
                    made += 1
                    if made >= n:
                        return
                state, _, terminated, truncated, _ = env.step(policy(state))
                if terminated or truncated:
                    break
    finally:
        env.close()

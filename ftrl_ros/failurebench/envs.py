"""FailureBench as Gymnasium environments: Meta-World v3 push / soccer / push-wall, same 500-step
episodes, same rewards and success, plus an intervention-requiring failure that ends the episode.

The scene changes are made on top of Meta-World's own assets without touching the installed
package: the Meta-World env class is subclassed and its model is built with ``MjSpec`` from the
shipped XML, with our additions (boundary lines on the table, the vase), before compiling.
IR failures are detected from the simulator (the object outside the region; MuJoCo contacts
object-wall, or anything-vase) after every physics sub-step, not only at the end of the 12.5 ms
control step: a puck that hits the wall and bounces off, or a finger grazing the vase, within
one control step is a failure too. ``info["constraint"]`` is the state-only check the learning
code uses, which fires a few millimetres earlier. Randomness comes only from ``np_random``.

    import ftrl_ros.failurebench  # registers the four envs
    env = gymnasium.make("FTRL/FailureBench-BoundedPush-v0")
    obs, info = env.reset(seed=0, options={"start": "near_failure"})
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from ..tasks.failurebench import CONTROL_HZ, GOAL, OBJ, TASKS, VASE, FailureBenchSpec, FailureBenchTask

TABLE_Z = 0.0
LINE = 0.003
"""Half-width of a boundary line, m."""


def _mw_class(env_name: str):
    import metaworld.envs as mw_envs

    return {"push-v3": mw_envs.SawyerPushEnvV3, "soccer-v3": mw_envs.SawyerSoccerEnvV3, "push-wall-v3": mw_envs.SawyerPushWallEnvV3}[
        env_name
    ]


@lru_cache(maxsize=None)
def scene_class(task_name: str):
    """The Meta-World env class of ``task_name`` with our scene additions compiled into its model."""
    task = TASKS[task_name]
    base = _mw_class(task.env_name)

    def _initialize_simulation(self):
        spec = mujoco.MjSpec.from_file(self.fullpath)
        world = spec.worldbody
        if task.region is not None:  # red lines on the table, visual only
            (x0, x1), (y0, y1) = task.region.x, task.region.y
            for name, pos, size in (
                ("bound_left", (x0, (y0 + y1) / 2), (LINE, (y1 - y0) / 2)),
                ("bound_right", (x1, (y0 + y1) / 2), (LINE, (y1 - y0) / 2)),
                ("bound_near", ((x0 + x1) / 2, y0), ((x1 - x0) / 2, LINE)),
                ("bound_far", ((x0 + x1) / 2, y1), ((x1 - x0) / 2, LINE)),
            ):
                world.add_geom(
                    name=name,
                    type=mujoco.mjtGeom.mjGEOM_BOX,
                    pos=[*pos, TABLE_Z + 0.0005],
                    size=[*size, 0.0005],
                    rgba=[0.85, 0.1, 0.1, 1.0],
                    contype=0,
                    conaffinity=0,
                )
        if task.failure == "touches_vase":  # a fragile vase, placed at reset; it collides with everything
            vase = world.add_body(name="vase", pos=[0.3, 0.75, TABLE_Z + 0.052])
            vase.add_geom(
                name="vase",
                type=mujoco.mjtGeom.mjGEOM_CYLINDER,
                size=[task.vase_radius, 0.05, 0],
                rgba=[0.55, 0.25, 0.75, 1.0],
                contype=1,
                conaffinity=1,
            )
        model = spec.compile()
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, self.width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, self.height)
        return model, mujoco.MjData(model)

    def _step_mujoco_simulation(self, ctrl, n_frames):
        """Gymnasium's stepping (``mj_step`` n_frames times, then ``mj_rnePostConstraint``), one
        physics step at a time so that ``substep_hook`` can look at every one of them."""
        self.data.ctrl[:] = ctrl
        hook = self.__dict__.get("substep_hook")
        for _ in range(n_frames):
            mujoco.mj_step(self.model, self.data)
            if hook is not None:
                hook()
        mujoco.mj_rnePostConstraint(self.model, self.data)

    def touching_object(self, object_geom_id: int) -> bool:
        """Meta-World's test (both finger pads push on the object), on the contact arrays
        instead of a Python loop over every contact: same contacts, same sums, same answer, and
        a fifth of a control step's time saved (``ftrl bench-speed --vec --suite failurebench``)."""
        d = self.data
        if d.ncon == 0:
            return False
        pads = (d.geom("leftpad_geom").id, d.geom("rightpad_geom").id)
        geoms, addr = d.contact.geom[: d.ncon], d.contact.efc_address[: d.ncon]
        on_object = (geoms == object_geom_id).any(1)
        forces = [sum(d.efc_force[a] for a in addr[on_object & (geoms == pad).any(1)]) for pad in pads]
        return 0 < forces[0] and 0 < forces[1]

    def _get_quat_objects(self):
        """The object's orientation as Meta-World reports it (scipy's quaternion, x y z w),
        without scipy's per-call validation when the matrix is a rotation already."""
        frame = self.data.body("soccer_ball") if task.env_name == "soccer-v3" else self.data.geom("objGeom")
        return quat_from_rotation_matrix(frame.xmat.reshape(3, 3))

    def _get_curr_obs_combined_no_goal(self):
        """Meta-World's 18 numbers (hand, gripper opening, object position and orientation, zero
        padding) for our one-object scenes, built in one go instead of split / stack per call."""
        d = self.data
        apart = np.clip(np.linalg.norm(d.body("rightclaw").xpos - d.body("leftclaw").xpos) / 0.1, 0.0, 1.0)
        out = np.zeros(18)
        out[0:3], out[3], out[4:7], out[7:11] = self.get_endeff_pos(), apart, self._get_pos_objects(), self._get_quat_objects()
        return out

    return type(
        f"FailureBench{base.__name__}",
        (base,),
        {
            "_initialize_simulation": _initialize_simulation,
            "_step_mujoco_simulation": _step_mujoco_simulation,
            "touching_object": touching_object,
            "_get_quat_objects": _get_quat_objects,
            "_get_curr_obs_combined_no_goal": _get_curr_obs_combined_no_goal,
        },
    )


def quat_from_rotation_matrix(m: np.ndarray) -> np.ndarray:
    """``Rotation.from_matrix(m).as_quat()``, bit for bit, ~15x faster for a matrix MuJoCo made
    (orthonormal to rounding): scipy's own conversion core without the orthogonalisation it
    would skip anyway. Anything else goes through the public call."""
    core = _scipy_orthogonal_core()
    (a, b, c), (d, e, f), (g, h, i) = m.tolist()
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    if core is not None and abs(det - 1.0) < 1e-10 and np.abs(m @ m.T - _EYE).max() < 1e-10:
        return np.asarray(core(np.ascontiguousarray(m, np.float64)))
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(m).as_quat()


_EYE = np.eye(3)


@lru_cache(maxsize=1)
def _scipy_orthogonal_core():
    """scipy's matrix-to-quaternion core for rotation matrices (private: None if it moved)."""
    try:
        from scipy.spatial.transform import _rotation_cy
    except ImportError:
        return None
    return getattr(_rotation_cy, "_from_matrix_orthogonal", None)


START_KINDS = ("nominal", "near_failure", "near_failure_placed", "near_failure_carried")
"""``reset(options={"start": ...})``: Meta-World's layout; a near-failure start (a mix of the
next two); a placed scene (object near its hazard, hand pushing it there); a carried one (the
noisy expert brought the grasped object there; a placed scene where it did not get there)."""


class FailureBenchEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 80}

    def __init__(self, task: str, render_mode: str | None = None):
        if task not in TASKS:
            raise KeyError(f"unknown FailureBench task {task!r}; known: {sorted(TASKS)}")
        self.task: FailureBenchTask = TASKS[task]
        self.spec_task = FailureBenchSpec(self.task)
        """What the learning pipeline reads (name ``fb_<task>``, layout, constraint, recovered)."""
        self.render_mode = render_mode
        self.mw = scene_class(task)(render_mode=render_mode)
        self.mw._partially_observable = False  # the goal is in the observation ...
        self.mw.__dict__.pop("sawyer_observation_space", None)  # ... and not clipped to zeros (a cached bound)
        self.mw._freeze_rand_vec = False  # a new object/goal layout at every reset ...
        self.mw.seeded_rand_vec = True  # ... drawn from np_random
        self.mw._set_task_called = True
        self.mw.max_path_length = 10**9  # the time limit is the registration's (500 steps)
        self.action_space = self.mw.action_space
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (39,), np.float64)
        m = self.mw.model
        # the object's body: "obj" in push and push-wall, "soccer_ball1" in soccer; its geom is
        # "objGeom" in all three (by body name, soccer's ball went unchecked for sinking into the goal)
        obj_body = int(m.geom_bodyid[m.geom("objGeom").id])
        self._obj_geoms = {i for i in range(m.ngeom) if int(m.geom_bodyid[i]) == obj_body}
        self._wall_geoms = {
            i for i in range(m.ngeom) if m.body(m.geom_bodyid[i]).name == "wall" and (m.geom_contype[i] or m.geom_conaffinity[i])
        }
        hand = m.body("right_hand").id

        def in_hand(b: int) -> bool:
            return b == hand or (b != 0 and in_hand(int(m.body_parentid[b])))

        self._hand_geoms = {i for i in range(m.ngeom) if in_hand(int(m.geom_bodyid[i]))}
        self._vase_geom = m.geom("vase").id if self.task.failure == "touches_vase" else -1
        self._table_geoms = {i for i in range(m.ngeom) if "table" in m.body(m.geom_bodyid[i]).name}
        self._wall_arr, self._obj_arr, self._table_arr = (
            np.array(sorted(g), int) for g in (self._wall_geoms, self._obj_geoms, self._table_geoms)
        )
        self._substep_failure = False
        self.vase: np.ndarray | None = None
        self._obs = np.zeros(39)

    # --- Gymnasium API ----------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        start = (options or {}).get("start", "nominal")
        if start not in START_KINDS:
            raise ValueError(f"options['start'] must be one of {START_KINDS}, got {start!r}")
        self.mw.np_random = self.np_random  # Meta-World's layout draws come from our generator
        obs = self._draw_layout()
        if start != "nominal":
            from .starts import carried, placed, wants_carried

            if start == "near_failure":
                start = "near_failure_carried" if wants_carried(self.task, self.np_random) else "near_failure_placed"
            reached = carried(self, self.np_random) if start == "near_failure_carried" else None
            if reached is None:  # a placed scene, built from the layout (goal, object) in self._obs
                if start == "near_failure_carried":  # on a fresh one: the try left the hand anywhere
                    self._draw_layout()
                placed(self, self.np_random)
            obs = self._settle() if reached is None else reached
        obs = self._with_vase(obs)
        self._obs = obs
        return obs, {"constraint": self.task.constraint(obs, self.vase)}

    def step(self, action):
        action = np.asarray(action, np.float64)
        if action.shape != (4,) or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be 4 finite numbers, got {action!r}")
        self._substep_failure = False
        self.mw.substep_hook = self._check_substep
        try:
            obs, reward, _, _, info = self.mw.step(np.clip(action, -1.0, 1.0))
        finally:
            self.mw.substep_hook = None
        obs = self._with_vase(obs)
        ir = self.ir_failure(obs) or self._substep_failure
        info = dict(
            info, cost=float(ir), ir_failure=bool(ir), success=bool(info["success"]), constraint=self.task.constraint(obs, self.vase)
        )
        self._obs = obs
        return obs, float(reward), bool(ir), False, info

    def render(self):
        return self.mw.render()

    def close(self) -> None:
        self.mw.close()

    # --- failures ---------------------------------------------------------------------------------
    def ir_failure(self, obs: np.ndarray) -> bool:
        """The failure itself, from the simulator: the object's centre outside the region, or a
        real contact with the wall / the vase (the table does not count)."""
        if self.task.failure == "leaves_region":
            assert self.task.region is not None
            return self.task.region.gap(obs[OBJ][:2]) < 0.0
        return self._hazard_contact()

    def _hazard_contact(self) -> bool:
        """A penetrating contact between the object and the wall, or the vase and anything but
        the table, in the simulator's current contact list."""
        d = self.mw.data
        if d.ncon == 0:
            return False
        geoms = np.asarray(d.contact.geom[: d.ncon])
        hit = np.asarray(d.contact.dist[: d.ncon]) < 0.0
        if self.task.failure == "touches_wall":
            a, b = self._wall_arr, self._obj_arr
            pairs = (np.isin(geoms[:, 0], a) & np.isin(geoms[:, 1], b)) | (np.isin(geoms[:, 1], a) & np.isin(geoms[:, 0], b))
        else:
            vase = (geoms == self._vase_geom).any(1)
            pairs = vase & ~np.isin(geoms, self._table_arr).any(1)
        return bool((pairs & hit).any())

    def _check_substep(self) -> None:
        """After each physics sub-step of a control step: has the failure happened?"""
        if self._substep_failure:
            return
        if self.task.failure == "leaves_region":
            assert self.task.region is not None
            self._substep_failure = self.task.region.gap(np.asarray(self.mw._get_pos_objects()[:2])) < 0.0
        else:
            self._substep_failure = self._hazard_contact()

    # --- helpers for starts and scripted controllers ---------------------------------------------
    def start_fault(self, max_penetration: float = 0.015) -> str | None:
        """Why the scene as placed is no fair start (None: it is): the hazard already touched
        (a failure at step 0) or within the constraint's margin, the fingers sunk into the object (the contact solver would
        shoot it off on the first step, faster than any controller reacts), or the hand caught
        in other scenery (soccer's goal net)."""
        mujoco.mj_forward(self.mw.model, self.mw.data)
        obs = self._with_vase(self.mw._get_obs())
        if self.ir_failure(obs):
            return "already failed"
        if self.task.constraint(obs, self.vase):
            return "already inside the constraint's margin"
        d = self.mw.data
        for i in range(d.ncon):
            pair = {int(d.contact[i].geom1), int(d.contact[i].geom2)}
            if pair & self._obj_geoms and not pair & self._table_geoms and d.contact[i].dist < -max_penetration:
                return f"object penetrated {-d.contact[i].dist * 1000:.0f} mm"
            if pair & self._hand_geoms and not pair & (self._obj_geoms | self._table_geoms) and d.contact[i].dist < 0.0:
                return "the hand is caught in the scenery"
        return None

    def place(self, obj_xy: np.ndarray, hand_xyz: np.ndarray, obj_velocity_xy: np.ndarray | None = None) -> None:
        """Move the hand (through the mocap, as Meta-World's reset does) and then the object."""
        init_tcp, nominal_hand = self.mw.init_tcp.copy(), np.array(self.mw.hand_init_pos, float)
        hand = np.asarray(hand_xyz, float)
        over = [np.array([*hand[:2], max(hand[2], 0.2)])] if self.vase is not None else []
        for waypoint in over + [hand]:  # over the vase, then down
            self.mw.hand_init_pos = waypoint
            self.mw._reset_hand()
        # the next reset starts from Meta-World's own hand position again (a near-failure hand
        # left here became the next episode's reward reference, on the object: negative margin)
        self.mw.hand_init_pos = nominal_hand
        # Meta-World's reward shaping measures from where the hand started the episode, and
        # breaks when that is on the object: keep the nominal start as its reference
        self.mw.init_tcp = init_tcp
        z = self.mw.obj_init_pos[2] if self.mw.obj_init_pos is not None else self._obs[OBJ][2]
        self.mw._set_obj_xyz(np.array([obj_xy[0], obj_xy[1], z]))
        # Meta-World's rewards are shaped from the episode's initial object position
        self.mw.obj_init_pos = np.array([obj_xy[0], obj_xy[1], z])
        self.mw.maxPushDist = float(np.linalg.norm(self.mw.obj_init_pos[:2] - np.asarray(self.mw._target_pos)[:2]))
        if obj_velocity_xy is not None:
            qvel = self.mw.data.qvel.copy()
            qvel[9:11] = obj_velocity_xy
            self.mw.set_state(self.mw.data.qpos.copy(), qvel)

    def _draw_layout(self) -> np.ndarray:
        """Meta-World's reset (object, goal, hand) and, in Obstructed Push, the vase."""
        obs, _ = self.mw.reset()
        if self.task.failure == "touches_vase":
            self.vase = self.task.vase_position(obs[OBJ], obs[GOAL], self.np_random)
            self.mw.model.body("vase").pos[:2] = self.vase
            mujoco.mj_forward(self.mw.model, self.mw.data)
        self._obs = self._with_vase(obs)
        return obs

    def _with_vase(self, obs: np.ndarray) -> np.ndarray:
        """Obstructed Push: the vase's position in the (otherwise empty) second-object slot."""
        if self.vase is not None:
            obs = np.array(obs, np.float64)
            obs[VASE] = obs[29:32] = [self.vase[0], self.vase[1], TABLE_Z + 0.052]
        return obs

    def _settle(self) -> np.ndarray:
        mujoco.mj_forward(self.mw.model, self.mw.data)
        obs = self.mw._get_obs()
        obs[18:36] = obs[0:18]  # no previous frame yet
        return obs

    @property
    def object_velocity(self) -> np.ndarray:
        """The object's planar velocity from the last two frames, m/s."""
        return (self._obs[OBJ][:2] - self._obs[22:24]) * CONTROL_HZ

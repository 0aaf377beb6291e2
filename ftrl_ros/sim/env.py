"""Gymnasium base environment: a task spec + a MuJoCo world + the Cartesian controller.

Subclasses (one per task) say how to sample starts, where the objects are and which contacts are
IR failures; everything else (stepping at 5 Hz, rewards from the spec, info keys, rendering)
lives here so the three tasks behave identically.

``info`` of every ``reset``/``step`` holds:
  ``reward_terms`` (dict, sums to the reward), ``cost`` (c_t, float 0/1), ``ir_failure`` (bool),
  ``success`` (bool), ``constraint_from_state`` (the spec's state-only check, what the real
  robot uses), ``ground_truth`` (dict of object poses, for evaluation only) and ``tcp_z``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from ..tasks.spec import TaskSpec
from .camera import Intrinsics, RGBDRenderer
from .controller import CartesianController, ControllerConfig
from .world import ROBOT_PREFIX, VISUAL_MESH_CELL, build_model

START_MODES = ("nominal", "near_failure")


class TaskEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array", "rgbd_array"], "render_fps": 5}

    def __init__(
        self,
        spec: TaskSpec,
        render_mode: str | None = None,
        controller: ControllerConfig = ControllerConfig(),
        intrinsics: Intrinsics = Intrinsics(),
        decorate=None,
        visual_mesh_cell: float = VISUAL_MESH_CELL,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.spec_task = spec
        self.render_mode = render_mode
        self.intrinsics = intrinsics
        self.model = build_model(spec.name, intrinsics, decorate=decorate, visual_mesh_cell=visual_mesh_cell)
        self.data = mujoco.MjData(self.model)
        self.controller = CartesianController(self.model, spec.workspace, controller)
        self.chunk = controller.ik_period
        self.chunk_dt = self.chunk * self.model.opt.timestep
        n = spec.control_dt / self.chunk_dt
        if abs(n - round(n)) > 1e-9:
            raise ValueError("control_dt must be a whole number of IK periods")
        self.n_chunks = int(round(n))
        # positions (m) and velocities (m/s) on a table-top robot stay far inside +-5
        self.observation_space = gym.spaces.Box(-5.0, 5.0, (spec.layout.dim,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        robot = np.array(
            [
                self.model.geom(i).name.startswith(ROBOT_PREFIX) or self.model.body(self.model.geom_bodyid[i]).name.startswith(ROBOT_PREFIX)
                for i in range(self.model.ngeom)
            ]
        )
        self.robot_geoms = robot
        self._fragile = np.zeros(self.model.ngeom, bool)
        self._hazard = np.zeros(self.model.ngeom, bool)
        self._renderer: RGBDRenderer | None = None
        self._body_ids: dict[str, int] = {}
        self._prev: dict[str, np.ndarray] = {}
        self.start_mode = "nominal"
        self.steps = 0

    # --- subclass hooks ---------------------------------------------------------------------
    def _sample_start(self, mode: str) -> dict[str, Any]:
        raise NotImplementedError

    def _apply_start(self, start: dict[str, Any]) -> None:
        raise NotImplementedError

    def _positions(self) -> dict[str, np.ndarray]:
        """Current (x, y) of every tracked thing except the TCP, keyed by state-layout prefix."""
        raise NotImplementedError

    def _velocity_keys(self) -> tuple[str, ...]:
        """Prefixes whose finite-difference velocity is part of the state (besides ``ee``)."""
        return ()

    def _initial_velocities(self, start: dict[str, Any]) -> dict[str, np.ndarray]:
        """Velocities things start with, so the first state's finite differences are right."""
        return {}

    def _before_chunk(self, dt: float) -> None:
        """Called before every IK period: scripted disturbances move things here."""

    def _state_failure(self, state: np.ndarray) -> bool:
        """IR failures decided from exact state (e.g. leaving the area); contacts are separate."""
        return False

    def _set_contact_failure(self, fragile: list[str], hazards: list[str] | None = None, robot: bool = False) -> None:
        """Declare contact IR failures: any fragile geom touching a hazard geom or the robot."""
        self._fragile[:] = False
        self._hazard[:] = False
        for n in fragile:
            self._fragile[self.model.geom(n).id] = True
        for n in hazards or []:
            self._hazard[self.model.geom(n).id] = True
        if robot:
            self._hazard |= self.robot_geoms

    # --- helpers for subclasses -------------------------------------------------------------
    def set_free_body(self, joint: str, xy: np.ndarray, z: float, yaw: float = 0.0, vel_xy: np.ndarray | None = None) -> None:
        j = self.model.joint(joint)
        adr, vadr = j.qposadr[0], j.dofadr[0]
        self.data.qpos[adr : adr + 3] = [xy[0], xy[1], z]
        self.data.qpos[adr + 3 : adr + 7] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]
        self.data.qvel[vadr : vadr + 6] = 0.0
        if vel_xy is not None:
            self.data.qvel[vadr : vadr + 2] = vel_xy

    def body_id(self, body: str) -> int:
        """Body id by name, cached (name look-ups cost more than a physics step's worth)."""
        bid = self._body_ids.get(body)
        if bid is None:
            bid = self._body_ids[body] = self.model.body(body).id
        return bid

    def set_mocap(self, body: str, xy: np.ndarray) -> None:
        self.data.mocap_pos[self.model.body_mocapid[self.body_id(body)], :2] = xy

    def body_xy(self, body: str) -> np.ndarray:
        return self.data.xpos[self.body_id(body), :2].copy()

    # --- gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        mode = options.get("start", "nominal")
        if mode not in START_MODES:
            raise ValueError(f"options['start'] must be one of {START_MODES}, got {mode!r}")
        self.start_mode = mode
        mujoco.mj_resetData(self.model, self.data)
        start = self._sample_start(mode)
        self._apply_start(start)
        self.controller.reset(self.data, start["ee"])
        mujoco.mj_forward(self.model, self.data)
        self.steps = 0
        now = {"ee": self.controller.tcp(self.data)[:2], **self._positions()}
        dt = self.spec_task.control_dt
        self._prev = {k: v - self._initial_velocities(start).get(k, 0.0) * dt for k, v in now.items()}
        state = self._observe(now, self._prev)
        self._prev = now
        return state, self._info(state, contact=False)

    def step(self, action):
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != (2,) or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be 2 finite numbers, got {action!r}")
        velocity = self.spec_task.action_to_velocity(action)
        contact = False
        for _ in range(self.n_chunks):
            contact = self.advance(velocity) or contact
        self.steps += 1
        now = {"ee": self.controller.tcp(self.data)[:2], **self._positions()}
        state = self._observe(now, self._prev)
        self._prev = now
        info = self._info(state, contact)
        reward = float(sum(info["reward_terms"].values()))
        return state, reward, bool(info["ir_failure"]), False, info

    def advance(self, velocity: np.ndarray | None) -> bool:
        """One IK period (``chunk_dt`` s) at TCP velocity (vx, vy) m/s, or holding the arm where
        it is when ``velocity`` is None (the robot's stop on a stale command); returns whether a
        fragile contact (an IR failure) happened. ``step`` is ``n_chunks`` of these; the ROS sim
        node calls it on a wall-clock timer with the latest velocity command."""
        self._before_chunk(self.chunk_dt)
        if velocity is None:
            self.controller.brake(self.data)
        else:
            self.controller.advance(self.data, velocity, self.chunk_dt)
        mujoco.mj_step(self.model, self.data, nstep=self.chunk)
        return self._fragile_contact()

    def positions(self) -> dict[str, np.ndarray]:
        """Current (x, y) of the TCP (``ee``) and of every tracked object, m."""
        return {"ee": self.controller.tcp(self.data)[:2], **self._positions()}

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode")
            return None
        if self.render_mode == "rgbd_array":
            return self.render_rgbd()
        return self._get_renderer().rgb(self.data)

    def render_rgbd(self) -> tuple[np.ndarray, np.ndarray]:
        """RGB uint8 (480, 640, 3) and depth float32 metres (480, 640) from the RealSense pose."""
        return self._get_renderer().rgbd(self.data)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # --- internals --------------------------------------------------------------------------
    def _get_renderer(self) -> RGBDRenderer:
        if self._renderer is None:
            self._renderer = RGBDRenderer(self.model, self.intrinsics)
        return self._renderer

    def _observe(self, now: dict[str, np.ndarray], prev: dict[str, np.ndarray]) -> np.ndarray:
        dt = self.spec_task.control_dt
        values = dict(now)
        for key in ("ee", *self._velocity_keys()):
            values[key + "_v"] = (now[key] - prev[key]) / dt
        return self.spec_task.layout.pack(values)

    def _fragile_contact(self) -> bool:
        n = self.data.ncon
        if n == 0 or not self._fragile.any():
            return False
        g = self.data.contact.geom[:n]
        hit = (self._fragile[g[:, 0]] & self._hazard[g[:, 1]]) | (self._fragile[g[:, 1]] & self._hazard[g[:, 0]])
        return bool(hit.any())

    def _info(self, state: np.ndarray, contact: bool) -> dict[str, Any]:
        spec = self.spec_task
        ir = bool(contact or self._state_failure(state))
        return {
            "reward_terms": spec.reward_terms(state),
            "cost": float(ir),
            "ir_failure": ir,
            "success": spec.success(state),
            "constraint_from_state": spec.constraint(state),
            "ground_truth": self.ground_truth(),
            "tcp_z": float(self.data.site_xpos[self.controller.site][2]),
            "start": self.start_mode,
        }

    def ground_truth(self) -> dict[str, np.ndarray]:
        """Exact 3-D positions (m) of the tracked bodies and the TCP: for evaluation only."""
        out = {"ee": self.controller.tcp(self.data)}
        for key in self._positions():
            out[key] = self.data.xpos[self.body_id(key)].copy()
        return out

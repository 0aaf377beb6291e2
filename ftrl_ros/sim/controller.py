"""Planar Cartesian velocity control of the simulated Panda.

The policy commands a TCP velocity (vx, vy) at 5 Hz. Between commands the TCP reference moves
at that velocity (clipped to the workspace and to speed limits) at a fixed height with the hand
pointing down; damped least-squares IK turns the reference into joint targets for the Panda's
position servos every ``ik_period`` physics steps. A nullspace term keeps the elbow near a
nominal posture so the arm never drifts into another IK branch.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from ..tasks.spec import TCP_HEIGHT, Workspace
from .world import ARM_JOINTS, TCP_SITE

# Hand pointing down, fingers along the y axis (the menagerie home orientation).
DOWN = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
NOMINAL_Q = np.array([0.0, 0.5, 0.0, -2.2, 0.0, 2.7, 0.785])


@dataclass(frozen=True)
class ControllerConfig:
    tcp_height: float = TCP_HEIGHT
    """Height of the TCP above the table (m): fingertips at puck mid-height."""
    ik_period: int = 10
    """Physics steps between IK updates (10 x 5 ms: 20 Hz)."""
    damping: float = 1e-4
    """DLS damping (squared) of the 6x6 task-space inverse."""
    nullspace_gain: float = 0.2
    max_lag: float = 0.02
    """The reference never runs more than this (m) ahead of the real TCP, so a blocked arm
    does not wind up and jump when released."""


class CartesianController:
    def __init__(self, model: mujoco.MjModel, workspace: Workspace, config: ControllerConfig = ControllerConfig()):
        self.model, self.workspace, self.config = model, workspace, config
        self.site = model.site(TCP_SITE).id
        jids = [model.joint(n).id for n in ARM_JOINTS]
        self.qadr = model.jnt_qposadr[jids]
        self.vadr = model.jnt_dofadr[jids]
        self.lo, self.hi = model.jnt_range[jids].T
        self.arm_act = np.array([model.actuator(f"panda/actuator{i}").id for i in range(1, 8)])
        self.finger_act = model.actuator("panda/actuator8").id
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))
        self._eye6 = np.eye(6) * config.damping
        self.reference = np.zeros(3)

    # --- kinematics -----------------------------------------------------------------------
    def tcp(self, data: mujoco.MjData) -> np.ndarray:
        return data.site_xpos[self.site].copy()

    def _dq(self, data: mujoco.MjData, target: np.ndarray) -> np.ndarray:
        """Joint step towards ``target`` (TCP position) with the hand pointing down."""
        rot = data.site_xmat[self.site].reshape(3, 3)
        skew = DOWN @ rot.T - rot @ DOWN.T  # sum_i rot_i x down_i, as a skew matrix
        err = np.empty((6, 2))
        err[:3, 0] = target - data.site_xpos[self.site]
        err[3:, 0] = 0.5 * np.array([skew[2, 1], skew[0, 2], skew[1, 0]])
        mujoco.mj_jacSite(self.model, data, self._jacp, self._jacr, self.site)
        jac = np.vstack([self._jacp[:, self.vadr], self._jacr[:, self.vadr]])
        to_nominal = NOMINAL_Q - data.qpos[self.qadr]
        err[:, 1] = jac @ to_nominal
        # Damped least squares for the task, plus a pull to the nominal posture in its nullspace.
        y = np.linalg.solve(jac @ jac.T + self._eye6, err)
        return jac.T @ y[:, 0] + self.config.nullspace_gain * (to_nominal - jac.T @ y[:, 1])

    def reset(self, data: mujoco.MjData, xy: np.ndarray) -> None:
        """Place the arm kinematically (no dynamics) with the TCP at ``xy`` and hold it there."""
        target = np.array([*self.workspace.clip(np.asarray(xy, float)), self.config.tcp_height])
        data.qpos[self.qadr] = NOMINAL_Q
        for _ in range(100):
            mujoco.mj_kinematics(self.model, data)
            mujoco.mj_comPos(self.model, data)
            step = self._dq(data, target)
            data.qpos[self.qadr] = np.clip(data.qpos[self.qadr] + step, self.lo, self.hi)
            if np.abs(step).max() < 1e-7:
                break
        data.qvel[self.vadr] = 0.0
        data.ctrl[self.arm_act] = data.qpos[self.qadr]
        data.ctrl[self.finger_act] = 0.0  # fingers closed: the hand is a pusher
        self.reference = target.copy()

    # --- control --------------------------------------------------------------------------
    def brake(self, data: mujoco.MjData) -> None:
        """Hold the arm where it is now, for one IK period: the servos aim at the current joint
        positions (re-anchored every period, so they only damp, never pull back to an earlier
        pose) and the reference follows the real TCP. From 0.15 m/s the TCP is below 1 mm/s
        within two periods (0.1 s); a zero velocity command instead lets the arm run on to a
        reference that may lead it by ``max_lag`` and creep for ~0.4 s."""
        self.reference[:2] = self.workspace.clip(self.tcp(data)[:2])
        data.ctrl[self.arm_act] = data.qpos[self.qadr]

    def advance(self, data: mujoco.MjData, velocity_xy: np.ndarray, dt: float) -> None:
        """Move the reference by ``velocity * dt`` and set joint targets for the next ``dt``.

        Targets aim at where the reference will be at the end of the interval (look-ahead), so
        the position servos do not lag a full IK period behind.
        """
        tcp = data.site_xpos[self.site]
        ref = self.reference[:2] + np.asarray(velocity_xy) * dt
        ref = np.clip(ref, tcp[:2] - self.config.max_lag, tcp[:2] + self.config.max_lag)
        self.reference[:2] = self.workspace.clip(ref)
        ahead = self.reference.copy()
        ahead[:2] = self.workspace.clip(ahead[:2] + np.asarray(velocity_xy) * dt)
        data.ctrl[self.arm_act] = np.clip(data.qpos[self.qadr] + self._dq(data, ahead), self.lo, self.hi)

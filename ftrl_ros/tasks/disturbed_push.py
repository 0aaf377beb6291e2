"""Disturbed Push: push a puck to a target while a person moves a fragile flower pot around.

IR failure: the arm or the puck touches the flower pot (it would break / fall over).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .spec import StateLayout, TaskSpec, Workspace, push_reward_terms

LAYOUT = StateLayout(
    [
        "ee_x",
        "ee_y",
        "ee_vx",
        "ee_vy",  # TCP position (m) and velocity (m/s), from the robot
        "puck_x",
        "puck_y",  # puck centre, from perception
        "obstacle_x",
        "obstacle_y",  # flower pot centre, from perception
        "obstacle_vx",
        "obstacle_vy",  # its velocity (tracker), m/s
        "target_x",
        "target_y",  # goal marker centre
    ]
)


@dataclass(frozen=True)
class DisturbedPushSpec(TaskSpec):
    name: str = "disturbed_push"
    layout: StateLayout = LAYOUT
    workspace: Workspace = Workspace(x=(0.35, 0.75), y=(-0.25, 0.25))
    max_speed: float = 0.15
    max_episode_steps: int = 60
    puck_radius: float = 0.03
    obstacle_radius: float = 0.04
    success_radius: float = 0.05
    contact_margin: float = 0.005
    """Extra clearance (m) below which the state-based constraint fires (estimation noise)."""
    extra: dict = field(default_factory=dict)

    def reward_terms(self, state: np.ndarray) -> dict[str, float]:
        ee, puck, target = (self.layout.get(state, k) for k in ("ee", "puck", "target"))
        place = float(np.linalg.norm(puck - target))
        return push_reward_terms(ee, puck, self.puck_radius + self.tcp_radius, place, 0.15, place < self.success_radius)

    def success(self, state: np.ndarray) -> bool:
        puck, target = self.layout.get(state, "puck"), self.layout.get(state, "target")
        return bool(np.linalg.norm(puck - target) < self.success_radius)

    def constraint(self, state: np.ndarray) -> bool:
        return bool(self.hazard_gap(state)[0] < 0.0)

    def hazard_gap(self, states: np.ndarray) -> np.ndarray:
        """The nearer of puck-to-pot and fingers-to-pot clearance, less the margin."""
        ee, puck, obs = (self.layout.get(np.array(states, np.float64, ndmin=2), k) for k in ("ee", "puck", "obstacle"))
        m = self.contact_margin
        puck_gap = np.linalg.norm(puck - obs, axis=-1) - (self.puck_radius + self.obstacle_radius + m)
        hand_gap = np.linalg.norm(ee - obs, axis=-1) - (self.finger_reach + self.obstacle_radius + m)
        return np.minimum(puck_gap, hand_gap)

    def recovered(self, state: np.ndarray) -> bool:
        ee, puck, obs = (self.layout.get(state, k) for k in ("ee", "puck", "obstacle"))
        hand_gap = float(np.linalg.norm(ee - obs)) - self.finger_reach - self.obstacle_radius
        puck_gap = float(np.linalg.norm(ee - puck)) - self.tcp_radius - self.puck_radius
        return not self.constraint(state) and hand_gap > 0.04 and puck_gap > 0.02

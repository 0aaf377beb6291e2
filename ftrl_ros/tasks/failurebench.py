"""FailureBench (the paper's Sec. VI.A): four Meta-World v3 tasks, each with an intervention-
requiring (IR) failure. What a task is -- its Meta-World env, the failure and the state-only
constraint that predicts it, the near-failure starts -- lives here, in the task layer, as plain
data and numpy; the Gymnasium env (``ftrl_ros/failurebench/envs.py``) builds the scene and
checks contacts.

Observation layout (Meta-World v3, 39-d, fully observable here so the goal is in it): hand xyz
[0:3], gripper [3], object xyz [4:7], object quaternion [7:11], second object [11:18] (zeros;
Obstructed Push puts the vase's xyz at [11:14], so every constraint is a function of the
observation), the previous frame's [0:18] at [18:36], goal xyz [36:39].

In the learning pipeline the tasks are named ``fb_<task>`` (``fb_bounded_push``...): the robot
suite has a ``bounded_soccer`` and a ``fragile_push_wall`` of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .features import StateFeatures

HAND, OBJ, QUAT, VASE, PREV_OBJ, GOAL = slice(0, 3), slice(4, 7), slice(7, 11), slice(11, 14), slice(22, 25), slice(36, 39)
PREV = 18
"""Offset of the previous frame's copy of [0:18] in the observation."""
PREFIX = "fb_"
"""Pipeline name of a FailureBench task: PREFIX + its name."""
OBS_NAMES = (
    "hand_x",
    "hand_y",
    "hand_z",
    "grip_0",
    "obj_x",
    "obj_y",
    "obj_z",
    "objq_x",
    "objq_y",
    "objq_z",
    "objq_w",
    "obj2_x",
    "obj2_y",
    "obj2_z",
    "obj2q_x",
    "obj2q_y",
    "obj2q_z",
    "obj2q_w",
)
LAYOUT_NAMES = OBS_NAMES + tuple(f"prev{n}" for n in OBS_NAMES) + ("goal_x", "goal_y", "goal_z")
GRIP_CLOSED = 0.6
"""Gripper opening (obs[3], 1 = open) below which the fingers are closed on something."""
HELD_CLEAR = 0.02
"""Clearance (m) at which a held object counts as recovered (the hold-and-back-off recovery)."""
CONTROL_HZ = 80.0
"""Meta-World steps per second (frame_skip 5 at 2.5 ms): object velocity = frame difference x 80."""


@dataclass(frozen=True)
class Region:
    """Axis-aligned box on the table (x, y, m) an object must stay inside."""

    x: tuple[float, float]
    y: tuple[float, float]

    def gap(self, xy: np.ndarray) -> float:
        """Distance from ``xy`` to the nearest boundary, negative outside."""
        return float(min(xy[0] - self.x[0], self.x[1] - xy[0], xy[1] - self.y[0], self.y[1] - xy[1]))


@dataclass(frozen=True)
class FailureBenchTask:
    name: str
    env_name: str
    """The Meta-World v3 environment it modifies."""
    failure: str
    """'leaves_region', 'touches_wall' or 'touches_vase'."""
    region: Region | None = None
    object_radius: float = 0.02
    success_radius: float = 0.05
    """Meta-World's own success distance (object to goal), m."""
    wall: tuple[tuple[float, float], tuple[float, float]] | None = None
    """Wall centre (x, y) and half-extents (x, y), m (push-wall-v3's brick wall)."""
    vase_radius: float = 0.03
    vase_offset: tuple[float, float] = (0.07, 0.09)
    """Sideways distance (m) of the vase from the puck-goal line."""
    vase_along: tuple[float, float] = (0.55, 0.75)
    """Where along the puck-goal line (fraction) it stands."""
    vase_clear_puck: float = 0.13
    vase_clear_goal: float = 0.08
    """Least distances (m) from the puck's start (the hand comes down there) and from the goal."""
    margin: float = 0.005
    """Clearance below which the state-only constraint fires (before contact)."""
    grasps: bool = True
    """The expert grasps and carries the object (push tasks; soccer kicks its ball)."""
    hand_reach: float = 0.05
    """How far the Sawyer wrist and gripper reach out from the hand point, m (vase checks: its
    wrist touched the vase with the hand point 7.2-7.9 cm from the vase axis)."""

    def constraint(self, obs: np.ndarray, vase: np.ndarray | None = None) -> bool:
        """c_t from the observation alone (the vase: ``vase`` or, by default, obs[11:13])."""
        return self.hazard_gap(obs, vase) < 0.0

    def hazard_gap(self, obs: np.ndarray, vase: np.ndarray | None = None) -> float:
        """Clearance (m) to this task's failure; negative = the constraint fires."""
        return min(self.hazard_terms(obs, vase))

    def hazard_terms(self, obs: np.ndarray, vase: np.ndarray | None = None) -> tuple[float, float]:
        """The object's clearance and the hand's (inf where the hand is no hazard: every task
        but Obstructed Push, and there while the hand is above the vase's height). Apart, so a
        rate of change can follow one term: the hand's term appears and vanishes as the hand
        crosses 12 cm, and the jump is no motion."""
        obj = np.asarray(obs[OBJ][:2], float)
        if vase is None and self.failure == "touches_vase":
            vase = np.asarray(obs[VASE][:2], float)
        if self.failure == "leaves_region":
            assert self.region is not None
            return self.region.gap(obj) - self.margin, np.inf
        if self.failure == "touches_wall":
            assert self.wall is not None
            (cx, cy), (hx, hy) = self.wall
            d = np.maximum(np.abs(obj - [cx, cy]) - [hx, hy], 0.0)
            return float(np.linalg.norm(d)) - self.object_radius - self.margin, np.inf
        if self.failure == "touches_vase":
            hand = np.asarray(obs[HAND][:2], float)
            r = self.vase_radius + self.margin
            return (
                float(np.linalg.norm(obj - vase) - self.object_radius - r),
                float(np.linalg.norm(hand - vase) - self.hand_reach - r) if obs[HAND][2] < 0.12 else np.inf,
            )
        raise ValueError(f"unknown failure kind {self.failure!r}")

    def object_velocity(self, obs: np.ndarray) -> np.ndarray:
        """Planar object velocity (m/s) from the observation's two frames."""
        return (np.asarray(obs[OBJ][:2], float) - np.asarray(obs[PREV_OBJ][:2], float)) * CONTROL_HZ

    def holding(self, obs: np.ndarray) -> bool:
        """The object is in the closed gripper (Meta-World's push experts grasp the puck and carry
        it): fingers closed past 0.6 of their opening, the hand over the object and just above it
        (the hand point sits ~3.5 cm above a held 2 cm puck). Never where nothing is grasped."""
        if not self.grasps:
            return False
        hand, obj = np.asarray(obs[HAND], float), np.asarray(obs[OBJ], float)
        return bool(obs[3] < GRIP_CLOSED and np.linalg.norm(hand[:2] - obj[:2]) < 0.02 and 0.0 < hand[2] - obj[2] < 0.05)

    def recovered(self, obs: np.ndarray, vase: np.ndarray | None = None, velocity: np.ndarray | None = None) -> bool:
        """A near-failure left behind: the object clear of its hazard and nearly still, with the
        hand off it (lifted) or holding it well clear (HELD_CLEAR: the task goes on from there
        without grasping again). What scores recovery controllers and ends recovery demos."""
        velocity = self.object_velocity(obs) if velocity is None else velocity
        hand_off = obs[HAND][2] > 0.08 or np.linalg.norm(obs[HAND][:2] - obs[OBJ][:2]) > 0.08
        gap = self.hazard_gap(obs, vase)
        still = bool(np.linalg.norm(velocity) < 0.03)
        if self.holding(obs):  # in the grasp the object goes where the hand takes it: clear and not closing in
            return bool(gap > HELD_CLEAR and (still or self._heading_away(obs, vase, velocity)))
        # nearly still, or well clear of the hazard (5 cm) and not heading back to it
        settled = still or (gap > 0.05 and self._heading_away(obs, vase, velocity))
        return bool(gap > 0.005 and settled and hand_off)

    def _heading_away(self, obs: np.ndarray, vase, velocity) -> bool:
        obj = np.asarray(obs[OBJ][:2], float)
        probe = obj + np.asarray(velocity, float) * 0.1  # where it is in 0.1 s
        moved = np.array(obs, float)
        moved[OBJ.start : OBJ.start + 2] = probe
        return self.hazard_gap(moved, vase) >= self.hazard_gap(obs, vase)

    def vase_position(self, obj: np.ndarray, goal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Between puck and goal (``vase_along`` of the way), to one side of the straight path:
        the expert's straight push clears it, a wandering one does not."""
        obj, goal = np.asarray(obj[:2], float), np.asarray(goal[:2], float)
        along = goal - obj
        side = np.array([-along[1], along[0]]) / max(np.linalg.norm(along), 1e-9)
        # Meta-World's experts clip each axis of their velocity, so they go diagonally first and
        # then straight: the path bulges towards that corner. The vase stands on the other side.
        corner = obj + min(abs(along[0]), abs(along[1])) * np.sign(along)
        bulge = float(np.dot(corner - obj, side))
        sign = -np.sign(bulge) if abs(bulge) > 1e-3 else None
        best, best_clear = obj, -float("inf")
        for _ in range(50):  # clear of the hand's descent onto the puck and of the goal
            s = sign if sign is not None else rng.choice([-1.0, 1.0])
            v = obj + along * rng.uniform(*self.vase_along) + side * s * rng.uniform(*self.vase_offset)
            clear = float(min(np.linalg.norm(v - obj) - self.vase_clear_puck, np.linalg.norm(v - goal) - self.vase_clear_goal))
            if clear >= 0:
                return v
            if clear > best_clear:
                best, best_clear = v, clear
        return best


TASKS = {
    "bounded_push": FailureBenchTask("bounded_push", "push-v3", "leaves_region", region=Region((-0.16, 0.16), (0.52, 0.95))),
    "bounded_soccer": FailureBenchTask(
        "bounded_soccer",
        "soccer-v3",
        "leaves_region",
        grasps=False,
        object_radius=0.026,
        success_radius=0.07,
        region=Region((-0.16, 0.16), (0.52, 0.98)),
    ),
    "fragile_push_wall": FailureBenchTask("fragile_push_wall", "push-wall-v3", "touches_wall", wall=((0.1, 0.75), (0.12, 0.01))),
    "obstructed_push": FailureBenchTask("obstructed_push", "push-v3", "touches_vase"),
}
ENV_IDS = {name: f"FTRL/FailureBench-{''.join(p.title() for p in name.split('_'))}-v0" for name in TASKS}


class FailureBenchSpec:
    """A FailureBench task as the learning pipeline sees it (what a robot ``TaskSpec`` offers
    there): name, state layout, episode limit, success, constraint and recovered tests."""

    def __init__(self, task: FailureBenchTask):
        from .spec import StateLayout

        self.task = task
        self.name = PREFIX + task.name
        self.layout = StateLayout(LAYOUT_NAMES)
        self.max_episode_steps = 500
        self.control_dt = 1.0 / CONTROL_HZ
        self.action_names = ("dx", "dy", "dz", "grip")
        """Meta-World's action: hand displacement per step (x, y, z) and gripper effort, each in [-1, 1]."""
        self.reward_scale = 0.01
        """Online PPO's reward multiplier (``PPOConfig.reward_scale``): Meta-World's returns reach
        ~1,000 per 100 steps of discounting, far outside what the value net's clipped steps fit."""

    @property
    def policy_features(self) -> StateFeatures:
        """What the policies see besides the raw observation (``tasks.features.StateFeatures``):
        object - hand, goal - object, goal - hand, the object's motion (and the vase relative to
        object and hand); the object's quaternion dropped. Shifting the scene for augmentation
        moves hand, object, goal (and vase) together, in both frames: the expert's command is
        the same wherever on the table the scene stands (not so beside push-wall's wall)."""
        hand, obj, goal, vase = HAND.start, OBJ.start, GOAL.start, VASE.start
        diffs = [(obj, hand, 3), (goal, obj, 3), (goal, hand, 3), (obj, obj + PREV, 3), (hand, hand + PREV, 3)]
        moving = [hand, obj]
        if self.task.failure == "touches_vase":
            diffs += [(vase, obj, 3), (vase, hand, 3)]
            moving.append(vase)
        # the push-wall expert steers round a wall the state does not hold: no shifts there (BC with
        # 5 cm shifts: 1 of 20 new layouts succeeded, without: 5 of 20)
        shift = () if self.task.failure == "touches_wall" else (goal, *moving, *(i + PREV for i in moving))
        quat = range(QUAT.start, QUAT.stop)
        return StateFeatures(diffs=tuple(diffs), drop=(*quat, *(i + PREV for i in quat)), shift_xy=shift)

    def success(self, obs: np.ndarray) -> bool:
        return bool(np.linalg.norm(np.asarray(obs[OBJ][:2]) - np.asarray(obs[GOAL][:2])) <= self.task.success_radius)

    def constraint(self, obs: np.ndarray) -> bool:
        return self.task.constraint(obs)

    def hazard_gap(self, states: np.ndarray) -> np.ndarray:
        """(N, 39) -> (N,): ``FailureBenchTask.hazard_gap`` of each observation."""
        return np.array([self.task.hazard_gap(o) for o in np.array(states, np.float64, ndmin=2)])

    def moved(self, states: np.ndarray, dt: float) -> np.ndarray:
        """Hand and objects carried on by their last frame's motion for ``dt`` seconds."""
        s = np.array(states, np.float64, ndmin=2)
        out = s.copy()
        out[:, :PREV] += (s[:, :PREV] - s[:, PREV : 2 * PREV]) * (dt * CONTROL_HZ)
        out[:, PREV : 2 * PREV] = s[:, :PREV]
        return out

    def hazard_features(self, states: np.ndarray) -> np.ndarray:
        """(N, 2): gap to the hazard (m) and its closing speed (m/s), as ``spec.hazard_features``
        but with the speed of the nearer term only (see ``FailureBenchTask.hazard_terms``)."""
        s = np.array(states, np.float64, ndmin=2)
        now = np.array([self.task.hazard_terms(o) for o in s])
        later = np.array([self.task.hazard_terms(o) for o in self.moved(s, self.control_dt)])
        k = now.argmin(1)
        rows = np.arange(len(s))
        same = later[rows, k]
        later_gap = np.where(np.isfinite(same), same, later.min(1))
        return np.stack([now[rows, k], (now[rows, k] - later_gap) / self.control_dt], -1).astype(np.float32)

    def recovered(self, obs: np.ndarray) -> bool:
        return self.task.recovered(obs)


def spec_for(name: str) -> FailureBenchSpec:
    """``fb_bounded_push`` -> its spec."""
    if not name.startswith(PREFIX) or name[len(PREFIX) :] not in TASKS:
        raise KeyError(f"unknown FailureBench task {name!r}; known: {sorted(PREFIX + t for t in TASKS)}")
    return FailureBenchSpec(TASKS[name[len(PREFIX) :]])

"""Scripted controllers for FailureBench: the expert (Meta-World's own scripted policy until the
object is on the goal, then it lets go and lifts the hand: the shipped ones keep pulling the
grasped puck around after success and drag it out of bounds) and the recovery controller used
for recovery demos."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tasks.failurebench import GOAL, HAND, OBJ, TASKS, VASE, FailureBenchTask


LOWEST_HAND_Z = 0.05
"""Meta-World's hand goes no lower than this (its mocap's box), m: "down in the ball's path" means
within a few mm of it."""
BLOCK_AHEAD = 0.045
"""Where the hand heads to block a ball rolling out: this far ahead of the ball's centre, m. The
nearer, the sooner the ball is turned back and the more room it has left (300 near-failure
starts, seeds 1000-1099 / 2000-2099 / 3000-3099: 6 cm recovered 70 / 71 / 70 %, 4.5 cm 83 / 88 /
83 %, 4 cm and 5 cm no better; hand-run sweep)."""


HOLD_BACK_OFF = 0.04
"""Clearance (m) a held object is carried back to before the recovery stands still."""


def _mw_policy(env_name: str) -> Any:
    from metaworld import policies

    kinds: dict[str, Any] = {
        "push-v3": policies.SawyerPushV3Policy,
        "soccer-v3": policies.SawyerSoccerV3Policy,
        "push-wall-v3": policies.SawyerPushWallV3Policy,
    }
    return kinds[env_name]()


class Expert:
    """Meta-World's scripted policy for the task until the object is on the goal, then hands off."""

    def __init__(self, task: str):
        self.task: FailureBenchTask = TASKS[task]
        self.policy = _mw_policy(self.task.env_name)
        self.done = False

    def reset(self) -> None:
        self.done = False

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if np.linalg.norm(obs[OBJ][:2] - obs[GOAL][:2]) < self.task.success_radius:
            self.done = True
        if self.done:  # let go and lift the hand off: a held puck gets dragged about
            return np.array([0.0, 0.0, 0.5 if obs[HAND][2] < 0.15 else 0.0, -1.0], np.float32)
        return np.clip(self.policy.get_action(obs), -1.0, 1.0).astype(np.float32)


class RecoveryController:
    """Leave a near-failure behind: carry a held object back from the hazard without letting go,
    lift the hand off a pushed one and back away from the hazard (pushing tasks), or get in
    front of a ball rolling out and stop it (soccer). Stateless: it can relabel any state (DAgger)."""

    def __init__(self, task: str, hold: bool = True):
        self.task: FailureBenchTask = TASKS[task]
        self.hold = hold
        """Carry a held object back instead of letting go (False: the controller before, which
        always opened the gripper and lifted; kept for ``ftrl bench-recovery``)."""

    def __call__(self, obs: np.ndarray, vase: np.ndarray | None = None, velocity: np.ndarray | None = None) -> np.ndarray:
        """The action for ``obs`` (the vase and the object's velocity default to what the
        observation holds)."""
        hand, obj = np.asarray(obs[HAND], float), np.asarray(obs[OBJ][:2], float)
        vase = np.asarray(obs[VASE][:2], float) if vase is None and self.task.failure == "touches_vase" else vase
        velocity = self.task.object_velocity(obs) if velocity is None else velocity
        away = -hazard_direction(self.task, obj, vase)
        if self.task.name == "bounded_soccer":
            speed = float(np.linalg.norm(velocity))
            if speed > 0.03 and float(np.dot(velocity, -away)) > 0.0:  # rolling towards the boundary
                # block: get in front of the rolling ball -- over it if the hand is behind (going
                # through would kick it out), then down in its path, and wait there
                ahead = np.asarray(velocity, float) / speed
                past = float(np.dot(hand[:2] - obj, ahead))
                side = float(np.linalg.norm(hand[:2] - obj - past * ahead))
                if past > 0.03 and side < 0.02 and hand[2] < LOWEST_HAND_Z + 0.006:
                    target = hand.copy()  # in its path: stand still and let it roll into the fingers
                else:
                    target = np.array([*(obj + ahead * BLOCK_AHEAD), 0.035 if past > 0.03 else 0.11])
            else:  # stopped or rolling back in: straight up (chasing it, the claws would kick it)
                target = np.array([*hand[:2], 0.15])
        elif self.hold and self.task.holding(obs):
            # keep the grasp and carry the object back from the hazard to HOLD_BACK_OFF of
            # clearance, at the height it is carried: letting go costs the task a new grasp
            # (probe in docs/failure_predictor.md: fewer failures and more return than letting go)
            gap = self.task.hazard_gap(obs, vase)
            step = float(np.clip((HOLD_BACK_OFF - gap) * 25.0, 0.0, 1.0))
            return np.array([*(away * step), 0.0, 1.0], np.float32)
        elif hand[2] < 0.09:
            target = np.array([*(hand[:2] + away * 0.05), 0.15])  # up and back
        else:
            target = np.array([*(obj + away * 0.08), 0.15])  # hover on the safe side of the object
        delta = np.clip((target - hand) * 25.0, -1.0, 1.0)
        # gripper open to let go of a pushed object; closed in soccer, where nothing is held and
        # a rolling ball would pass between the open fingers
        return np.array([*delta, 1.0 if self.task.name == "bounded_soccer" else -1.0], np.float32)


def hazard_direction(task: FailureBenchTask, obj: np.ndarray, vase: np.ndarray | None = None) -> np.ndarray:
    """Unit vector (x, y) from the object towards its nearest hazard."""
    obj = np.asarray(obj, float)
    if task.failure == "leaves_region":
        r = task.region
        assert r is not None
        gaps = {(-1.0, 0.0): obj[0] - r.x[0], (1.0, 0.0): r.x[1] - obj[0], (0.0, -1.0): obj[1] - r.y[0], (0.0, 1.0): r.y[1] - obj[1]}
        return np.array(min(gaps, key=lambda k: gaps[k]))
    if task.failure == "touches_wall":
        assert task.wall is not None
        (cx, cy), (hx, hy) = task.wall
        nearest = np.clip(obj, [cx - hx, cy - hy], [cx + hx, cy + hy])
        d = nearest - obj
    else:
        d = np.asarray(vase, float) - obj
    n = float(np.linalg.norm(d))
    return d / n if n > 1e-9 else np.array([0.0, 1.0])

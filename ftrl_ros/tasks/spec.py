"""What a task *is*, independent of where it runs.

A :class:`TaskSpec` holds everything the simulator, the real-robot stack and the learning code
must agree on: the named layout of the state vector (what perception has to estimate), the dense
reward with its named terms, the success test, the binary constraint ``c_t`` and the action
scaling/workspace limits. It is plain numpy so the same code runs in MuJoCo, in the ROS episode
manager on the real arm and inside the learners.

All positions are metres in the robot base frame (x forward, y left, table surface at z = 0),
velocities m/s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from .features import StateFeatures


class StateLayout:
    """Named, ordered fields of a flat float32 state vector.

    Fields are grouped by dropping the axis letter: ``puck_x, puck_y`` form group ``puck`` and
    ``ee_vx, ee_vy`` group ``ee_v``. ``layout.index('puck_x')`` gives a column,
    ``layout.get(state, 'puck')`` the group's values. Works on (D,) and (N, D) arrays.
    """

    def __init__(self, names: Sequence[str]):
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate field names in state layout: {names}")
        self.names: tuple[str, ...] = tuple(names)
        self._index = {n: i for i, n in enumerate(self.names)}
        self._groups: dict[str, list[int]] = {}
        for i, n in enumerate(self.names):
            self._groups.setdefault(n[:-1].rstrip("_"), []).append(i)

    @property
    def dim(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"no field {name!r} in state layout {self.names}") from None

    def columns(self, prefix: str) -> list[int]:
        cols = self._groups.get(prefix)
        if cols is None:
            raise KeyError(f"no fields with prefix {prefix!r} in state layout {self.names}")
        return cols

    def get(self, state: np.ndarray, prefix: str) -> np.ndarray:
        return np.asarray(state)[..., self.columns(prefix)]

    def pack(self, values: Mapping[str, ArrayLike]) -> np.ndarray:
        """Build a state vector from ``{'puck': (x, y), 'ee_v': (vx, vy), ...}``; all groups needed."""
        out = np.full(self.dim, np.nan, dtype=np.float32)
        for prefix, val in values.items():
            cols = self.columns(prefix)
            flat = np.asarray(val, dtype=np.float32).reshape(-1)
            if flat.shape[0] != len(cols):
                raise ValueError(f"{prefix!r} expects {len(cols)} values, got {flat.shape[0]}")
            out[cols] = flat
        missing = [self.names[i] for i in np.flatnonzero(np.isnan(out))]
        if missing:
            raise ValueError(f"state fields not given: {missing}")
        return out


TCP_HEIGHT = 0.022
"""Height of the TCP above the table while pushing, m: fingertips at puck mid-height. The sim's
controller and the real arm's home pose both use it."""


@dataclass(frozen=True)
class Workspace:
    """Axis-aligned box the tool centre point (TCP) may move in, metres."""

    x: tuple[float, float]
    y: tuple[float, float]

    def clip(self, xy: np.ndarray) -> np.ndarray:
        lo = np.array([self.x[0], self.y[0]])
        hi = np.array([self.x[1], self.y[1]])
        return np.clip(xy, lo, hi)


@dataclass(frozen=True)
class TaskSpec:
    """Base class: subclasses fill in geometry and implement reward/success/constraint."""

    name: str
    layout: StateLayout
    workspace: Workspace
    max_speed: float
    """TCP speed (m/s) that an action of norm 1 per axis commands."""
    max_episode_steps: int
    """Time limit in control steps (0.2 s each at 5 Hz)."""
    control_dt: float = 0.2
    tcp_radius: float = 0.02
    """Effective radius (m) of the closed Panda fingers used as the pusher (they span
    +-2.6 cm along x and +-1.1 cm along y)."""
    finger_reach: float = 0.027
    """Largest extent (m) of the fingers from the TCP: what safety checks use."""
    extra: dict = field(default_factory=dict)
    policy_features: StateFeatures | None = None
    """What learned policies see besides the state (none: robot states are already relative)."""
    reward_scale: float = 1.0
    """Online PPO's reward multiplier (``PPOConfig.reward_scale``)."""
    action_names: tuple[str, ...] = ("vx", "vy")
    """The action's columns: planar TCP velocity, each in [-1, 1] (x ``max_speed`` m/s)."""

    # --- to implement -------------------------------------------------------------------------
    def reward_terms(self, state: np.ndarray) -> dict[str, float]:
        """Dense reward terms for arriving in ``state``; ``reward = sum(terms.values())``."""
        raise NotImplementedError

    def success(self, state: np.ndarray) -> bool:
        raise NotImplementedError

    def constraint(self, state: np.ndarray) -> bool:
        """Binary c_t computed from the (estimated) state alone: what the real robot can check."""
        raise NotImplementedError

    def recovered(self, state: np.ndarray) -> bool:
        """True once a near-failure has been left behind: no constraint and the hazard not
        about to be hit (used to score recovery controllers and to cut recovery demos)."""
        raise NotImplementedError

    def hazard_gap(self, states: np.ndarray) -> np.ndarray:
        """Clearance (m) to the IR failure for (N, D) states, (N,); negative exactly where
        ``constraint`` fires. The geometry the learned critics get as an input."""
        raise NotImplementedError

    # --- shared -------------------------------------------------------------------------------
    def moved(self, states: np.ndarray, dt: float) -> np.ndarray:
        """(N, D) states as they would be ``dt`` seconds later if everything tracked kept its
        velocity: each group ``g`` with a velocity group ``g_v`` in the layout moves by it."""
        out = np.array(states, np.float64, ndmin=2)
        for name in self.layout.names:
            if name.endswith("_vx"):
                g = name[: -len("_vx")]
                out[:, self.layout.columns(g)] += out[:, self.layout.columns(g + "_v")] * dt
        return out

    def hazard_features(self, states: np.ndarray) -> np.ndarray:
        """(N, 2) float32: the gap to the hazard (m) and its closing speed (m/s, > 0 while the
        gap shrinks), from the state alone: see :func:`hazard_features`."""
        return hazard_features(self, states)

    def reward(self, state: np.ndarray) -> float:
        return float(sum(self.reward_terms(state).values()))

    def action_to_velocity(self, action: np.ndarray) -> np.ndarray:
        """Map a normalised action in [-1, 1]^2 to a TCP planar velocity (m/s), clipped."""
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
        return a * self.max_speed

    def velocity_to_action(self, velocity: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(velocity, dtype=np.float64) / self.max_speed, -1.0, 1.0)


def hazard_features(spec, states: np.ndarray) -> np.ndarray:
    """[gap, closing speed] per state, for any spec with ``hazard_gap`` and ``moved``: the closing
    speed is how much the gap shrinks over one control step if everything keeps moving as now,
    per second. Time to contact = gap / closing speed. What the critics see of the hazard, and
    what tells a familiar threat from one coming faster than any in the training data."""
    s = np.array(states, np.float64, ndmin=2)
    gap = np.asarray(spec.hazard_gap(s), np.float64)
    later = np.asarray(spec.hazard_gap(spec.moved(s, spec.control_dt)), np.float64)
    return np.stack([gap, (gap - later) / spec.control_dt], -1).astype(np.float32)


def tanh_closeness(distance: float, scale: float) -> float:
    """1 at distance 0, smoothly to 0 far away; ``scale`` is the distance (m) where it is ~0.24."""
    return float(1.0 - np.tanh(distance / scale))


def push_reward_terms(ee: np.ndarray, obj: np.ndarray, contact: float, to_go: float, to_go_scale: float, success: bool) -> dict[str, float]:
    """The reward shape all three tasks share: get the fingers to the object (reach, <= 0.25),
    get the object to the target (place, <= 0.75; ``to_go`` is the distance or route length left),
    and +1 while the success test holds."""
    reach_gap = max(float(np.linalg.norm(ee - obj)) - contact, 0.0)
    return {
        "reach": 0.25 * tanh_closeness(reach_gap, 0.05),
        "place": 0.75 * tanh_closeness(to_go, to_go_scale),
        "success": 1.0 if success else 0.0,
    }


def point_segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    ab = b - a
    t = float(np.clip(np.dot(p - a, ab) / max(float(np.dot(ab, ab)), 1e-12), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + t * ab)))


def point_box_distance(p: np.ndarray, center: np.ndarray, half: np.ndarray) -> float:
    """Distance from a 2-D point to an axis-aligned rectangle (0 inside)."""
    d = np.maximum(np.abs(np.asarray(p) - center) - half, 0.0)
    return float(np.linalg.norm(d))

"""Exploration noise for failure demos and for showing that the tasks punish careless motion.

Plain Gaussian noise on a corrective expert hardly ever fails: the expert undoes each jitter on
the next step. Exploration that actually reaches hazards looks like RL's: now and then a burst
of a different action held for a while, with the expert's progress in between. That is what
:class:`BurstNoisePolicy` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

Policy = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class BurstNoise:
    p: float = 0.2
    """Probability per step (when no burst is running) of starting a burst."""
    length: int = 4
    """Steps a burst lasts (4 x 0.2 s = 0.8 s)."""
    sigma: float = 0.2
    """Std of the Gaussian noise added to the policy's action between bursts."""
    max_turn: float = np.pi / 2
    """A burst heads where the policy wants to go, turned by up to this angle (rad), at full
    speed: exploration that keeps making progress, and so keeps meeting the hazards."""
    planar_only: bool = False
    """Leave the components after the first two (Meta-World's z and gripper) to the policy: noise
    on the gripper drops a grasped puck, which is not the exploration that meets hazards."""


class BurstNoisePolicy:
    """``policy(state)`` plus Gaussian noise; with probability ``p`` per step a burst: the policy's
    planar direction (the action's first two components, x and y velocity in every task here)
    turned by a random angle, at 70-100 % of full speed, held for ``length`` steps; any further
    components (Meta-World's z and gripper) keep the policy's value plus the noise.
    Call ``reset()`` per episode."""

    def __init__(self, policy: Policy, rng: np.random.Generator, noise: BurstNoise = BurstNoise()):
        self.policy, self.rng, self.noise = policy, rng, noise
        self._left = 0
        self._action: np.ndarray = np.zeros(0)
        self.intended: np.ndarray | None = None
        """What the wrapped policy wanted at the last call, before the noise (DART-style label)."""

    def reset(self) -> None:
        self._left = 0
        self.intended = None
        if hasattr(self.policy, "reset"):  # a stateful expert starts its episode too
            self.policy.reset()

    def __call__(self, state: np.ndarray) -> np.ndarray:
        # the wrapped policy is asked once per step, bursts included: a stateful expert keeps
        # track of the episode, and its answer is the intended action recorded with the demo
        a = np.asarray(self.policy(state), float)
        self.intended = a.copy()
        if self._left == 0 and self.rng.random() < self.noise.p:
            heading = np.arctan2(a[1], a[0]) + self.rng.uniform(-self.noise.max_turn, self.noise.max_turn)
            speed = self.rng.uniform(0.7, 1.0)
            self._left = self.noise.length
            self._action = a.copy()
            self._action[:2] = speed * np.array([np.cos(heading), np.sin(heading)])
        if self._left > 0:
            self._left -= 1
            out = self._action.copy()
            if len(out) > 2:
                out[2:] = a[2:]
                if not self.noise.planar_only:
                    out[2:] += self.noise.sigma * self.rng.standard_normal(len(out) - 2)
            return np.clip(out, -1.0, 1.0)
        action = a.copy()
        k = 2 if self.noise.planar_only else len(action)
        action[:k] = action[:k] + self.noise.sigma * self.rng.standard_normal(k)
        return np.clip(action, -1.0, 1.0)

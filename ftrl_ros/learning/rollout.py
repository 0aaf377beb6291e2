"""What PPO learns from, in one type for both producers: the vectorised benchmark loop
(``RolloutBuffer``, N parallel streams) and ``ppo_learner`` (``from_episodes``, logged episodes).

Either way the result is a flat, time-ordered :class:`PPOData` in which every stream/episode is
contiguous and its last row ends the GAE recursion: terminated (IR failure, no bootstrap) or
truncated (time limit, operator, or simply the end of the rollout: bootstrap from V(s')).
"""

from __future__ import annotations

from typing import Iterable, NamedTuple

import numpy as np

from .dataset import Episode, to_transitions
from .decide import stored_rewards
from .methods import LEARN_FROM


class PPOData(NamedTuple):
    states: np.ndarray
    actions: np.ndarray
    """The stored action (the proposal or the executed action, see ``decide.LEARN_FROM``)."""
    logp: np.ndarray
    """Its log-probability at collection time."""
    rewards: np.ndarray
    costs: np.ndarray
    next_states: np.ndarray
    """The state really reached (the final one at an episode end, not the reset)."""
    terminated: np.ndarray
    truncated: np.ndarray
    policy_mask: np.ndarray
    """1 where the row has a task-policy action to learn from (0 for e.g. operator rows, which
    still train the value function and carry rewards through GAE)."""

    def __len__(self) -> int:
        return len(self.rewards)


_FIELDS = PPOData._fields


class RolloutBuffer:
    """Time-major rows from ``n_envs`` parallel streams; ``data()`` lays each stream out in order."""

    def __init__(self, n_envs: int):
        self.n_envs = n_envs
        self.rows: list[tuple] = []

    def add(self, states, actions, logp, rewards, costs, next_states, terminated, truncated) -> None:
        """One step of every env (arrays with a leading axis of n_envs)."""
        self.rows.append(tuple(np.asarray(x) for x in (states, actions, logp, rewards, costs, next_states, terminated, truncated)))

    def __len__(self) -> int:
        return len(self.rows) * self.n_envs

    def clear(self) -> None:
        self.rows = []

    def data(self) -> PPOData:
        cols = [np.stack(c) for c in zip(*self.rows)]  # each (T, N, ...)
        terminated, truncated = cols[6].astype(bool), cols[7].astype(bool).copy()
        truncated[-1] |= ~terminated[-1]  # the rollout cuts every stream here: bootstrap, don't end
        cols[6], cols[7] = terminated, truncated
        flat = [np.swapaxes(c, 0, 1).reshape(-1, *c.shape[2:]) for c in cols]  # env-major
        dtypes = (np.float32,) * 6 + (bool, bool)
        arrays = [f.astype(d) for f, d in zip(flat, dtypes)]
        states, actions, logps, rewards, costs, next_states, terminated, truncated = arrays
        return PPOData(
            states, actions, logps, rewards, costs, next_states, terminated, truncated, policy_mask=np.ones(len(rewards), np.float32)
        )


def offpolicy_from_episodes(
    episodes: Iterable[Episode], learn_from: str = "proposed", veto_penalty: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(s, a, r, s', terminated) of logged episodes for an off-policy learner (``sac``): the
    stored action as PPO's (the proposal, or the executed action), except that rows without a
    task-policy proposal (operator, expert) keep the executed action -- off-policy, every action
    that ran is data. Rewards as ``decide.stored_rewards`` pays them."""
    if learn_from not in LEARN_FROM:
        raise ValueError(f"learn_from must be one of {LEARN_FROM}, got {learn_from!r}")
    tr = to_transitions(episodes)
    actions = tr.actions
    if learn_from == "proposed":
        own = np.isfinite(tr.proposals).all(1) & np.isfinite(tr.proposal_logp)
        actions = np.where(own[:, None], tr.proposals, tr.actions)
    return (
        tr.states.astype(np.float32),
        np.clip(actions, -1.0, 1.0).astype(np.float32),
        stored_rewards(tr.rewards, tr.source, veto_penalty),
        tr.next_states.astype(np.float32),
        tr.terminated.astype(np.float32),
    )


def from_episodes(episodes: Iterable[Episode], learn_from: str = "proposed", veto_penalty: float = 0.0) -> PPOData:
    """PPO data from logged episodes (the ROS trajectory logger's files); ``veto_penalty``: see
    ``decide.stored_rewards``."""
    if learn_from not in LEARN_FROM:
        raise ValueError(f"learn_from must be one of {LEARN_FROM}, got {learn_from!r}")
    tr = to_transitions(episodes)
    actions, logp = (tr.proposals, tr.proposal_logp) if learn_from == "proposed" else (tr.actions, tr.logp)
    mask = np.isfinite(actions).all(1) & np.isfinite(logp)
    ends = tr.terminated | tr.truncated
    if len(ends) and not ends[-1]:
        raise ValueError("the last episode does not end (neither terminated nor truncated)")
    return PPOData(
        tr.states.astype(np.float32),
        np.where(mask[:, None], actions, 0).astype(np.float32),
        np.where(mask, logp, 0).astype(np.float32),
        stored_rewards(tr.rewards, tr.source, veto_penalty),
        tr.costs.astype(np.float32),
        tr.next_states.astype(np.float32),
        tr.terminated.astype(bool),
        tr.truncated.astype(bool),
        mask.astype(np.float32),
    )

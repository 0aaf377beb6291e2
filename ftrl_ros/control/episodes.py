"""Episode bookkeeping for the online loop, shared by the episode manager (when does an episode
end, and why) and the trajectory logger (turning the stream of decisions into learning-core
episodes, rewards computed by the task spec exactly as the simulator computes them)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..learning.dataset import Episode, EpisodeRecorder
from ..tasks.spec import TaskSpec

END_REASONS = ("ir_failure", "intervention", "time_limit", "estop", "operator", "perception_lost")


@dataclass
class EpisodeClock:
    """Counts control steps of the running episode and says when it must end.

    An episode ends on an IR failure seen in the estimated state (the task's constraint), on an
    operator's intervention, at the time limit (truncation), or when the state has been incomplete
    for ``max_stale`` seconds (e.g. the hand hides the puck from the camera and the arm, holding
    still because of it, would wait forever). Success is reported but, as in the simulator, does
    not end the episode.
    """

    spec: TaskSpec
    max_steps: int
    max_stale: float = 3.0
    steps: int = 0
    success: bool = False
    stale_since: float | None = None

    def start(self) -> None:
        self.steps, self.success, self.stale_since = 0, False, None

    def tick(self, state: np.ndarray, t: float = 0.0) -> str:
        """Account for one control step whose *resulting* state is ``state``, at time ``t`` (s);
        returns the end reason or ''."""
        self.steps += 1
        if np.all(np.isfinite(state)):
            self.stale_since = None
            self.success |= self.spec.success(state)
            if self.spec.constraint(state):
                return "ir_failure"
        else:
            self.stale_since = t if self.stale_since is None else self.stale_since
            if t - self.stale_since >= self.max_stale:
                return "perception_lost"
        if self.steps >= self.max_steps:
            return "time_limit"
        return ""


class EpisodeAssembler:
    """Decisions (state, executed action, source, log-prob, risk) in order -> one Episode.

    The transition of decision t is completed by the state of decision t+1 (or the final state
    at the end): reward, cost, success and IR failure are those of that next state, computed by
    the task spec, as in ``TaskEnv.step``.
    """

    def __init__(self, spec: TaskSpec, meta: dict):
        self.spec, self.meta = spec, meta
        self.recorder: EpisodeRecorder | None = None
        self.pending: tuple | None = None  # (action, source, logp, risk) waiting for its next state
        self.latest: np.ndarray | None = None  # the last finite state seen
        self.recovery_steps = 0

    def add(self, state: np.ndarray, action: np.ndarray, source: str, logp: float, risk: float,
            proposal=None, proposal_logp: float = float("nan")) -> None:
        """A step the policy (task or recovery) took from ``state``; ``proposal`` and
        ``proposal_logp`` are the task policy's own sample and its log-prob (PPO's data)."""
        state = np.asarray(state, np.float32)
        if not np.all(np.isfinite(state)):
            raise ValueError("a policy step needs a complete state (NaN found)")
        self.latest = state
        if self.recorder is None:
            self.recorder = EpisodeRecorder(state, dict(self.meta))
        elif self.pending is not None:
            self._complete(state, terminated=False, truncated=False, ir=False)
        self.pending = (np.asarray(action, np.float32), source, float(logp), float(risk),
                        None if proposal is None else np.asarray(proposal, np.float32), float(proposal_logp))
        self.recovery_steps += source != "task"

    def observe(self, state: np.ndarray) -> None:
        """A tick on which the arm held still (stale input, e-stop): it completes the pending
        step if its state is known, and adds no step of its own (the policy did not act)."""
        state = np.asarray(state, np.float32)
        if np.all(np.isfinite(state)):
            self.latest = state
            if self.pending is not None:
                self._complete(state, terminated=False, truncated=False, ir=False)

    def finish(self, final_state: np.ndarray, reason: str) -> Episode | None:
        """Close the episode; None if no step was taken."""
        final_state = np.asarray(final_state, np.float32)
        if not np.all(np.isfinite(final_state)):
            final_state = self.latest
        if self.recorder is None or final_state is None:
            self.recorder, self.pending = None, None
            return None
        ir = reason in ("ir_failure", "intervention")
        if self.pending is not None:
            self._complete(final_state, terminated=ir, truncated=not ir, ir=ir)
        elif self.recorder.steps["actions"]:  # the last step was already completed by a hold tick
            self.recorder.steps["terminated"][-1] = ir
            self.recorder.steps["truncated"][-1] = not ir
            self.recorder.steps["ir_failure"][-1] |= ir
            self.recorder.steps["costs"][-1] = max(self.recorder.steps["costs"][-1], float(ir))
        else:
            self.recorder = None
            return None
        ep = self.recorder.finish()
        self.recorder, self.pending = None, None
        return ep

    def _complete(self, next_state: np.ndarray, terminated: bool, truncated: bool, ir: bool) -> None:
        action, source, logp, risk, proposal, proposal_logp = self.pending
        finite = bool(np.all(np.isfinite(next_state)))
        reward = float(sum(self.spec.reward_terms(next_state).values())) if finite else 0.0
        success = bool(self.spec.success(next_state)) if finite else False
        ir = ir or (finite and bool(self.spec.constraint(next_state)))
        self.recorder.add(action, next_state, reward, float(ir), success, ir, terminated, truncated,
                          source=source, logp=logp, risk=risk, proposal=proposal, proposal_logp=proposal_logp)
        self.pending = None

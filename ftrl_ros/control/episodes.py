"""Episode bookkeeping for the online loop, shared by the episode manager (when does an episode
end, and why) and the trajectory logger (turning the stream of decisions into learning-core
episodes, rewards computed by the task spec exactly as the simulator computes them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..learning.dataset import FALLBACK_SOURCES, SOURCE_NAMES, Episode, EpisodeRecorder
from ..tasks.spec import TaskSpec
from . import validate

END_REASONS = ("ir_failure", "intervention", "time_limit", "estop", "operator", "perception_lost", "failed_before_acting")
"""``failed_before_acting``: the constraint held in a state before the policy's first step (a
start the world put in contact); not counted as an IR failure of the method."""


@dataclass
class EpisodeClock:
    """Counts control steps of the running episode and says when it must end.

    An episode ends on an IR failure seen in the estimated state (the task's constraint), on an
    operator's intervention, at the time limit (truncation), or when the state has been incomplete
    or implausible for ``max_stale`` seconds (e.g. the hand hides the puck from the camera and the arm, holding
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
        if not validate.state_problem(self.spec, state):  # missing or implausible: as if unseen
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
        self.eps_safe: list[float | None] = []  # per step (None: unknown), as JSON keeps it
        self.stamps: list[int | None] = []

    def add(
        self,
        state: np.ndarray,
        action: np.ndarray,
        source: str,
        logp: float,
        risk: float,
        proposal=None,
        proposal_logp: float = float("nan"),
        eps_safe: float = float("nan"),
        stamp_ns: int | None = None,
    ) -> None:
        """A step the policy (task or recovery) took from ``state``; ``proposal`` and
        ``proposal_logp`` are the task policy's own sample and its log-prob (PPO's data);
        ``eps_safe`` the threshold ``risk`` was compared with (kept in ``meta['eps_safe']``);
        ``stamp_ns`` the camera stamp of ``state`` (``meta['step_stamps_ns']``: pairs steps with frames)."""
        state = np.asarray(state, np.float32)
        problem = validate.state_problem(self.spec, state)
        if problem:
            raise ValueError(f"a policy step needs a complete, plausible state: {problem}")
        self.latest = state
        if self.recorder is None:
            self.recorder = EpisodeRecorder(state, dict(self.meta))
            self.eps_safe, self.stamps = [], []
        elif self.pending is not None:
            self._complete(state, terminated=False, truncated=False, ir=False)
        self.pending = (
            np.asarray(action, np.float32),
            source,
            float(logp),
            float(risk),
            None if proposal is None else np.asarray(proposal, np.float32),
            float(proposal_logp),
        )
        self.recovery_steps += source in FALLBACK_SOURCES
        self.eps_safe.append(float(eps_safe) if np.isfinite(eps_safe) else None)
        self.stamps.append(stamp_ns)

    def observe(self, state: np.ndarray) -> None:
        """A tick on which the arm held still (stale input, e-stop): it completes the pending
        step if its state is known, and adds no step of its own (the policy did not act)."""
        state = np.asarray(state, np.float32)
        if not validate.state_problem(self.spec, state):
            self.latest = state
            if self.pending is not None:
                self._complete(state, terminated=False, truncated=False, ir=False)

    def finish(self, final_state: np.ndarray, reason: str) -> Episode | None:
        """Close the episode; None if no step was taken."""
        final: np.ndarray | None = np.asarray(final_state, np.float32)
        if validate.state_problem(self.spec, final_state):
            final = self.latest
        if self.recorder is None or final is None:
            self.recorder, self.pending = None, None
            return None
        ir = reason in ("ir_failure", "intervention")
        if self.pending is not None:
            self._complete(final, terminated=ir, truncated=not ir, ir=ir)
        elif self.recorder.steps["actions"]:  # the last step was already completed by a hold tick
            self.recorder.steps["terminated"][-1] = ir
            self.recorder.steps["truncated"][-1] = not ir
            self.recorder.steps["ir_failure"][-1] |= ir
            self.recorder.steps["costs"][-1] = max(self.recorder.steps["costs"][-1], float(ir))
        else:
            self.recorder = None
            return None
        self.recorder.meta["eps_safe"] = self.eps_safe[: len(self.recorder.steps["actions"])]
        if any(s is not None for s in self.stamps):
            self.recorder.meta["step_stamps_ns"] = self.stamps[: len(self.recorder.steps["actions"])]
        ep = self.recorder.finish()
        self.recorder, self.pending = None, None
        return ep

    def _complete(self, next_state: np.ndarray, terminated: bool, truncated: bool, ir: bool) -> None:
        assert self.pending is not None and self.recorder is not None, "a step completed outside an episode"
        action, source, logp, risk, proposal, proposal_logp = self.pending
        finite = not validate.state_problem(self.spec, next_state)
        reward = float(sum(self.spec.reward_terms(next_state).values())) if finite else 0.0
        success = bool(self.spec.success(next_state)) if finite else False
        ir = ir or (finite and bool(self.spec.constraint(next_state)))
        self.recorder.add(
            action,
            next_state,
            reward,
            float(ir),
            success,
            ir,
            terminated,
            truncated,
            source=source,
            logp=logp,
            risk=risk,
            proposal=proposal,
            proposal_logp=proposal_logp,
        )
        self.pending = None


RECORD_KINDS = {"task": "task_demo", "recovery": "recovery_demo", "failure": "failure_demo"}
"""Operator record modes -> the episode kinds ``ftrl train-offline`` reads as demos; episodes
outside a record mode are ``online``."""


def episode_kind(event: dict) -> str:
    """The dataset kind of an episode from its start/end event's ``record`` mode."""
    record = event.get("record")
    return RECORD_KINDS.get(record, "online") if isinstance(record, str) else "online"


def source_name(fields: dict) -> str:
    """Who produced the executed action of a decision (older decisions have only the flag)."""
    code = fields.get("source", float("nan"))
    known = ("task", "recovery", "mppi", "operator")
    if isinstance(code, (int, float)) and np.isfinite(code) and SOURCE_NAMES.get(int(code)) in known:
        return SOURCE_NAMES[int(code)]
    return "recovery" if fields.get("recovery", 0.0) > 0.5 else "task"


def episode_from_decisions(
    spec: TaskSpec, decisions: dict[int, tuple[dict, list]], end: dict, meta: dict
) -> tuple[Episode | None, int, list[int]]:
    """The logged decisions of one episode (stamp -> (fields, state)) and its end event -> the
    Episode (None without a policy step), its recovery steps and the policy versions that acted.

    Only decisions stamped at or after the episode's start and before its final state count; a
    hold tick (or a decision whose state is implausible) completes the pending step without
    adding one.
    """
    first, last = int(end.get("start_stamp_ns", 0)), int(end.get("final_stamp_ns", 2**63 - 1))
    asm = EpisodeAssembler(spec, dict(meta))
    versions: set[int] = set()
    for stamp in sorted(decisions):
        if not first <= stamp < last:
            continue
        fields, values = decisions[stamp]
        state = np.asarray(values, np.float32)
        if fields.get("hold", 1.0) > 0.5 or validate.state_problem(spec, state):
            asm.observe(state)
            continue
        action = np.array([fields.get("exec_ax", np.nan), fields.get("exec_ay", np.nan)], np.float32)
        if not np.all(np.isfinite(action)) or np.any(np.abs(action) > 1.0 + 1e-6):
            asm.observe(state)
            continue
        version = fields.get("policy_version", np.nan)
        if np.isfinite(version) and 0 <= version < 2**31:
            versions.add(int(version))
        asm.add(
            state,
            action,
            source_name(fields),
            fields.get("exec_logp", np.nan),
            fields.get("risk", np.nan),
            proposal=[fields.get("task_ax", np.nan), fields.get("task_ay", np.nan)],
            proposal_logp=fields.get("task_logp", float("nan")),
            eps_safe=fields.get("eps_safe", float("nan")),
            stamp_ns=stamp,
        )
    asm.meta["policy_versions"] = sorted(versions)
    final = np.asarray(end.get("final_state") or [np.nan] * spec.layout.dim, np.float32)
    ep = asm.finish(final, str(end.get("reason", "operator")))
    return ep, asm.recovery_steps, sorted(versions)

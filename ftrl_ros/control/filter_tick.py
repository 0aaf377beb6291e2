"""One tick of the safety filter, without ROS: a validated proposal, the state it was computed
from, the operator's inputs and the clock in; the velocity command, the decision record (by the
field names of ``control.fields.DECISION_FIELDS``) and why the arm holds out.

The order of the checks is the safety argument, so it is written once, here: e-stop, no running
episode, an implausible or old state, an implausible proposal, an operator who took over without a
fresh command -- each makes the arm hold still (zero velocity) and says why. Otherwise
``decide.Decider`` picks the task or the fallback action (the same call every benchmark makes),
the operator's action replaces it while the operator has taken over, and the result becomes a TCP
velocity inside the task's speed limit and workspace. ``nodes/safety_filter.py`` only converts
messages to and from this function.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..learning.dataset import SOURCES
from ..learning.decide import FALLBACKS, Decider, Proposals
from ..tasks.spec import TaskSpec
from . import validate
from .command import hold_reason, velocity_command
from .teleop import Teleop


class Tick(NamedTuple):
    velocity: np.ndarray
    """TCP velocity (vx, vy), m/s, base frame; zeros when holding."""
    record: dict[str, float]
    """The decision's fields by name (``DECISION_FIELDS`` but ``latency_ms``, which the caller measures)."""
    hold: str
    """Why the arm holds still; '' when it moves."""


def filter_tick(
    decider: Decider,
    spec: TaskSpec,
    proposal: dict[str, float],
    state: np.ndarray,
    state_age: float,
    max_age: float,
    estop: bool,
    running: bool,
    teleop: Teleop,
    now: float,
    policy_version: float,
) -> Tick:
    """Decide one proposal (``PROPOSAL_FIELDS`` by name) for ``state`` (the bundle's layout),
    ``state_age`` s after its stamp; ``now`` is the monotonic clock the teleop commands were
    stamped with. The decider's debounce advances only on ticks that reach the decision."""
    task_action = np.array([proposal["task_ax"], proposal["task_ay"]], float)
    task_logp = float(proposal["task_logp"])
    operator, takeover_problem = teleop.action(now)
    reason = (
        hold_reason(spec, state, state_age, max_age, estop, running) or validate.action_problem(task_action, task_logp) or takeover_problem
    )
    risk, code, executed, logp = float("nan"), -1, np.zeros(2), float("nan")
    velocity = np.zeros(2)
    if not reason:
        d = decider.decide(state[None], Proposals(task_action[None].astype(np.float32), np.array([task_logp], np.float32)))
        risk, code, executed, logp = float(d.risk[0]), int(d.source[0]), d.executed[0], float(d.exec_logp[0])
        if operator is not None:  # the operator's action runs; risk and the proposal are still logged
            code, executed = SOURCES["operator"], operator
            with torch.no_grad():
                logp = float(decider.policy.log_prob(torch.as_tensor(state[None], dtype=torch.float32), torch.as_tensor(operator[None]))[0])
        ee = state[[spec.layout.index("ee_x"), spec.layout.index("ee_y")]]
        velocity = velocity_command(spec, executed, ee)
    record = {
        "risk": risk,
        "eps_safe": decider.threshold,
        "recovery": float(not reason and code in FALLBACKS),
        "hold": float(bool(reason)),
        "task_ax": float(task_action[0]),
        "task_ay": float(task_action[1]),
        "exec_ax": float(executed[0]),
        "exec_ay": float(executed[1]),
        "exec_logp": logp,
        "policy_version": float(policy_version),
        "task_logp": task_logp,
        "source": float(code),
    }
    return Tick(velocity, record, reason)

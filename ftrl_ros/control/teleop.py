"""Operator takeover (HIL-SERL's intervention): while the operator holds "take over", the
safety filter executes the operator's planar velocity instead of the policy's -- the e-stop,
the episode and the state checks still apply -- and the step is logged with source
``operator``. Pure logic; the safety filter node feeds it messages."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..tasks.spec import TaskSpec
from . import validate


@dataclass
class Teleop:
    spec: TaskSpec
    timeout: float = 0.4
    """A teleop command older than this (s) is not followed: the arm holds."""
    active: bool = False
    """The operator holds "take over"."""
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    received: float = -np.inf
    """time.monotonic() of the last accepted teleop command."""

    def take_over(self, on: bool) -> None:
        self.active = bool(on)
        if not on:
            self.velocity, self.received = np.zeros(2), -np.inf

    def command(self, velocity, age: float, now: float) -> str:
        """A teleop velocity (m/s, base frame) stamped ``age`` s ago; '' if accepted, else why not
        (it is then not followed; the previous one ages out)."""
        v = np.asarray(velocity, float)
        problem = validate.command_problem(v, self.spec.max_speed) or validate.stamp_problem(age, self.timeout, "teleop command")
        if problem:
            return problem
        self.velocity, self.received = v.copy(), now
        return ""

    def action(self, now: float) -> tuple[np.ndarray | None, str]:
        """(normalised action, '') while the operator has taken over with a fresh command;
        (None, reason to hold) when taken over without one; (None, '') when not taken over."""
        if not self.active:
            return None, ""
        if now - self.received > self.timeout:
            return None, f"operator took over but sent no teleop command for {self.timeout:.1f} s"
        return self.spec.velocity_to_action(self.velocity).astype(np.float32), ""

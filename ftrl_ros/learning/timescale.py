"""Every time constant of the offline safety pipeline, stated in seconds and converted per task.

The robot tasks act at 5 Hz, Meta-World at 80 Hz: a label horizon of "3 steps" or a discount of
"0.9 per step" means 0.6 s and a half-life of 1.3 s on the robot, but 37 ms and 82 ms on
FailureBench. Settings are therefore written once, in seconds (:class:`TimeConstants`), and
:func:`apply` turns them into the step counts and per-step discounts that the world model, the
Recovery-RL critic, C_H and calibration use, for the task's ``control_dt``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for the annotation of apply()
    from .offline import OfflineConfig


def steps(seconds: float, dt: float) -> int:
    """Whole control steps in ``seconds`` (rounded; 0 s stays 0)."""
    if seconds < 0 or dt <= 0:
        raise ValueError(f"need seconds >= 0 and dt > 0, got {seconds}, {dt}")
    return int(round(seconds / dt))


def discount(half_life_s: float, dt: float) -> float:
    """Per-step discount whose weight halves every ``half_life_s`` seconds."""
    if half_life_s <= 0 or dt <= 0:
        raise ValueError(f"need half_life_s > 0 and dt > 0, got {half_life_s}, {dt}")
    return float(0.5 ** (dt / half_life_s))


def half_life(gamma: float, dt: float) -> float:
    """Seconds over which a per-step discount ``gamma`` halves a weight (inverse of ``discount``)."""
    import math

    return float(dt * math.log(0.5) / math.log(gamma))


@dataclass(frozen=True)
class TimeConstants:
    """The offline safety pipeline's clocks, in seconds (defaults: the robot tasks' values,
    i.e. what the 5 Hz bundles used as step counts before: 3 steps = 0.6 s, 0.9/step, ...)."""

    label_horizon_s: float = 0.6
    """L: a step is labelled risky when an IR failure follows within L seconds. Calibration and
    the test figures use this label for every critic, so critics are compared on one label."""
    constraint_horizon_s: float = 0.6
    """K: what the world model's constraint head predicts -- "an IR failure within K seconds
    of this step". A one-step target (c_t = 1 on the failure step only) gives one positive per
    failing episode and no warning time; the far-sighted one gives K x rate positives before
    every failure."""
    lookaheads_s: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    """Latent roll-out lengths of C_H tried on the validation rollouts (the best AUC wins)."""
    window_s: float = 1.0
    """World-model training window; at least the longest look-ahead (the model is trained on
    roll-outs as long as it is asked to make)."""
    risk_half_life_s: float = 1.32
    """gamma_risk of C_H (Eq. 11) as a half-life: 0.9 per step at 5 Hz."""
    safe_half_life_s: float = 0.62
    """Recovery RL's gamma_safe as a half-life: 0.8 per step at 5 Hz (Recovery RL's setting)."""
    rho_half_life_s: float = 0.39
    """lambda of Eq. 4 (later steps of a training window weigh less) as a half-life: 0.7 at 5 Hz."""
    value_half_life_s: float = 13.8
    """The world model's value discount as a half-life: 0.99 per step at 5 Hz."""
    gate_horizon_s: float = 2.0
    """Roll-out length of the offline improvement gate's model returns (``model_gate``)."""

    def __post_init__(self) -> None:
        for name in ("label_horizon_s", "constraint_horizon_s", "window_s", "risk_half_life_s", "safe_half_life_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"TimeConstants.{name} must be > 0, got {getattr(self, name)!r}")
        if not self.lookaheads_s or min(self.lookaheads_s) < 0:
            raise ValueError(f"TimeConstants.lookaheads_s must be non-empty and >= 0, got {self.lookaheads_s!r}")
        if max(self.lookaheads_s) > self.window_s + 1e-9:
            raise ValueError(
                f"TimeConstants.window_s ({self.window_s}) must be >= the longest look-ahead ({max(self.lookaheads_s)}): "
                "the world model would be asked for roll-outs longer than it was trained on"
            )


@dataclass(frozen=True)
class StepConstants:
    """:class:`TimeConstants` at one control rate (what the learners consume)."""

    label_horizon: int
    constraint_horizon: int
    lookaheads: tuple[int, ...]
    window: int
    gamma_risk: float
    gamma_safe: float
    rho: float
    gamma: float
    gate_horizon: int


def at_rate(tc: TimeConstants, dt: float) -> StepConstants:
    """``tc`` in steps of ``dt`` seconds."""
    return StepConstants(
        label_horizon=max(1, steps(tc.label_horizon_s, dt)),
        constraint_horizon=max(1, steps(tc.constraint_horizon_s, dt)),
        lookaheads=tuple(sorted({steps(h, dt) for h in tc.lookaheads_s})),
        window=max(1, steps(tc.window_s, dt)),
        gamma_risk=discount(tc.risk_half_life_s, dt),
        gamma_safe=discount(tc.safe_half_life_s, dt),
        rho=discount(tc.rho_half_life_s, dt),
        gamma=discount(tc.value_half_life_s, dt),
        gate_horizon=max(1, steps(tc.gate_horizon_s, dt)),
    )


def apply(cfg: "OfflineConfig", dt: float) -> "OfflineConfig":
    """``cfg`` with every step count and per-step discount of its learners set from
    ``cfg.time`` at the task's control period ``dt`` (seconds)."""
    sc = at_rate(cfg.time, dt)
    return replace(
        cfg,
        world_model=replace(cfg.world_model, horizon=sc.window, constraint_horizon=sc.constraint_horizon, rho=sc.rho, gamma=sc.gamma),
        recovery_rl=replace(cfg.recovery_rl, gamma_safe=sc.gamma_safe),
        safety=replace(cfg.safety, gamma_risk=sc.gamma_risk),
        task_policy=replace(cfg.task_policy, gate_model=replace(cfg.task_policy.gate_model, horizon=sc.gate_horizon, gamma=sc.gamma)),
        recovery_policy=replace(
            cfg.recovery_policy, gate_model=replace(cfg.recovery_policy.gate_model, horizon=sc.gate_horizon, gamma=sc.gamma)
        ),
    )

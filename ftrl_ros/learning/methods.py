"""The table of methods: everything the code knows about a method, in one row.

The decider (``decide.Decider``), both nodes (``safety_filter``, ``ppo_learner``), the learners
(``online.finetune``), calibration (``closed_loop``) and the benchmarks read this table; none of
them tests a method's name. A new method is one row here plus its critic module.

=================  ====================================  ==============================  ==========
method             safety critic                         action when flagged             PPO cost
=================  ====================================  ==============================  ==========
farl               world model C_H (Eq. 11)              recovery policy (frozen)        --
recovery_rl        MLP Q_safe (Eq. 16-17)                recovery policy (frozen)        --
mppi               world model C_H (Eq. 11)              MPPI in the world model         --
uni_o4             none: plain online PPO                --                              --
ppo_lagrangian     none                                  --                              Lagrangian
p3o                none                                  --                              exact penalty
=================  ====================================  ==============================  ==========
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

from .bundle import Bundle
from .mppi import MPPIRecovery
from .nets import GaussianPolicy
from .recovery_rl import RecoveryRLCritic
from .safety import Critic, WorldModelCritic, guard_for, guarded

if TYPE_CHECKING:  # ppo imports decide (via rollout), which imports this table
    from .ppo import PPOConfig


def world_model_critic(bundle: Bundle, policy: GaussianPolicy) -> Critic:
    """C_H: the world model rolled H steps under the (live) task policy, behind the OOD guard."""
    wm = WorldModelCritic(bundle.world_model, policy, bundle.safety)
    return guarded(wm, guard_for(bundle.task, bundle.safety, wm.ceiling))


def q_safe_critic(bundle: Bundle, policy: GaussianPolicy) -> Critic:
    """Recovery RL's Q_safe (a probability, so the guard raises it to 1)."""
    return guarded(RecoveryRLCritic(bundle.safety_q), guard_for(bundle.task, bundle.safety, 1.0))


@dataclass(frozen=True)
class Method:
    name: str
    """As typed on the command line and in the ``method`` parameter."""
    critic: Callable[[Bundle, GaussianPolicy], Critic] | None = None
    """Builds the safety critic from the bundle and the live task policy; None = no filter."""
    fallback: str | None = None
    """What runs when the filter fires: ``recovery`` (the frozen recovery policy) or ``mppi``
    (a ``dataset.SOURCES`` name, which is also what the step is logged as)."""
    threshold: str = "eps_safe"
    """Which calibrated threshold of the bundle is the default: ``eps_safe`` (the world model's,
    in ``bundle.safety``) or ``rrl_eps`` (the Recovery-RL critic's)."""
    constraint: str = "none"
    """``PPOConfig.constraint``: how the PPO update carries the cost (none, lagrangian, p3o)."""
    summary: str = ""
    """One line for help texts."""

    @property
    def filtered(self) -> bool:
        """The filter may replace the task policy's action."""
        return self.critic is not None

    def calibrated_eps(self, bundle: Bundle) -> float:
        """The bundle's calibrated threshold for this method's critic (NaN without a filter)."""
        if not self.filtered:
            return float("nan")
        return float(bundle.rrl_eps if self.threshold == "rrl_eps" else bundle.safety.eps_safe)

    def with_eps(self, bundle: Bundle, eps: float) -> Bundle:
        """``bundle`` with this method's calibrated threshold set to ``eps`` (closed-loop calibration)."""
        if self.threshold == "rrl_eps":
            return replace(bundle, rrl_eps=float(eps))
        return replace(bundle, safety=replace(bundle.safety, eps_safe=float(eps)))

    def ppo_config(self, base: PPOConfig, task_reward_scale: float) -> PPOConfig:
        """The PPO settings this method learns with, for ``online.finetune`` and ``ppo_learner``
        alike: its cost constraint, and the task's reward scale unless ``base`` sets one."""
        cfg = replace(base, constraint=self.constraint)
        return cfg if cfg.reward_scale is not None else replace(cfg, reward_scale=float(task_reward_scale))

    def fallback_planner(self, bundle: Bundle) -> MPPIRecovery | None:
        return MPPIRecovery(bundle.world_model) if self.fallback == "mppi" else None


TABLE: tuple[Method, ...] = (
    Method("farl", world_model_critic, "recovery", summary="world-model C_H filter, recovery policy takes over"),
    Method("uni_o4", summary="plain online PPO, no filter"),
    Method("recovery_rl", q_safe_critic, "recovery", threshold="rrl_eps", summary="MLP Q_safe filter, recovery policy takes over"),
    Method("mppi", world_model_critic, "mppi", summary="world-model C_H filter, MPPI in the world model takes over"),
    Method("ppo_lagrangian", constraint="lagrangian", summary="no filter; PPO with a Lagrange multiplier on the cost"),
    Method("p3o", constraint="p3o", summary="no filter; PPO with an exact penalty on the cost"),
)
BY_NAME = {m.name: m for m in TABLE}
METHODS = tuple(BY_NAME)
FILTERED = tuple(m.name for m in TABLE if m.filtered)
"""Methods with a safety filter; the others execute every proposal."""
CONSTRAINED = {m.name: m.constraint for m in TABLE if m.constraint != "none"}
"""Methods whose PPO update carries the cost (``PPOConfig.constraint``)."""
LEARN_FROM = ("proposed", "executed")
"""What PPO stores for a step (see ``decide``): the task policy's own sample or the executed action."""
UNFILTERED_ALIAS = "none"
"""The ROS parameter ``method`` also takes ``none``: the task policy alone (= uni_o4)."""


def method_problem(name: str, alias: bool = False) -> str | None:
    """None if ``name`` names a method (or, with ``alias``, is ``none``), else what is allowed."""
    if name in BY_NAME or (alias and name == UNFILTERED_ALIAS):
        return None
    return f"one of {', '.join(METHODS)}" + (f" or {UNFILTERED_ALIAS}" if alias else "")


def get_method(name: str) -> Method:
    """The row of ``name`` (``none`` = uni_o4); ValueError naming the choices otherwise."""
    if name == UNFILTERED_ALIAS:
        name = "uni_o4"
    if name not in BY_NAME:
        raise ValueError(f"method must be {method_problem(name)}, got {name!r}")
    return BY_NAME[name]

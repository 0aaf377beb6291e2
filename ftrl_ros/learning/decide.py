"""The one decision path: state -> task proposal -> risk -> executed action -> what PPO stores.

``safety_filter`` (the node the robot runs), ``online.finetune`` (what every benchmark measures)
and ``ftrl evaluate`` all call :class:`Decider`; nothing else decides. Batched over states, so a
vector of simulated robots and a single real one go through the same lines.

Which critic and which fallback each method has is in ``methods.TABLE``.

What PPO learns from (``learn_from``):
- ``proposed`` (default, Recovery-RL style): the filter and recovery policy are part of the
  environment; PPO stores the task policy's *own sample* and its log-prob, so the importance
  ratio is on-policy on every row, recovery steps included.
- ``executed`` (the paper's variant): PPO stores the executed action with the task policy's
  log-prob of it -- for recovery rows that is a far off-policy action (log-prob near -30).
Critics are trained on actions in [-1, 1], so they always see the proposal clipped to the box.
Every filtered method's critic sits behind the bundle's OOD guard (``safety.OODGuard``) where
the bundle has one.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np
import torch

from .bundle import Bundle
from .dataset import FALLBACK_SOURCES, SOURCES
from .methods import LEARN_FROM, get_method
from .safety import Critic, Debounce, switch

TASK, RECOVERY, MPPI = SOURCES["task"], SOURCES["recovery"], SOURCES["mppi"]
FALLBACKS = tuple(SOURCES[name] for name in FALLBACK_SOURCES)
"""Source codes of a step on which the filter vetoed the task policy's proposal."""


class Proposals(NamedTuple):
    actions: np.ndarray
    """(N, 2) the task policy's samples (or means), not clipped."""
    logp: np.ndarray
    """(N,) their log-probabilities under the policy that sampled them."""


class Decisions(NamedTuple):
    executed: np.ndarray
    """(N, 2) the action sent to the robot, in [-1, 1]."""
    source: np.ndarray
    """(N,) int8 codes of ``dataset.SOURCES``: task, recovery or mppi."""
    risk: np.ndarray
    """(N,) the critic's risk for the clipped proposal; NaN without a filter."""
    stored_action: np.ndarray
    """(N, 2) the action PPO learns from (see ``learn_from``)."""
    stored_logp: np.ndarray
    """(N,) its log-probability at collection time."""
    exec_logp: np.ndarray
    """(N,) the task policy's log-prob of the executed action (recorded in episodes)."""


class ProposingPolicy(Protocol):
    """What ``propose`` needs of a task policy: ``nets.GaussianPolicy`` or an external one
    (``interop.onnx_policy.OnnxPolicy``)."""

    def dist(self, s: torch.Tensor) -> torch.distributions.Normal: ...


@torch.no_grad()
def propose(
    policy: ProposingPolicy, states: np.ndarray, deterministic: bool = False, generator: torch.Generator | None = None
) -> Proposals:
    """The task policy's actions for a batch of states: samples (training) or means (evaluation)."""
    s = torch.as_tensor(np.asarray(states, np.float32))
    d = policy.dist(s)
    a = d.mean if deterministic else d.mean + d.stddev * torch.randn(d.mean.shape, generator=generator)
    return Proposals(a.numpy().astype(np.float32), d.log_prob(a).sum(-1).numpy().astype(np.float32))


def stored_rewards(rewards: np.ndarray, source: np.ndarray, veto_penalty: float) -> np.ndarray:
    """What PPO is paid for each step: the task's reward, less ``veto_penalty`` where the filter
    vetoed the task policy's proposal (the recovery policy or MPPI acted instead).

    Why: with ``learn_from="proposed"`` a vetoed proposal is stored as if it had run, and costs
    the policy nothing; a policy that leans on the filter is then as good as one that does not
    (on Fragile Push Wall recovery steps per evaluation episode rose 9 -> 29 during fine-tuning).
    0 keeps the paper's objective. Both producers of PPO data (``online.finetune`` and
    ``rollout.from_episodes`` for ``ppo_learner``) call this."""
    vetoed = np.isin(np.asarray(source), FALLBACKS)
    return (np.asarray(rewards, np.float32) - np.float32(veto_penalty) * vetoed).astype(np.float32)


class Decider:
    """The task policy, the method's critic and the recovery action, frozen except for the task
    policy (whose weights an online update may replace in place: critics see them at once)."""

    def __init__(self, bundle: Bundle, method: str, learn_from: str = "proposed", eps_safe: float | None = None, seed: int = 0):
        self.spec = get_method(method)  # ValueError naming the methods
        if learn_from not in LEARN_FROM:
            raise ValueError(f"learn_from must be one of {LEARN_FROM}, got {learn_from!r}")
        self.method, self.learn_from = self.spec.name, learn_from
        self.policy = bundle.task_policy
        self.recovery_policy = bundle.recovery_policy
        self.gen = torch.Generator().manual_seed(seed)
        self.critic: Critic | None = self.spec.critic(bundle, self.policy) if self.spec.critic else None
        self.mppi = self.spec.fallback_planner(bundle)
        self.calibrated_eps = self.spec.calibrated_eps(bundle)
        """The bundle's threshold for this method's critic (NaN without a filter)."""
        self.eps_safe = self.calibrated_eps
        self.set_eps(eps_safe)
        self.debounce = Debounce(bundle.safety.confirm_steps, bundle.safety.hold_steps)

    def set_eps(self, eps_safe: float | None) -> None:
        """The one threshold rule: None or < 0 means the bundle's calibrated threshold for this
        method; the next decision uses it."""
        self.eps_safe = float(self.calibrated_eps if eps_safe is None or eps_safe < 0 else eps_safe)

    @property
    def threshold(self) -> float:
        """The threshold in force, as logged: NaN for a method without a filter."""
        return self.eps_safe if self.filtered else float("nan")

    def reset(self, rows: np.ndarray | None = None) -> None:
        """New episodes on ``rows`` (None: all): the switch forgets their history."""
        self.debounce.reset(rows)

    @property
    def filtered(self) -> bool:
        return self.critic is not None

    def propose(self, states: np.ndarray, deterministic: bool = False) -> Proposals:
        return propose(self.policy, states, deterministic, self.gen)

    @torch.no_grad()
    def decide(self, states: np.ndarray, proposals: Proposals) -> Decisions:
        """Eq. 12 for a batch: the clipped proposal where risk <= eps_safe, else the recovery action
        (debounced by the bundle's ``confirm_steps`` / ``hold_steps``: one call = one decision per row)."""
        s = torch.as_tensor(np.asarray(states, np.float32))
        raw = np.asarray(proposals.actions, np.float32)
        clipped = np.clip(raw, -1.0, 1.0)
        n = len(raw)
        executed, source = clipped.copy(), np.full(n, TASK, np.int8)
        risk = np.full(n, np.nan, np.float32)
        if self.critic is not None:
            risk = self.critic.risk(s, torch.as_tensor(clipped)).numpy().astype(np.float32)
            flagged = np.flatnonzero(self.debounce(switch(risk, self.eps_safe)))
            if len(flagged):
                if self.mppi is not None:
                    executed[flagged] = self.mppi.plan(np.asarray(states, np.float32)[flagged])
                    source[flagged] = MPPI
                else:
                    executed[flagged] = self.recovery_policy.mean(s[flagged]).numpy()
                    source[flagged] = RECOVERY
                executed = np.clip(executed, -1.0, 1.0)
        exec_logp = self.policy.log_prob(s, torch.as_tensor(executed)).numpy().astype(np.float32)
        if self.learn_from == "proposed":
            stored, stored_logp = raw, np.asarray(proposals.logp, np.float32)
        else:
            # the policy's log-prob of what ran (clipped on task rows, the recovery action on
            # flagged rows): the ratio is then taken on the executed action everywhere
            stored, stored_logp = executed, exec_logp
        return Decisions(executed, source, risk, stored, stored_logp, exec_logp)

    def act(self, states: np.ndarray, deterministic: bool = False) -> tuple[Proposals, Decisions]:
        p = self.propose(states, deterministic)
        return p, self.decide(states, p)

"""Offline pre-training of a Gaussian policy, following Uni-O4 (used for the task policy and, on
recovery demos, for the recovery policy):

1. Behaviour cloning of an ensemble of K policies, each on a bootstrap resample of the demos.
   Their disagreement (std of the members' means) measures how well the demos pin the
   behaviour down; it sets the initial exploration std of the policy that goes online.
2. Q and V fitted on the data with IQL (expectile regression, no out-of-distribution actions in
   the targets), so A(s, a) = Q(s, a) - V(s) needs no behaviour model.
3. Multi-step policy improvement with the clipped objective (paper Eq. 3): for a few rounds, with
   pi_k frozen, maximise min(r A, clip(r, 1-eps, 1+eps) A) over data states and actions sampled
   from pi_k. A round is kept only if it beats pi_k in roll-outs through a learned dynamics
   ensemble (``model_gate``, Uni-O4's OPE gate); ``gate="q"`` keeps the earlier gate (mean
   Q(s, mu(s)) of the same IQL Q the round maximised, which passed every round).

Behaviour cloning learns the demonstrator's *intended* action where the demos record one
(``proposals`` of expert rows: the scripted expert's command before exploration noise, DART
style); IQL's Q learns from what was executed, since that is what the rewards followed.

Why IQL Q-V rather than fitted-Q on the policy: with 20-80 demos, targets that query actions the
demos never took are unreliable; expectile regression stays in the data's support.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .dataset import SOURCES, Transitions
from .model_gate import GateConfig, fit_gate
from .nets import GaussianPolicy, Normalizer, StateFeatures, TwinQ, ValueNet, shift_scene
from .scalars import LOG_EVERY, Scalars, no_scalars, prefixed


@dataclass
class OfflinePolicyConfig:
    hidden: int = 256
    """Width of every hidden layer."""
    ensemble: int = 4
    """Number of BC policies (Uni-O4 uses 4)."""
    bc_steps: int = 2000
    """Gradient steps per BC member."""
    iql_steps: int = 3000
    """Gradient steps fitting Q and V."""
    expectile: float = 0.7
    """IQL expectile tau for V (0.5 = mean, towards 1 = max over data actions)."""
    gamma: float = 0.99
    """Discount of the task MDP."""
    rounds: int = 4
    """Offline improvement rounds (pi_k refreshed after each accepted round)."""
    steps_per_round: int = 150
    """Clipped-objective gradient steps per round."""
    clip: float = 0.2
    """Ratio clip epsilon of Eq. 3."""
    batch: int = 256
    lr: float = 3e-4
    init_log_std: float = -1.0
    """Log-std the BC members start with (they learn it)."""
    shift_augment: float = 0.0
    """BC augmentation: each sample's scene shifted by up to this much on the table, m (0: off;
    only where the task says which coordinates move together, ``StateFeatures.shift_xy``)."""
    gate: str = "model"
    """How an improvement round is accepted: "model" (dynamics-ensemble roll-outs, can fail) or
    "q" (mean IQL Q of the policy's mean action: the gate of bundles built before)."""
    gate_model: GateConfig = field(default_factory=GateConfig)
    """The dynamics ensemble of the "model" gate (its horizon is set from seconds by ``timescale``)."""
    bc_on_intended: bool = True
    """BC targets: the expert's intended action where the demos hold one, else the executed one."""
    seed: int = 0
    """Seeds torch and numpy for the whole pipeline."""

    def __post_init__(self) -> None:
        if self.gate not in ("model", "q"):
            raise ValueError(f"OfflinePolicyConfig.gate must be 'model' or 'q', got {self.gate!r}")
        if self.ensemble < 1:
            raise ValueError(f"OfflinePolicyConfig.ensemble must be >= 1, got {self.ensemble}")


@dataclass
class OfflinePolicyResult:
    policy: GaussianPolicy
    value: ValueNet
    q: TwinQ
    metrics: dict = field(default_factory=dict)


def _batch(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    return rng.integers(0, n, size=min(size, n))


def _tensors(tr: Transitions, intended: bool = False) -> dict[str, torch.Tensor]:
    """The transitions as tensors; ``bc_actions``: BC's targets (see :func:`bc_targets`)."""
    out = {
        k: torch.as_tensor(np.asarray(getattr(tr, k), np.float32)) for k in ("states", "actions", "rewards", "next_states", "terminated")
    }
    out["bc_actions"] = torch.as_tensor(bc_targets(tr) if intended else np.asarray(tr.actions, np.float32))
    return out


def bc_targets(tr: Transitions) -> np.ndarray:
    """The expert's intended action on expert rows that record one (``proposals``), else the
    executed action: BC then imitates the intent, not the exploration noise on top of it."""
    actions = np.asarray(tr.actions, np.float32)
    proposals = np.asarray(tr.proposals, np.float32)
    use = (np.asarray(tr.source) == SOURCES["expert"]) & np.isfinite(proposals).all(1)
    return np.where(use[:, None], np.clip(proposals, -1.0, 1.0), actions).astype(np.float32)


def train_bc(
    policy: GaussianPolicy,
    data: dict[str, torch.Tensor],
    idx_pool: np.ndarray,
    steps: int,
    batch: int,
    lr: float,
    rng: np.random.Generator,
    features: StateFeatures | None = None,
    shift: float = 0.0,
    scalars: Scalars = no_scalars,
) -> float:
    """Maximum-likelihood BC (learns mean and std), on scenes shifted by up to ``shift`` m (see
    :func:`shift_scene`); returns the final mean-squared action error (``nll`` and ``action_mse``
    go to ``scalars`` every ``LOG_EVERY`` steps)."""
    targets = data.get("bc_actions", data["actions"])  # the intended actions where known
    opt = torch.optim.Adam(policy.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(int(rng.integers(2**31))) if features is not None and shift > 0 else None
    mse = float("nan")
    for step in range(steps):
        idx = torch.as_tensor(idx_pool[_batch(rng, len(idx_pool), batch)])
        s, a = shift_scene(data["states"][idx], features, shift, gen), targets[idx]
        loss = -policy.log_prob(s, a).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            mse = float(((policy.mean(s) - a) ** 2).mean())
        if step % LOG_EVERY == 0 or step == steps - 1:
            scalars("nll", loss.item(), step)
            scalars("action_mse", mse, step)
    return mse


def fit_iql(
    q: TwinQ, v: ValueNet, data: dict[str, torch.Tensor], cfg: OfflinePolicyConfig, rng: np.random.Generator, scalars: Scalars = no_scalars
) -> dict[str, float]:
    q_target = copy.deepcopy(q).requires_grad_(False)
    opt = torch.optim.Adam([*q.parameters(), *v.parameters()], lr=cfg.lr)
    n = data["states"].shape[0]
    out = {}
    for step in range(cfg.iql_steps):
        idx = torch.as_tensor(_batch(rng, n, cfg.batch))
        s, a, r = data["states"][idx], data["actions"][idx], data["rewards"][idx]
        s2, term = data["next_states"][idx], data["terminated"][idx]
        with torch.no_grad():
            q_min = torch.minimum(*q_target(s, a))
            target = r + cfg.gamma * (1.0 - term) * v(s2)
        diff = q_min - v(s)
        weight = torch.abs(cfg.expectile - (diff < 0).float())
        v_loss = (weight * diff**2).mean()
        q1, q2 = q(s, a)
        q_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        opt.zero_grad()
        (v_loss + q_loss).backward()
        opt.step()
        with torch.no_grad():
            for p, pt in zip(q.parameters(), q_target.parameters()):
                pt.lerp_(p, 0.005)
        out = {"iql/q_loss": q_loss.item(), "iql/v_loss": v_loss.item()}
        if step % LOG_EVERY == 0 or step == cfg.iql_steps - 1:
            for tag, value in out.items():
                scalars(tag, value, step)
    return out


@torch.no_grad()
def ope_score(policy: GaussianPolicy, q: TwinQ, states: torch.Tensor) -> float:
    """Off-policy estimate of the policy's value: mean min-Q of its mean action over data states."""
    return float(torch.minimum(*q(states, policy.mean(states))).mean())


def clipped_objective(
    policy: GaussianPolicy, behaviour: GaussianPolicy, q: TwinQ, v: ValueNet, states: torch.Tensor, clip: float
) -> torch.Tensor:
    """-E[min(r A, clip(r) A)] with a ~ pi_k(s), A = Q(s, a) - V(s) (paper Eq. 3)."""
    with torch.no_grad():
        d_k = behaviour.dist(states)
        actions = d_k.sample().clamp(-1.0, 1.0)
        logp_k = d_k.log_prob(actions).sum(-1)
        adv = torch.minimum(*q(states, actions)) - v(states)
        adv = (adv - adv.mean()) / (adv.std() + 1e-6)
    ratio = (policy.log_prob(states, actions) - logp_k).exp()
    return -torch.minimum(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv).mean()


def train_offline_policy(
    tr: Transitions,
    cfg: OfflinePolicyConfig = OfflinePolicyConfig(),
    progress=None,
    features: StateFeatures | None = None,
    scalars: Scalars = no_scalars,
) -> OfflinePolicyResult:
    """The whole pipeline on flat transitions; ``progress(stage: str)`` is called between stages.
    ``features``: what policy, Q and V see besides the state (the task's, if it has any).
    ``scalars``: every loss as it goes (``bc/member<k>/nll``, ``iql/q_loss``, ``improve/loss``, ...)."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    data = _tensors(tr, cfg.bc_on_intended)
    n = data["states"].shape[0]
    norm = Normalizer.from_data(np.asarray(tr.states), features)
    say = progress or (lambda stage: None)

    say("bc ensemble")
    members, mses = [], []
    for _k in range(cfg.ensemble):
        member = GaussianPolicy(copy.deepcopy(norm), tr.actions.shape[1], hidden=cfg.hidden, init_log_std=cfg.init_log_std)
        member_log = prefixed(scalars, f"bc/member{_k}")
        mses.append(
            train_bc(member, data, rng.integers(0, n, n), cfg.bc_steps, cfg.batch, cfg.lr, rng, features, cfg.shift_augment, member_log)
        )
        members.append(member)
    with torch.no_grad():
        means = torch.stack([m.mean(data["states"]) for m in members])
        disagreement = means.std(0, unbiased=len(members) > 1).mean(0)  # per action dimension (0 for one member)

    say("iql values")
    q, v = TwinQ(copy.deepcopy(norm), tr.actions.shape[1], hidden=cfg.hidden), ValueNet(copy.deepcopy(norm), hidden=cfg.hidden)
    metrics: dict[str, Any] = dict(fit_iql(q, v, data, cfg, rng, scalars))
    scores = [ope_score(m, q, data["states"]) for m in members]
    best = int(np.argmax(scores))
    policy = members[best]
    # Exploration std for PPO: at least what the ensemble disagrees on, at least 0.1.
    with torch.no_grad():
        policy.log_std.copy_(torch.log(torch.clamp(torch.maximum(policy.log_std.exp(), disagreement), min=0.1)))

    say("offline improvement")
    behaviour = copy.deepcopy(policy).requires_grad_(False)
    base_score = ope_score(policy, q, data["states"])
    accepted = 0
    gate = None
    if cfg.rounds > 0 and cfg.gate == "model":
        say("dynamics ensemble for the improvement gate")
        gm = cfg.gate_model
        gate, gate_metrics = fit_gate(tr.states, tr.actions, tr.rewards, tr.next_states, GateConfig(**{**gm.__dict__, "seed": cfg.seed}))
        metrics.update(gate_metrics)
    verdicts = []
    for _round in range(cfg.rounds):
        candidate = copy.deepcopy(behaviour).requires_grad_(True)
        opt = torch.optim.Adam(candidate.net.parameters(), lr=cfg.lr / 3)
        for step in range(cfg.steps_per_round):
            idx = torch.as_tensor(_batch(rng, n, cfg.batch))
            loss = clipped_objective(candidate, behaviour, q, v, data["states"][idx], cfg.clip)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % LOG_EVERY == 0:
                scalars("improve/clipped_objective_loss", loss.item(), _round * cfg.steps_per_round + step)
        score = ope_score(candidate, q, data["states"])
        if gate is not None:
            verdict = gate.compare(candidate, behaviour)
            verdicts.append(verdict)
            better = verdict["accept"] > 0
        else:
            better = score > base_score
        scalars("improve/ope_score", score, _round)
        scalars("improve/accepted", float(better), _round)
        if better:
            behaviour, base_score, accepted = copy.deepcopy(candidate).requires_grad_(False), score, accepted + 1
    policy = behaviour.requires_grad_(True)
    metrics.update(
        {
            "bc/action_mse": float(np.mean(mses)),
            "bc/ensemble_disagreement": float(disagreement.mean()),
            "bc/best_member": best,
            "ope/bc_score": float(scores[best]),
            "ope/final_score": base_score,
            "improve/accepted_rounds": accepted,
            "improve/rounds": cfg.rounds,
            "improve/gate": cfg.gate,
            "improve/gate_model_return_diff": [round(v["diff"], 4) for v in verdicts],
            "improve/gate_model_return_se": [round(v["se"], 4) for v in verdicts],
            "transitions": n,
        }
    )
    return OfflinePolicyResult(policy=policy, value=v, q=q, metrics=metrics)

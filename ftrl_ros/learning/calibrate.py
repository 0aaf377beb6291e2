"""How well a safety critic predicts real failures, and the choice of eps_safe and H.

Label of a step t: an IR failure actually happens within the next L steps (t .. t+L) of the
recorded episode; L (``label_horizon``) is fixed, so critics with different look-aheads H are
scored against the same labels. Score: the critic's risk for (s_t, a_t). Data: noisy rollouts of
the offline policy, safe and failing alike (what the filter sees online), in a validation set
(eps_safe and H are chosen there) and a test set (the figures reported), both unseen in training.
A step counts as flagged exactly where ``safety.switch`` -- the rule ``decide.Decider`` runs --
would take over, so the reported precision and recall are those of the running filter (before
debouncing, which ``closed_loop`` chooses). eps_safe maximises F-beta on validation. beta = 2
(recall-heavy) stopped the task policy too often in the benchmark (the wall task spent a third of
its steps recovering and learned nothing); beta = 1 is the default. With a false-alarm budget, only
thresholds with at most that many false alarms per episode on average are candidates: a per-step
rate hides what an operator sees (2.5 % of 500 steps at 80 Hz is a dozen takeovers per episode, each
lifting the hand off the object).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .dataset import Episode
from .safety import switch


class Calibration(NamedTuple):
    auc: float
    eps_safe: float
    precision: float
    recall: float
    false_alarm_rate: float
    """Share of steps with no failure ahead on which the filter would fire."""
    positives: int
    samples: int
    false_alarms_per_episode: float = float("nan")
    """Steps with no failure ahead on which the filter would fire, per episode."""


def failure_labels(ep: Episode, horizon: int) -> np.ndarray:
    c = ep.costs > 0
    return np.array([c[t : t + horizon + 1].any() for t in range(len(ep))])


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    labels = labels.astype(bool)
    pos, neg = scores[labels], scores[~labels]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    allscores = np.concatenate([pos, neg])[order]
    # average ranks for ties
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and allscores[j + 1] == allscores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def precision_recall(scores: np.ndarray, labels: np.ndarray, eps: float) -> tuple[float, float]:
    pred = switch(scores, eps)
    tp = float((pred & labels).sum())
    return tp / max(int(pred.sum()), 1), tp / max(int(labels.sum()), 1)


def false_alarm_rate(scores: np.ndarray, labels: np.ndarray, eps: float) -> float:
    neg = ~labels.astype(bool)
    return float(switch(scores[neg], eps).sum()) / max(int(neg.sum()), 1)


def choose_eps(scores: np.ndarray, labels: np.ndarray, beta: float = 2.0, max_false_alarms: float | None = None) -> float:
    """The threshold with the best F-beta; with ``max_false_alarms`` (a count over all of
    ``scores``), only thresholds that raise at most that many false alarms are candidates."""
    best, best_eps = -1.0, float(np.max(scores))
    candidates = np.unique(np.quantile(scores, np.linspace(0.5, 0.999, 200)))
    if max_false_alarms is not None:
        neg = np.sort(np.asarray(scores)[~labels.astype(bool)])[::-1]
        k = int(np.floor(max_false_alarms))
        # the lowest threshold with <= k negatives strictly above it
        floor_eps = float(neg[k]) if k < len(neg) else -np.inf
        candidates = np.unique(np.concatenate([candidates[candidates >= floor_eps], [floor_eps] if np.isfinite(floor_eps) else []]))
    for eps in candidates:
        p, r = precision_recall(scores, labels, eps)
        f = (1 + beta**2) * p * r / max(beta**2 * p + r, 1e-9)
        if f > best:
            best, best_eps = f, float(eps)
    return best_eps


def score_episodes(critic, episodes: list[Episode], horizon: int) -> tuple[np.ndarray, np.ndarray]:
    scores, labels = [], []
    for ep in episodes:
        s = torch.as_tensor(ep.states[:-1])
        a = torch.as_tensor(ep.actions)
        scores.append(critic.risk(s, a).numpy())
        labels.append(failure_labels(ep, horizon))
    return np.concatenate(scores), np.concatenate(labels)


def calibrate(
    critic, episodes: list[Episode], label_horizon: int, eps: float | None = None, beta: float = 1.0, budget: float | None = None
) -> Calibration:
    """Score episodes; choose eps_safe (F-beta, within ``budget`` false alarms per episode)
    unless given; report AUC, P/R and false alarms."""
    scores, labels = score_episodes(critic, episodes, label_horizon)
    n = max(len(episodes), 1)
    if eps is None:
        eps = choose_eps(scores, labels, beta, None if budget is None else budget * n)
    p, r = precision_recall(scores, labels, eps)
    fa = float((switch(scores, eps) & ~labels).sum()) / n
    return Calibration(roc_auc(scores, labels), eps, p, r, false_alarm_rate(scores, labels, eps), int(labels.sum()), len(labels), fa)


def calibrate_split(
    critic, val: list[Episode], test: list[Episode], label_horizon: int, beta: float = 1.0, budget: float | None = None
) -> dict[str, dict]:
    """eps_safe chosen on ``val``; the same threshold's figures on ``test``."""
    v = calibrate(critic, val, label_horizon, beta=beta, budget=budget)
    t = calibrate(critic, test, label_horizon, eps=v.eps_safe)
    return {"val": v._asdict(), "test": t._asdict()}

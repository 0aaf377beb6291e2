"""How well a safety critic predicts real failures, and the choice of eps_safe and H.

Label of a step t: an IR failure actually happens within the next L steps (t .. t+L) of the
recorded episode; L (``label_horizon``) is fixed, so critics with different look-aheads H are
scored against the same labels. Score: the critic's risk for (s_t, a_t). Data: noisy rollouts of
the offline policy, safe and failing alike (what the filter sees online), in a validation set
(eps_safe and H are chosen there) and a test set (the figures reported), both unseen in training.
eps_safe maximises F-beta on validation. beta = 2 (recall-heavy) stopped the task policy too often in the benchmark (the wall task
spent a third of its steps recovering and learned nothing); beta = 1 is the default.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .dataset import Episode


class Calibration(NamedTuple):
    auc: float
    eps_safe: float
    precision: float
    recall: float
    false_alarm_rate: float
    """Share of steps with no failure ahead on which the filter would fire."""
    positives: int
    samples: int


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
    pred = scores > eps
    tp = float((pred & labels).sum())
    return tp / max(int(pred.sum()), 1), tp / max(int(labels.sum()), 1)


def false_alarm_rate(scores: np.ndarray, labels: np.ndarray, eps: float) -> float:
    neg = ~labels.astype(bool)
    return float((scores[neg] > eps).sum()) / max(int(neg.sum()), 1)


def choose_eps(scores: np.ndarray, labels: np.ndarray, beta: float = 2.0) -> float:
    best, best_eps = -1.0, float(np.max(scores))
    for eps in np.unique(np.quantile(scores, np.linspace(0.5, 0.999, 200))):
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


def calibrate(critic, episodes: list[Episode], label_horizon: int, eps: float | None = None, beta: float = 1.0) -> Calibration:
    """Score episodes; choose eps_safe (F-beta) unless given; report AUC, P/R and false alarms."""
    scores, labels = score_episodes(critic, episodes, label_horizon)
    eps = choose_eps(scores, labels, beta) if eps is None else eps
    p, r = precision_recall(scores, labels, eps)
    return Calibration(roc_auc(scores, labels), eps, p, r, false_alarm_rate(scores, labels, eps), int(labels.sum()), len(labels))


def calibrate_split(critic, val: list[Episode], test: list[Episode], label_horizon: int, beta: float = 1.0) -> dict[str, dict]:
    """eps_safe chosen on ``val``; the same threshold's figures on ``test``."""
    v = calibrate(critic, val, label_horizon, beta=beta)
    t = calibrate(critic, test, label_horizon, eps=v.eps_safe)
    return {"val": v._asdict(), "test": t._asdict()}

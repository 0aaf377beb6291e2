"""How well a safety critic predicts real failures, and the choice of eps_safe.

Label of a step t: an IR failure actually happens within the next H steps (t .. t+H) of the
recorded episode. Score: the critic's risk for (s_t, a_t). eps_safe maximises F-beta on held-out
data. beta = 2 (recall-heavy) stopped the task policy too often in the benchmark (the wall task
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
    positives: int
    samples: int


def failure_labels(ep: Episode, horizon: int) -> np.ndarray:
    c = ep.costs > 0
    return np.array([c[t:t + horizon + 1].any() for t in range(len(ep))])


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
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def precision_recall(scores: np.ndarray, labels: np.ndarray, eps: float) -> tuple[float, float]:
    pred = scores > eps
    tp = float((pred & labels).sum())
    return tp / max(pred.sum(), 1), tp / max(labels.sum(), 1)


def choose_eps(scores: np.ndarray, labels: np.ndarray, beta: float = 2.0) -> float:
    best, best_eps = -1.0, float(np.max(scores))
    for eps in np.unique(np.quantile(scores, np.linspace(0.5, 0.999, 200))):
        p, r = precision_recall(scores, labels, eps)
        f = (1 + beta ** 2) * p * r / max(beta ** 2 * p + r, 1e-9)
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


def calibrate(critic, episodes: list[Episode], horizon: int, eps: float | None = None,
              beta: float = 1.0) -> Calibration:
    """Score held-out episodes; choose eps_safe (F-beta) unless given; report AUC and P/R."""
    scores, labels = score_episodes(critic, episodes, horizon)
    eps = choose_eps(scores, labels, beta) if eps is None else eps
    p, r = precision_recall(scores, labels, eps)
    return Calibration(roc_auc(scores, labels), eps, p, r, int(labels.sum()), len(labels))

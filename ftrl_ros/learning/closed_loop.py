"""eps_safe and the switch's debounce chosen in closed loop, against a false-takeover budget.

The offline calibration (``calibrate``) scores recorded steps one by one. What an operator sees
is different: a takeover lifts the hand off the object, and one risk spike at 80 Hz costs a whole
manoeuvre. Here the offline task policy runs in the simulator with the online exploration noise,
once with the filter off (the *twin*: which (layout, noise) pairs fail on their own) and once per
candidate (eps_safe, confirm, hold) on the same layouts and the same noise. A takeover (task ->
fallback switch) in an episode whose twin did not fail is a **false takeover**: the policy would
have done fine alone. Among the candidates within ``budget`` false takeovers per episode, the one
with the fewest failure episodes wins (ties: fewer false takeovers, then the threshold nearest the
offline one).

Debounce times are seconds, converted at the task's rate; candidate thresholds are multiples of
the offline eps_safe (the offline choice is one of them). Everything runs through
``decide.Decider`` and ``online.run_episodes``: the switch measured is the switch the robot runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from .bundle import Bundle
from .decide import Decider
from .methods import get_method
from .timescale import steps
from .vec_env import VecTaskEnv


@dataclass
class ClosedLoopConfig:
    episodes: int = 40
    """Episodes per candidate (and for the unfiltered twin)."""
    budget: float = 1.0
    """False takeovers allowed per episode, on average over episodes whose twin did not fail."""
    eps_scales: tuple[float, ...] = tuple(round(2 ** (k / 4), 3) for k in range(-4, 7))
    """Candidate thresholds as multiples of the offline eps_safe (1.0 = the offline choice), a
    quarter-octave grid from 0.5 to 2.8: C_H moves a lot between neighbouring thresholds."""
    confirm_s: tuple[float, ...] = (0.0, 0.05)
    """Debounce candidates: how long a flag must persist before the takeover (0: at once)."""
    hold_s: tuple[float, ...] = (0.0, 0.4)
    """Minimum takeover durations tried (0: hand back as soon as the risk drops)."""
    seed: int = 20_000
    """First reset seed (disjoint from training's ``seed * 7919 + i`` and evaluation's 10,000+)."""
    noise_seed: int = 0
    """Seed of the proposals' exploration noise (shared by the twin and every candidate)."""

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.budget < 0 or not self.eps_scales or min(self.eps_scales) <= 0:
            raise ValueError(
                f"ClosedLoopConfig: need episodes >= 1, budget >= 0, eps_scales > 0 (got {self.episodes}, {self.budget}, {self.eps_scales})"
            )
        if min(self.confirm_s, default=0) < 0 or min(self.hold_s, default=0) < 0:
            raise ValueError(f"ClosedLoopConfig: confirm_s and hold_s must be >= 0 (got {self.confirm_s}, {self.hold_s})")


def debounce_steps(confirm_s: float, hold_s: float, dt: float) -> tuple[int, int]:
    """(confirm, hold) in decisions at a control period of ``dt`` seconds: a flag must persist
    ``confirm_s`` beyond its first decision; a takeover lasts ``hold_s`` (at least one decision)."""
    return 1 + steps(confirm_s, dt), max(1, steps(hold_s, dt))


def _with_debounce(bundle: Bundle, confirm: int, hold: int) -> Bundle:
    return replace(bundle, safety=replace(bundle.safety, confirm_steps=confirm, hold_steps=hold))


def choose(rows: list[dict], budget: float) -> tuple[dict, bool]:
    """The winning candidate and whether it is within the budget (if none is, the one with the
    fewest false takeovers)."""
    within = [r for r in rows if r["false_takeovers_per_episode"] <= budget]
    if within:
        return min(within, key=lambda r: (r["failure_episodes"], r["false_takeovers_per_episode"], abs(np.log(r["eps_scale"])))), True
    return min(rows, key=lambda r: (r["false_takeovers_per_episode"], r["failure_episodes"])), False


def calibrate_closed_loop(
    bundle: Bundle, method: str, vec: VecTaskEnv, dt: float, cfg: ClosedLoopConfig, progress: Callable[[str], None] = lambda m: None
) -> dict:
    """Run the twin and every candidate; return the table and the choice (nothing is written)."""
    seeds = [cfg.seed + i for i in range(cfg.episodes)]
    from .online import run_episodes

    twin = run_episodes(Decider(bundle, method, eps_safe=float("inf"), seed=cfg.noise_seed), vec, seeds, deterministic=False)
    safe_twin = twin["ir_failure"] == 0
    progress(f"twin (no filter): {int(twin['ir_failure'].sum())}/{cfg.episodes} failure episodes")
    offline_eps = Decider(bundle, method).eps_safe
    rows = []
    debounces = sorted({debounce_steps(c, h, dt) for c in cfg.confirm_s for h in cfg.hold_s})
    for confirm, hold in debounces:
        b = _with_debounce(bundle, confirm, hold)
        for scale in cfg.eps_scales:
            eps = float(offline_eps * scale)
            ep = run_episodes(Decider(b, method, eps_safe=eps, seed=cfg.noise_seed), vec, seeds, deterministic=False)
            false_per_ep = float(ep["takeovers"][safe_twin].mean()) if safe_twin.any() else 0.0
            row = {
                "eps_safe": eps,
                "eps_scale": float(scale),
                "confirm_steps": confirm,
                "hold_steps": hold,
                "failure_episodes": int(ep["ir_failure"].sum()),
                "failures_per_1000_steps": float(1000 * ep["ir_failure"].sum() / max(ep["steps"].sum(), 1)),
                "false_takeovers_per_episode": false_per_ep,
                "takeovers_per_episode": float(ep["takeovers"].mean()),
                "recovery_share": float(ep["recovery_steps"].sum() / max(ep["steps"].sum(), 1)),
                "return": float(ep["return"].mean()),
            }
            rows.append(row)
            progress(
                f"eps {eps:.3f} (x{scale:g}), confirm {confirm}, hold {hold}: {row['failure_episodes']} failure episodes, "
                f"{false_per_ep:.2f} false takeovers/episode, return {row['return']:.1f}"
            )
    best, ok = choose(rows, cfg.budget)
    return {
        "method": method,
        "episodes": cfg.episodes,
        "budget": cfg.budget,
        "offline_eps_safe": offline_eps,
        "twin_failure_episodes": int(twin["ir_failure"].sum()),
        "twin_return": float(twin["return"].mean()),
        "candidates": rows,
        "chosen": best,
        "within_budget": ok,
    }


def apply_choice(bundle: Bundle, result: dict) -> Bundle:
    """``bundle`` with the chosen threshold (the method's, ``methods.Method.threshold``) and
    debounce, and the table under ``metrics['closed_loop'][method]``."""
    c = result["chosen"]
    safety = replace(bundle.safety, confirm_steps=int(c["confirm_steps"]), hold_steps=int(c["hold_steps"]))
    metrics = {**bundle.metrics, "closed_loop": {**bundle.metrics.get("closed_loop", {}), result["method"]: result}}
    return get_method(result["method"]).with_eps(replace(bundle, safety=safety, metrics=metrics), c["eps_safe"])

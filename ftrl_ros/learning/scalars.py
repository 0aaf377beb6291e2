"""How training loops report their losses while they run: a plain callable ``(tag, value, step)``.

The learning code stays free of any logging library; ``utils.tensorboard.EventLog`` is the sink the
tools and the learner node pass in (TensorBoard event files), tests pass a list's ``append``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

Scalars = Callable[[str, float, int], None]
"""``scalars(tag, value, step)``: one point of one curve (tags as TensorBoard groups them, ``bc/nll``)."""

LOG_EVERY = 50
"""Gradient steps between two logged points in the offline training loops (20k-step runs give 400
points per curve: smooth in TensorBoard, a few hundred kB per bundle)."""


def no_scalars(tag: str, value: float, step: int) -> None:
    """The default sink: nothing is recorded."""


def prefixed(scalars: Scalars, prefix: str) -> Scalars:
    """The same sink with ``prefix/`` before every tag (one model's curves in one group)."""
    return lambda tag, value, step: scalars(f"{prefix}/{tag}", value, step)


def flat_numbers(metrics: Mapping, prefix: str = "") -> dict[str, float]:
    """The numbers of a nested metrics dict as ``a/b/c`` tags (bools as 0/1; strings and lists left out)."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        tag = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(flat_numbers(value, tag))
        elif isinstance(value, bool | int | float) or hasattr(value, "__float__") and not isinstance(value, str):
            try:
                out[tag] = float(value)
            except (TypeError, ValueError):
                continue
    return out


def record_all(scalars: Scalars, metrics: Mapping, step: int, prefix: str = "") -> None:
    """Every number of ``metrics`` at ``step`` (final figures of a stage: calibration AUC, precision, ...)."""
    for tag, value in flat_numbers(metrics, prefix).items():
        scalars(tag, value, step)

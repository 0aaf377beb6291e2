"""TensorBoard event files for every learning run (offline training, fine-tuning, the learner node).

Written beside the run's CSVs with ``torch.utils.tensorboard``; open them with
``.venv/bin/tensorboard --logdir runs`` (served on 127.0.0.1 only with ``--host 127.0.0.1``).
"""

from __future__ import annotations

import math
from pathlib import Path


class EventLog:
    """A :data:`learning.scalars.Scalars` sink writing one run folder's event file. Non-finite
    values are skipped (TensorBoard draws them as gaps anyway, and NaN breaks its smoothing)."""

    def __init__(self, folder: str | Path, flush_secs: int = 10):
        from torch.utils.tensorboard import SummaryWriter

        Path(folder).mkdir(parents=True, exist_ok=True)
        self.folder = Path(folder)
        self.writer = SummaryWriter(log_dir=str(folder), flush_secs=flush_secs)

    def __call__(self, tag: str, value: float, step: int) -> None:
        value = float(value)
        if math.isfinite(value):
            self.writer.add_scalar(tag, value, int(step))

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_scalars(folder: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar curve in ``folder``'s event files, read with TensorBoard's own reader:
    ``{tag: [(step, value), ...]}`` (what the dashboard would draw; tests and reports use it)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})  # 0: keep every point
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}

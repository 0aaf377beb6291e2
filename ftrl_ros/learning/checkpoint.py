"""Save / load models atomically: a crash never leaves a half-written checkpoint in place.

Loading never unpickles code: ``weights_only=True`` admits tensors and plain containers only, so
a checkpoint path from the graph cannot execute anything. Payloads are therefore kept to tensors,
str/int/float/bool, lists and dicts (``plain`` converts numpy scalars in metrics)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..utils.atomic import atomic_path


def plain(x: Any) -> Any:
    """Nested metrics as plain Python (numpy scalars/arrays -> float/int/list)."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if hasattr(x, "tolist") and not isinstance(x, torch.Tensor):
        return x.tolist()
    return x


def save(path: str | Path, **payload: Any) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors of every kind: the file is not a plain checkpoint
        raise ValueError(f"{path} is not a loadable checkpoint (weights only): {str(exc).splitlines()[0]}") from None

"""Save / load models atomically: a crash never leaves a half-written checkpoint in place."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..utils.atomic import atomic_path


def save(path: str | Path, **payload: Any) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return torch.load(path, map_location="cpu", weights_only=False)

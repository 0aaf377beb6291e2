"""A pure-torch stand-in for torchvision's ``nms`` operator, for CPU-only machines.

The torchvision wheel on PyPI is a CUDA build; next to a CPU-only torch its compiled operators do
not load and ``import torchvision`` fails (``operator torchvision::nms does not exist``), which
breaks ultralytics training. :func:`ensure_torchvision` leaves a working torchvision alone and only
then defines the two operators torchvision's import needs (``nms``, ``qnms``), with ``nms``
implemented in plain torch. Only the YOLO *training* tool uses this; run-time inference goes
through onnxruntime and needs no torchvision at all.
"""

from __future__ import annotations

import glob
import importlib.util
import os

import torch

_LIB: torch.library.Library | None = None


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression (same contract as ``torchvision.ops.nms``): indices of kept
    boxes (x1, y1, x2, y2), highest score first."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    x1, y1, x2, y2 = boxes.float().unbind(1)
    area = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    order = scores.argsort(descending=True)
    keep = []
    while order.numel():
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = w * h
        iou = inter / (area[i] + area[rest] - inter).clamp(min=1e-12)
        order = rest[iou <= iou_threshold]
    return torch.stack(keep).to(torch.long)


def _native_ops_load() -> bool:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return False
    libs = glob.glob(os.path.join(os.path.dirname(spec.origin), "_C*.so"))
    try:
        torch.ops.load_library(libs[0])
        return True
    except (IndexError, OSError, RuntimeError):
        return False


def ensure_torchvision() -> str:
    """Make ``import torchvision`` work; returns ``'native'`` or ``'fallback'``."""
    global _LIB
    if _native_ops_load():
        import torchvision  # noqa: F401

        return "native"
    if _LIB is None:
        _LIB = torch.library.Library("torchvision", "DEF")
        _LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _LIB.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _LIB.impl("nms", nms, "CPU")
    import torchvision.ops.boxes as boxes

    # torchvision.ops.nms checks that *its* library loaded; only the box ops are vouched for here
    boxes._assert_has_ops = lambda: None
    return "fallback"

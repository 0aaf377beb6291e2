"""The debug image operators look at: boxes, object centres, where each estimate came from."""

from __future__ import annotations

import cv2
import numpy as np

from .detector import Detection
from .estimator import ObjectEstimate

_COLOURS = {"yolo+colour": (40, 220, 40), "yolo": (240, 200, 0), "colour": (0, 160, 255), "none": (255, 40, 40)}


def annotate(
    rgb: np.ndarray,
    detections: list[Detection],
    estimates: dict[str, ObjectEstimate],
    stale: tuple[str, ...] = (),
    latency_ms: float | None = None,
) -> np.ndarray:
    img = rgb.copy()
    for d in detections:
        x, y, w, h = (int(round(v)) for v in d.box)
        cv2.rectangle(img, (x, y), (x + w, y + h), (200, 200, 200), 1)
    for name, e in estimates.items():
        colour = _COLOURS.get(e.source.split("+")[0] if e.source == "colour" else e.source, (255, 255, 255))
        if e.box is not None:
            x, y, w, h = (int(round(v)) for v in e.box)
            cv2.rectangle(img, (x, y), (x + w, y + h), colour, 2)
        if e.pixel is not None:
            u, v = (int(round(c)) for c in e.pixel)
            cv2.drawMarker(img, (u, v), colour, cv2.MARKER_CROSS, 12, 2)
            text = f"{name} {e.source}" + (f" {e.score:.2f}" if e.score else "") + (" prior" if e.used_prior else "")
            cv2.putText(img, text, (u + 8, v - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    status = "STALE: " + ", ".join(stale) if stale else "ok"
    if latency_ms is not None:
        status += f"  {latency_ms:.1f} ms"
    cv2.putText(img, status, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 60, 60) if stale else (255, 255, 255), 2, cv2.LINE_AA)
    return img

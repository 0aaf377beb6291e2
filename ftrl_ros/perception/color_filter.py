"""Colour filtering: HSV bands per object, morphology, connected blobs with centroids.

Used alone when the detector misses, and inside YOLO boxes to refine the centre (the fusion lives
in the estimator). Bands are in OpenCV units: hue 0-179 (a band with lo > hi wraps around red),
saturation and value 0-255.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np


@dataclass(frozen=True)
class HSVBand:
    hue: tuple[int, int]
    sat: tuple[int, int] = (80, 255)
    val: tuple[int, int] = (50, 255)

    def __post_init__(self):
        for name, (lo, hi), top in (("hue", self.hue, 179), ("sat", self.sat, 255), ("val", self.val, 255)):
            if not (0 <= lo <= top and 0 <= hi <= top):
                raise ValueError(f"HSV band {name} must lie in [0, {top}], got {(lo, hi)}")
            if name != "hue" and lo > hi:
                raise ValueError(f"HSV band {name} lower bound {lo} above upper bound {hi}")


class Blob(NamedTuple):
    cx: float
    cy: float
    area: int
    box: tuple[int, int, int, int]
    """x, y, width, height in pixels."""


def band_mask(rgb: np.ndarray, band: HSVBand, open_px: int = 2, close_px: int = 3) -> np.ndarray:
    """uint8 mask (0/255) of pixels inside the band, opened (drops specks) and closed (fills holes)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {rgb.shape} {rgb.dtype}")
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    lo_h, hi_h = band.hue
    s_lo, s_hi = band.sat
    v_lo, v_hi = band.val
    if lo_h <= hi_h:
        mask = cv2.inRange(hsv, (lo_h, s_lo, v_lo), (hi_h, s_hi, v_hi))
    else:  # wraps around 0 (reds)
        mask = cv2.bitwise_or(
            cv2.inRange(hsv, (lo_h, s_lo, v_lo), (179, s_hi, v_hi)), cv2.inRange(hsv, (0, s_lo, v_lo), (hi_h, s_hi, v_hi))
        )
    if open_px:
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * open_px + 1,) * 2))
    if close_px:
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * close_px + 1,) * 2))
    return mask


def blobs(mask: np.ndarray, min_area: int = 30) -> list[Blob]:
    """Connected components of a mask, largest first, with sub-pixel centroids."""
    n, _, stats, centroids = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8), connectivity=8)
    out = [
        Blob(
            float(centroids[i, 0]),
            float(centroids[i, 1]),
            int(stats[i, cv2.CC_STAT_AREA]),
            (int(stats[i, 0]), int(stats[i, 1]), int(stats[i, 2]), int(stats[i, 3])),
        )
        for i in range(1, n)
        if stats[i, cv2.CC_STAT_AREA] >= min_area
    ]
    return sorted(out, key=lambda b: -b.area)


def centroid_in_box(mask: np.ndarray, box: tuple[int, int, int, int], min_pixels: int = 10) -> tuple[float, float] | None:
    """Centroid of the mask inside a detection box (x, y, w, h); None if too few pixels."""
    x, y, w, h = box
    sub = mask[max(y, 0) : y + h, max(x, 0) : x + w] > 0
    if sub.sum() < min_pixels:
        return None
    ys, xs = np.nonzero(sub)
    return float(xs.mean() + max(x, 0)), float(ys.mean() + max(y, 0))

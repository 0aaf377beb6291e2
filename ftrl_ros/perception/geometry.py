"""Pixels + aligned depth -> 3-D points in the robot base frame.

``locate`` back-projects a blob's pixel with its depth; when the depth is missing (0 / NaN, as the
RealSense reports it) or implausible for an object resting on the table (e.g. the arm occludes
it), it falls back to the table-plane prior: the pixel's viewing ray cut with the horizontal plane
at the object's centre height.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .camera_model import CameraPose, Intrinsics


def pixel_to_camera(u: float, v: float, depth: float, intr: Intrinsics) -> np.ndarray:
    """Optical-frame point (x right, y down, z forward; metres) of pixel (u, v) at ``depth``."""
    return np.array([(u - intr.cx) / intr.fx * depth, (v - intr.cy) / intr.fy * depth, depth])


def camera_to_base(p_cam: np.ndarray, pose: CameraPose) -> np.ndarray:
    return pose.rotation() @ np.asarray(p_cam, float) + np.asarray(pose.position, float)


def base_to_pixel(p_base: np.ndarray, intr: Intrinsics, pose: CameraPose) -> tuple[float, float, float]:
    """(u, v, depth) of a base-frame point: the inverse of the two functions above."""
    p = pose.rotation().T @ (np.asarray(p_base, float) - np.asarray(pose.position, float))
    return intr.fx * p[0] / p[2] + intr.cx, intr.fy * p[1] / p[2] + intr.cy, float(p[2])


def ray_plane(u: float, v: float, intr: Intrinsics, pose: CameraPose, z_plane: float) -> np.ndarray | None:
    """Where the viewing ray of pixel (u, v) meets the plane z = z_plane (None if it never does)."""
    direction = pose.rotation() @ pixel_to_camera(u, v, 1.0, intr)
    origin = np.asarray(pose.position, float)
    if abs(direction[2]) < 1e-9:
        return None
    t = (z_plane - origin[2]) / direction[2]
    return origin + t * direction if t > 0 else None


class Located(NamedTuple):
    xyz: np.ndarray
    used_prior: bool
    """True when the table-plane prior replaced the measured depth."""


def locate(u: float, v: float, depth: float, intr: Intrinsics, pose: CameraPose, center_height: float,
           surface_offset: float = 0.0, max_height_error: float = 0.04) -> Located | None:
    """Base-frame centre of an object seen at pixel (u, v).

    The measured point lies on the visible surface; ``surface_offset`` (m, e.g. the object's
    radius) moves it that far further along the horizontal viewing direction, towards the centre.
    """
    if depth > 0 and np.isfinite(depth):
        p = camera_to_base(pixel_to_camera(u, v, depth, intr), pose)
        if abs(p[2] - center_height) <= max_height_error:
            view = p - np.asarray(pose.position, float)
            view[2] = 0.0
            n = np.linalg.norm(view)
            if n > 1e-9:
                p = p + view / n * surface_offset
            p[2] = center_height
            return Located(p, False)
    p = ray_plane(u, v, intr, pose, center_height)
    return None if p is None else Located(p, True)

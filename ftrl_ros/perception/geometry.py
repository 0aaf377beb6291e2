"""Pixels + aligned depth -> 3-D points in the robot base frame.

``locate_top`` back-projects an object's mask pixels with their depths and takes the centre of
its top surface; when the depth is missing (0 / NaN, as the RealSense reports it) or implausible
for an object resting on the table (e.g. the arm occludes it), it falls back to the table-plane
prior: the viewing ray cut with the horizontal plane of the object's centre.
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


def pixels_to_base(us: np.ndarray, vs: np.ndarray, depths: np.ndarray, intr: Intrinsics, pose: CameraPose) -> np.ndarray:
    """(N, 3) base-frame points of pixels with depths (vectorised ``pixel_to_camera`` + ``camera_to_base``)."""
    cam = np.stack([(us - intr.cx) / intr.fx * depths, (vs - intr.cy) / intr.fy * depths, depths], axis=1)
    return cam @ pose.rotation().T + np.asarray(pose.position, float)


def locate_top(
    us: np.ndarray,
    vs: np.ndarray,
    depths: np.ndarray,
    intr: Intrinsics,
    pose: CameraPose,
    center_height: float,
    top_height: float,
    band: float = 0.004,
    min_points: int = 8,
    max_height_error: float = 0.03,
) -> Located | None:
    """Centre of a resting object from the pixels of its mask.

    With depth: the mask's points in the base frame, keep the top ``band`` (m) of them; the top of
    a puck, cube, bowl or ball is centred over the object's centre whichever side the camera sees
    it from, so their mean (x, y) is the centre. Without enough valid depth (or when the points
    are not where a resting object's top can be): the table-plane prior, the ray through the
    mask's centroid cut with the plane of the object's centre (a symmetric object's silhouette
    is centred on the projection of its centre, near enough).
    """
    us, vs, depths = (np.asarray(a, float).reshape(-1) for a in (us, vs, depths))
    if us.size == 0:
        return None
    valid = np.isfinite(depths) & (depths > 0)
    if valid.sum() >= min_points:
        pts = pixels_to_base(us[valid], vs[valid], depths[valid], intr, pose)
        z_top = np.percentile(pts[:, 2], 95)
        if abs(z_top - top_height) <= max_height_error:
            top = pts[pts[:, 2] >= z_top - band]
            return Located(np.array([*top[:, :2].mean(axis=0), center_height]), False)
    p = ray_plane(float(us.mean()), float(vs.mean()), intr, pose, center_height)
    return None if p is None else Located(p, True)

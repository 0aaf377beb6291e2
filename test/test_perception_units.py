"""Perception building blocks on constructed inputs with known answers, and on a real render."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ftrl_ros.perception.camera_model import CameraPose, Intrinsics
from ftrl_ros.perception.color_filter import HSVBand, band_mask, blobs, centroid_in_box
from ftrl_ros.perception.geometry import base_to_pixel, camera_to_base, locate_top, pixel_to_camera, ray_plane
from ftrl_ros.perception.tracker import Track, TrackerConfig

INTR, POSE = Intrinsics(), CameraPose()
RED = HSVBand(hue=(170, 8))


def test_back_projection_known_answers():
    assert pixel_to_camera(INTR.cx, INTR.cy, 0.8, INTR).tolist() == pytest.approx([0, 0, 0.8])
    assert pixel_to_camera(INTR.cx + INTR.fx, INTR.cy, 2.0, INTR).tolist() == pytest.approx([2.0, 0, 2.0])
    point = np.array([0.62, -0.11, 0.02])
    u, v, d = base_to_pixel(point, INTR, POSE)
    assert camera_to_base(pixel_to_camera(u, v, d, INTR), POSE) == pytest.approx(point)
    assert ray_plane(u, v, INTR, POSE, 0.02) == pytest.approx(point)


def _render_disc_top(center, radius, top, side_height):
    """Pixels + depths of a cylinder seen by the camera: its top disc and the side facing the camera,
    rendered by ray casting (a constructed scene with a known centre)."""
    us, vs = np.meshgrid(np.arange(0, INTR.width, 1.0), np.arange(0, INTR.height, 1.0))
    us, vs = us.ravel(), vs.ravel()
    rays = np.stack([(us - INTR.cx) / INTR.fx, (vs - INTR.cy) / INTR.fy, np.ones_like(us)], 1) @ POSE.rotation().T
    origin = np.asarray(POSE.position)
    t_top = (top - origin[2]) / rays[:, 2]
    hit_top = origin + t_top[:, None] * rays
    on_top = np.linalg.norm(hit_top[:, :2] - center, axis=1) <= radius
    # side: nearest intersection with the infinite cylinder, below the top
    d, o = rays[:, :2], origin[:2] - center
    a, b, c = (d * d).sum(1), 2 * (d * o).sum(1), (o * o).sum() - radius**2
    disc = b * b - 4 * a * c
    t_side = np.where(disc >= 0, (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a), np.inf)
    z_side = origin[2] + t_side * rays[:, 2]
    on_side = (disc >= 0) & (z_side <= top) & (z_side >= top - side_height) & ~on_top
    t = np.where(on_top, t_top, t_side)
    depth = t * (rays @ POSE.rotation()[:, 2])  # distance along the optical axis
    keep = on_top | on_side
    return us[keep], vs[keep], depth[keep]


def test_locate_top_uses_depth_or_the_table_prior():
    center = np.array([0.55, 0.08])
    us, vs, depth = _render_disc_top(center, 0.03, top=0.04, side_height=0.04)
    measured = locate_top(us, vs, depth, INTR, POSE, center_height=0.02, top_height=0.04)
    assert not measured.used_prior
    assert measured.xyz == pytest.approx([*center, 0.02], abs=2.5e-3)  # the side's top rim leaks in
    for bad in (np.zeros_like(depth), np.full_like(depth, np.nan), depth - 0.3):  # missing, invalid, occluded
        fallback = locate_top(us, vs, bad, INTR, POSE, center_height=0.02, top_height=0.04)
        assert fallback.used_prior
        assert fallback.xyz[:2] == pytest.approx(center, abs=0.005)
    assert locate_top(us[:0], vs[:0], depth[:0], INTR, POSE, 0.02, 0.04) is None


def _image_with_disc(center=(200, 150), radius=20, rgb=(220, 20, 30)):
    img = np.full((240, 320, 3), 128, np.uint8)
    cv2.circle(img, center, radius, rgb, -1)
    cv2.rectangle(img, (20, 20), (60, 60), (30, 40, 220), -1)
    img[5, 300] = img[230, 10] = (220, 20, 30)  # single red specks: noise
    return img


def test_colour_filter_finds_disc_and_ignores_specks():
    mask = band_mask(_image_with_disc(), RED)
    found = blobs(mask)
    assert len(found) == 1
    assert (found[0].cx, found[0].cy) == pytest.approx((200, 150), abs=0.5)
    assert found[0].area == pytest.approx(np.pi * 20**2, rel=0.1)
    assert centroid_in_box(mask, (170, 120, 60, 60)) == pytest.approx((200, 150), abs=0.5)
    assert centroid_in_box(mask, (0, 0, 50, 50)) is None
    assert blobs(band_mask(_image_with_disc(), HSVBand(hue=(50, 70)))) == []  # no green object


def test_bad_band_and_image_fail_clearly():
    with pytest.raises(ValueError, match="sat"):
        HSVBand(hue=(0, 10), sat=(200, 100))
    with pytest.raises(ValueError, match="hue"):
        HSVBand(hue=(0, 200))
    with pytest.raises(ValueError, match="uint8"):
        band_mask(np.zeros((10, 10, 3), np.float32), RED)


def test_tracker_velocity_outliers_and_staleness():
    track = Track(TrackerConfig())
    for k in range(15):
        assert track.update(0.2 * k, np.array([0.5 + 0.1 * 0.2 * k, 0.0]))
    assert track.vel == pytest.approx([0.1, 0.0], abs=0.005)
    assert not track.update(3.0, np.array([0.9, 0.3]))  # a one-frame jump: rejected
    assert track.pos[0] == pytest.approx(0.5 + 0.1 * 2.8, abs=0.005)
    assert not track.update(3.2, np.array([0.9, 0.3]))
    assert track.update(3.4, np.array([0.9, 0.3]))  # third time: the object really moved
    assert track.pos.tolist() == [0.9, 0.3] and track.vel.tolist() == [0.0, 0.0]
    assert not track.stale(3.8) and track.stale(3.81)
    assert track.update(4.0, np.array([0.2, -0.3]))  # a stale track restarts from any measurement
    assert not track.update(4.2, np.array([np.nan, 0.0]))


def test_puck_found_in_a_real_render():
    """Colour filter + locate_top on MuJoCo renders from the RealSense pose: within 1 cm."""
    from ftrl_ros.sim.envs import make

    env = make("disturbed_push", render_mode="rgbd_array").unwrapped
    errors = []
    for seed in range(5):
        env.reset(seed=seed)
        rgb, depth = env.render_rgbd()
        ys, xs = np.nonzero(band_mask(rgb, RED))
        found = locate_top(xs, ys, depth[ys, xs], INTR, POSE, center_height=0.02, top_height=0.04)
        errors.append(np.linalg.norm(found.xyz[:2] - env.ground_truth()["puck"][:2]))
    env.close()
    assert max(errors) < 0.01, errors

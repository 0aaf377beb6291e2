"""Perception building blocks on constructed inputs with known answers, and on a real render."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from ftrl_ros.perception.camera_model import CameraPose, Intrinsics
from ftrl_ros.perception.color_filter import HSVBand, band_mask, blobs, centroid_in_box
from ftrl_ros.perception.geometry import base_to_pixel, camera_to_base, locate, pixel_to_camera, ray_plane
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


def test_locate_uses_depth_or_the_table_prior():
    point = np.array([0.55, 0.08, 0.02])
    u, v, d = base_to_pixel(point, INTR, POSE)
    measured = locate(u, v, d, INTR, POSE, center_height=0.02)
    assert not measured.used_prior and measured.xyz == pytest.approx(point, abs=1e-6)
    for bad_depth in (0.0, float("nan"), d - 0.3):  # missing, invalid, occluded by the arm
        fallback = locate(u, v, bad_depth, INTR, POSE, center_height=0.02)
        assert fallback.used_prior and fallback.xyz == pytest.approx(point, abs=1e-6)


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
    assert found[0].area == pytest.approx(np.pi * 20 ** 2, rel=0.1)
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
    assert not track.stale(3.8) and track.stale(4.0)
    assert not track.update(4.0, np.array([np.nan, 0.0]))


def test_puck_found_in_a_real_render():
    """Colour filter + locate on a MuJoCo render from the RealSense pose: within 1.5 cm."""
    from ftrl_ros.sim.envs import make
    env = make("disturbed_push", render_mode="rgbd_array").unwrapped
    errors = []
    for seed in range(5):
        env.reset(seed=seed)
        rgb, depth = env.render_rgbd()
        blob = blobs(band_mask(rgb, RED))[0]
        d = float(depth[int(round(blob.cy)), int(round(blob.cx))])
        found = locate(blob.cx, blob.cy, d, INTR, POSE, center_height=0.02, surface_offset=0.03)
        errors.append(np.linalg.norm(found.xyz[:2] - env.ground_truth()["puck"][:2]))
    env.close()
    assert max(errors) < 0.015, errors

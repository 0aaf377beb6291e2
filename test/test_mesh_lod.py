"""The simplified visual meshes of the arm: the clustering itself, physics untouched, and the
state estimator (YOLO + colour, as the robot runs it) reading the same state from the simplified
arm's frames as from the full one's."""

from __future__ import annotations

import numpy as np
import pytest

from ftrl_ros.sim.mesh_lod import cluster_vertices
from ftrl_ros.sim.world import VISUAL_MESH_CELL


def _sphere(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """A UV sphere of radius 5 cm, with every vertex duplicated per face corner (as OBJ files are)."""
    th, ph = np.meshgrid(np.linspace(0, np.pi, n), np.linspace(0, 2 * np.pi, 2 * n, endpoint=False), indexing="ij")
    grid = 0.05 * np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], -1)
    idx = np.arange(n * 2 * n).reshape(n, 2 * n)
    a, b = idx[:-1], idx[1:]
    c, d = np.roll(a, -1, 1), np.roll(b, -1, 1)
    quads = np.concatenate([np.stack([a, b, d], -1).reshape(-1, 3), np.stack([a, d, c], -1).reshape(-1, 3)])
    face = quads.reshape(-1, 3)
    vert = grid.reshape(-1, 3)[face.reshape(-1)]  # split per corner
    return vert, np.arange(len(vert)).reshape(-1, 3)


def test_clustering_merges_and_stays_close():
    vert, face = _sphere()
    same_v, same_f = cluster_vertices(vert, face, 0.0)
    assert np.array_equal(same_v, vert) and np.array_equal(same_f, face)
    cell = 0.004
    v, f = cluster_vertices(vert, face, cell)
    assert len(v) < len(vert) / 10 and len(f) < len(face)
    assert f.min() >= 0 and f.max() == len(v) - 1 and len(np.unique(f)) == len(v)  # every vertex used
    assert np.all((f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2]))  # no collapsed triangle
    assert len({tuple(np.roll(t, -int(np.argmin(t)))) for t in f}) == len(f)  # none twice
    radius = np.linalg.norm(v, axis=1)  # still on the sphere, within a cell's diagonal
    assert np.all(np.abs(radius - 0.05) < cell * np.sqrt(3))
    with pytest.raises(ValueError, match="expected"):
        cluster_vertices(vert[:, :2], face, cell)


def _rollout_frames(task: str, cell: float, seed: int, steps: int, every: int):
    from ftrl_ros.scripted.experts import EXPERTS
    from ftrl_ros.sim.envs import make_task_env

    env = make_task_env(task, visual_mesh_cell=cell)
    expert = EXPERTS[task]()
    out = []
    try:
        state, _ = env.reset(seed=seed)
        for step in range(steps):
            if step % every == 0:
                rgb, depth = env.render_rgbd()
                out.append((env.data.qpos.copy(), rgb, depth, state.copy()))
            state, *_ = env.step(expert(state))
    finally:
        env.close()
    return out, env.model


@pytest.mark.parametrize("task", ["disturbed_push", "bounded_soccer"])
def test_simplified_arm_does_not_change_the_estimate(task):
    """Same episode, full vs simplified arm: the physics is identical step for step, and the
    estimator finds the same objects at the same places (the arm is drawn over them as the
    expert pushes, so its outline decides what is occluded)."""
    from ftrl_ros.perception.camera_model import CameraPose, Intrinsics
    from ftrl_ros.perception.detector import OnnxDetector
    from ftrl_ros.perception.estimator import StateEstimator
    from ftrl_ros.perception.objects import load_catalogue
    from ftrl_ros.utils.paths import package_dir

    full, full_model = _rollout_frames(task, 0.0, seed=3, steps=60, every=4)
    lod, lod_model = _rollout_frames(task, VISUAL_MESH_CELL, seed=3, steps=60, every=4)
    assert lod_model.mesh_facenum.sum() < 0.6 * full_model.mesh_facenum.sum()
    assert np.array_equal(lod_model.body_mass, full_model.body_mass) and np.array_equal(lod_model.body_inertia, full_model.body_inertia)
    detector = OnnxDetector(package_dir("models") / "yolo_objects.onnx", threads=1)
    est = StateEstimator(task, load_catalogue(), Intrinsics(), CameraPose(), detector)
    worst, found = 0.0, 0
    for (q_full, rgb_full, d_full, _), (q_lod, rgb_lod, d_lod, _) in zip(full, lod, strict=True):
        assert np.array_equal(q_full, q_lod), "physics changed with the visual meshes"
        seen = []
        for rgb, depth in ((rgb_full, d_full), (rgb_lod, d_lod)):
            est.reset()
            seen.append({k: e.xyz for k, e in est.observe(rgb, depth, 0.0).items()})
        a, b = seen
        assert {k for k, v in a.items() if v is not None} == {k for k, v in b.items() if v is not None}
        for k, xyz in a.items():
            if xyz is not None:
                found += 1
                worst = max(worst, float(np.linalg.norm(xyz - b[k])))
    print(f"{task}: {found} object estimates, largest difference full vs simplified arm {worst * 1000:.2f} mm")
    assert found >= len(full)  # at least one object per frame
    assert worst < 0.002

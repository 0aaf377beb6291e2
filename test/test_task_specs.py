"""Task definitions (pure numpy): layouts, rewards, success, constraints; and that the MJCF scenes
use the sizes the specs reason with."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from ftrl_ros.sim.assets import scene_xml
from ftrl_ros.tasks import TASKS, get_task
from ftrl_ros.tasks.spec import StateLayout


def test_layout_groups_and_pack_roundtrip():
    layout = StateLayout(["ee_x", "ee_y", "ee_vx", "ee_vy", "puck_x", "puck_y"])
    s = layout.pack({"ee": (1, 2), "ee_v": (3, 4), "puck": (5, 6)})
    assert s.dtype == np.float32 and s.tolist() == [1, 2, 3, 4, 5, 6]
    assert layout.get(s, "ee").tolist() == [1, 2]
    assert layout.get(s, "ee_v").tolist() == [3, 4]
    assert layout.get(np.stack([s, s]), "puck").shape == (2, 2)
    with pytest.raises(ValueError, match="not given"):
        layout.pack({"ee": (1, 2), "ee_v": (3, 4)})
    with pytest.raises(KeyError, match="no fields"):
        layout.get(s, "ball")
    with pytest.raises(ValueError, match="duplicate"):
        StateLayout(["a_x", "a_x"])


def test_unknown_task_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown task 'nope'"):
        get_task("nope")


def _state(spec, **groups):
    base = {g: (0.0, 0.0) for g in {n[:-1].rstrip("_") for n in spec.layout.names}}
    base.update(groups)
    return spec.layout.pack(base)


def test_reward_is_sum_of_terms_and_prefers_goal(task):
    spec = get_task(task)
    obj = {"disturbed_push": "puck", "fragile_push_wall": "cube", "bounded_soccer": "ball"}[task]
    far = _state(
        spec, ee=(0.4, 0.0), target=(0.7, -0.05), **{obj: (0.45, 0.0)}, **({"obstacle": (0.6, 0.2)} if task == "disturbed_push" else {})
    )
    near = far.copy()
    near[spec.layout.columns(obj)] = spec.layout.get(far, "target")
    for s in (far, near):
        terms = spec.reward_terms(s)
        assert spec.reward(s) == pytest.approx(sum(terms.values()))
    assert spec.reward(near) > spec.reward(far)
    assert spec.success(near) and not spec.success(far)


def test_disturbed_push_constraint():
    spec = get_task("disturbed_push")
    safe = _state(spec, ee=(0.40, 0.0), puck=(0.47, 0.0), obstacle=(0.60, 0.15), target=(0.7, 0))
    assert not spec.constraint(safe)
    puck_hits = _state(spec, ee=(0.40, 0.0), puck=(0.47, 0.0), obstacle=(0.47 + 0.03 + 0.04 - 0.001, 0.0), target=(0.7, 0))
    hand_hits = _state(spec, ee=(0.40, 0.0), puck=(0.47, 0.0), obstacle=(0.40, 0.06), target=(0.7, 0))
    assert spec.constraint(puck_hits) and spec.constraint(hand_hits)


def test_fragile_push_wall_constraint_and_route():
    spec = get_task("fragile_push_wall")
    wx, wy = spec.wall_center
    touching = _state(spec, cube=(wx - spec.wall_half[0] - spec.cube_half, wy), target=(0.68, -0.05))
    clear = _state(spec, cube=(0.45, wy), target=(0.68, -0.05))
    assert spec.constraint(touching) and not spec.constraint(clear)
    # in front of the wall the route goes around its free end: longer than the straight line
    cube, target = np.array([0.5, -0.05]), np.array([0.68, -0.05])
    assert spec.route_distance(cube, target) > np.linalg.norm(target - cube) + 0.1
    assert len(spec.route(np.array([0.68, 0.0]), target)) == 1


def test_bounded_soccer_constraint():
    spec = get_task("bounded_soccer")
    inside = _state(spec, ball=(0.6, 0.0), target=(0.72, 0))
    outside = _state(spec, ball=(0.6, spec.bounds_y[1] + 0.001), target=(0.72, 0))
    behind = _state(spec, ball=(spec.bounds_x[1] + 0.01, 0.0), target=(0.72, 0))
    assert not spec.constraint(inside) and spec.constraint(outside) and spec.constraint(behind)


def _geom_size(task: str, name: str) -> list[float]:
    root = ET.parse(scene_xml(task)).getroot()
    geom = next(g for g in root.iter("geom") if g.get("name") == name)
    return [float(v) for v in geom.get("size").split()]


def test_scene_sizes_match_specs():
    dp, fw, bs = TASKS["disturbed_push"], TASKS["fragile_push_wall"], TASKS["bounded_soccer"]
    assert _geom_size("disturbed_push", "puck")[0] == dp.puck_radius
    assert _geom_size("disturbed_push", "obstacle")[0] == dp.obstacle_radius
    assert _geom_size("fragile_push_wall", "cube")[0] == fw.cube_half
    assert _geom_size("fragile_push_wall", "wall")[:2] == list(fw.wall_half)
    wall = next(g for g in ET.parse(scene_xml("fragile_push_wall")).getroot().iter("geom") if g.get("name") == "wall")
    assert [float(v) for v in wall.get("pos").split()][:2] == list(fw.wall_center)
    assert _geom_size("bounded_soccer", "ball")[0] == bs.ball_radius
    assert _geom_size("disturbed_push", "target")[0] == dp.success_radius

"""The MuJoCo task environments: Gymnasium API, determinism, rewards, IR failures, rendering."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from ftrl_ros.sim.camera import CameraPose, Intrinsics
from ftrl_ros.sim.envs import ENV_IDS, make
from ftrl_ros.tasks import get_task


def test_check_env(task):
    env = gym.make(ENV_IDS[task])
    check_env(env.unwrapped, skip_render_check=True)
    assert env.spec.max_episode_steps == get_task(task).max_episode_steps


def test_time_limit_truncates(task):
    env = make(task)
    env.reset(seed=0)
    for _ in range(get_task(task).max_episode_steps):
        _, _, terminated, truncated, _ = env.step(np.zeros(2))
        assert not terminated
    assert truncated


def _rollout(task: str, seed: int, steps: int = 15):
    env = make(task)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for _ in range(steps):
        obs, *_ = env.step(rng.uniform(-1, 1, 2))
        out.append(obs)
    return np.array(out)


def test_seeded_determinism(task):
    a, b, c = _rollout(task, 3), _rollout(task, 3), _rollout(task, 4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0], c[0])


def test_reward_equals_sum_of_terms_in_info(task):
    env = make(task)
    obs, info = env.reset(seed=1)
    rng = np.random.default_rng(1)
    for _ in range(20):
        obs, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, 2))
        assert set(info) >= {"reward_terms", "cost", "ir_failure", "success", "ground_truth", "constraint_from_state"}
        assert reward == pytest.approx(sum(info["reward_terms"].values()))
        assert info["cost"] == float(info["ir_failure"])
        assert obs.dtype == np.float32 and env.observation_space.contains(obs)
        if terminated:
            break


def test_bad_action_and_start_rejected(task):
    env = make(task).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match="start"):
        env.reset(seed=0, options={"start": "bogus"})


def test_controller_tracks_commanded_velocity(task):
    env = make(task).unwrapped
    spec = env.spec_task
    env.reset(seed=0)
    start = env.controller.tcp(env.data)
    velocity = np.array([0.0, -0.05 if start[1] > 0 else 0.05])
    for _ in range(5):
        obs, *_ = env.step(spec.velocity_to_action(velocity))
    moved = env.controller.tcp(env.data) - start
    assert moved[:2] == pytest.approx(velocity * 5 * spec.control_dt, abs=0.01)
    assert abs(moved[2]) < 0.005  # height held
    assert spec.layout.get(obs, "ee_v") == pytest.approx(velocity, abs=0.02)


def test_hold_stops_the_arm_within_two_ik_periods(task):
    """A hold (stale command) brakes where the arm is: below 1 mm/s within 0.1 s from full
    speed, and it stays put; a zero velocity command alone would let it creep on."""
    env = make(task).unwrapped
    spec = env.spec_task
    env.reset(seed=0)
    ws = spec.workspace
    centre = np.array([sum(ws.x) / 2, sum(ws.y) / 2])
    env.controller.reset(env.data, centre - [0.1, 0.0])  # room to move +x at full speed
    direction = np.array([1.0, 0.0])
    for _ in range(8):
        env.advance(direction * spec.max_speed)

    def speeds(velocity, n):
        out, prev = [], env.positions()["ee"]
        for _ in range(n):
            env.advance(velocity)
            now = env.positions()["ee"]
            out.append(float(np.linalg.norm(now - prev)) / env.chunk_dt)
            prev = now
        return out

    held = speeds(None, 40)
    assert held[0] > 0.001  # it was moving
    assert max(held[2:]) < 0.001, held[:6]
    assert env.controller.reference[:2] == pytest.approx(env.positions()["ee"], abs=1e-3)


def test_workspace_limit_holds(task):
    env = make(task).unwrapped
    ws = env.spec_task.workspace
    env.reset(seed=0)
    for _ in range(25):
        env.step(np.array([-1.0, 1.0]))
    x, y, _ = env.controller.tcp(env.data)
    assert x >= ws.x[0] - 0.005 and y <= ws.y[1] + 0.005


def _push_into(env, ee_xy, direction, steps=8):
    """Drive the TCP along ``direction`` from ``ee_xy``; return whether an IR failure happened."""
    env.controller.reset(env.data, np.asarray(ee_xy))
    import mujoco

    mujoco.mj_forward(env.model, env.data)
    failed = False
    for _ in range(steps):
        _, _, terminated, _, info = env.step(np.asarray(direction, float))
        failed |= info["ir_failure"]
        if terminated:
            break
    return failed


@pytest.mark.parametrize("hazard_ahead", [True, False])
def test_disturbed_push_contact_is_ir_failure(hazard_ahead):
    env = make("disturbed_push").unwrapped
    env.reset(seed=0)
    env.set_free_body("puck", np.array([0.45, -0.15]), z=0.02)
    pot = np.array([0.52, 0.05]) if hazard_ahead else np.array([0.52, 0.20])
    env.person.reset(pot, env.np_random)
    env.person.wait = 10.0
    env.set_mocap("obstacle", pot)
    assert _push_into(env, (0.42, 0.05), (1.0, 0.0)) is hazard_ahead


@pytest.mark.parametrize("hazard_ahead", [True, False])
def test_fragile_push_wall_contact_is_ir_failure(hazard_ahead):
    env = make("fragile_push_wall").unwrapped
    spec = env.spec_task
    env.reset(seed=0)
    y = spec.wall_center[1] if hazard_ahead else spec.wall_center[1] + spec.wall_half[1] + 0.08
    env.set_free_body("cube", np.array([0.52, y]), z=spec.cube_half)
    assert _push_into(env, (0.52 - spec.cube_half - spec.tcp_radius - 0.005, y), (1.0, 0.0), steps=10) is hazard_ahead


@pytest.mark.parametrize("speed", [0.6, 0.0])
def test_bounded_soccer_ball_out_is_ir_failure(speed):
    env = make("bounded_soccer").unwrapped
    spec = env.spec_task
    env.reset(seed=0)
    env.set_free_body("ball", np.array([0.6, spec.bounds_y[1] - 0.05]), z=spec.ball_radius + 0.001, vel_xy=np.array([0.0, speed]))
    assert _push_into(env, (0.45, -0.1), (0.0, 0.0), steps=8) is (speed > 0)


def test_near_failure_starts_are_near_the_hazard(task):
    env = make(task).unwrapped
    spec = env.spec_task
    for seed in range(10):
        obs, info = env.reset(seed=seed, options={"start": "near_failure"})
        assert info["start"] == "near_failure" and not info["ir_failure"]
        assert not spec.recovered(obs)


def test_state_check_agrees_with_sim_contacts(task):
    """spec.constraint (what the real robot can compute) vs the simulator's ground truth."""
    from ftrl_ros.scripted.experts import EXPERTS
    from ftrl_ros.utils.noise import BurstNoisePolicy

    env = make(task)
    policy = BurstNoisePolicy(EXPERTS[task](), np.random.default_rng(0))
    caught = failures = false_alarms = safe_steps = 0
    for seed in range(25):
        obs, _ = env.reset(seed=seed)
        policy.reset()
        while True:
            obs, _, terminated, truncated, info = env.step(policy(obs))
            if info["ir_failure"]:
                failures += 1
                caught += info["constraint_from_state"]
            else:
                safe_steps += 1
                false_alarms += info["constraint_from_state"]
            if terminated or truncated:
                break
    print(f"{task}: state check caught {caught}/{failures} contact failures, false alarms on {false_alarms}/{safe_steps} safe steps")
    assert failures > 0
    assert caught / failures >= 0.9
    assert false_alarms / safe_steps <= 0.1


def test_rgbd_render_matches_camera_model():
    """Depth at the pixel where the intrinsics/extrinsics project a known table point equals that
    point's distance along the optical axis: the geometry perception relies on is right."""
    env = make("disturbed_push", render_mode="rgbd_array").unwrapped
    env.reset(seed=0)
    env.set_mocap("obstacle", np.array([0.70, 0.22]))
    env.set_free_body("puck", np.array([0.70, -0.22]), z=0.02)
    import mujoco

    mujoco.mj_forward(env.model, env.data)
    rgb, depth = env.render()
    intr, pose = Intrinsics(), CameraPose()
    assert rgb.shape == (intr.height, intr.width, 3) and rgb.dtype == np.uint8
    assert depth.shape == (intr.height, intr.width) and depth.dtype == np.float32
    rot = pose.rotation()
    for point in ([0.60, 0.10, 0.0], [0.50, -0.12, 0.0], [0.66, 0.0, 0.0]):
        cam = rot.T @ (np.array(point) - np.array(pose.position))
        u = intr.fx * cam[0] / cam[2] + intr.cx
        v = intr.fy * cam[1] / cam[2] + intr.cy
        assert 0 <= u < intr.width and 0 <= v < intr.height
        assert depth[int(round(v)), int(round(u))] == pytest.approx(cam[2], abs=0.01)
    # the puck is red where it projects
    cam = rot.T @ (np.array([0.70, -0.22, 0.04]) - np.array(pose.position))
    u, v = int(intr.fx * cam[0] / cam[2] + intr.cx), int(intr.fy * cam[1] / cam[2] + intr.cy)
    r, g, b = rgb[v + 3, u].astype(int)
    assert r > 120 and g < 80 and b < 80
    env.close()

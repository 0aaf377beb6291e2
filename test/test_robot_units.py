"""The arm's pure logic without a robot: Panda kinematics, the jerk-limited velocity tracker with
the robot-side workspace box, the homing profile, and the checks on limits and thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from ftrl_ros.robot.franka_driver import CollisionThresholds
from ftrl_ros.robot.kinematics import DOWN, Q_MAX, Q_MIN, Q_READY, forward, inverse, jacobian, quaternion
from ftrl_ros.robot.motion import ArmLimits, JointMove, PlanarVelocityTracker
from ftrl_ros.tasks import get_task
from ftrl_ros.tasks import TASK_NAMES

DT = 0.001
SPEC = get_task("disturbed_push")


def test_forward_kinematics_known_poses():
    # the pose franky-sim and a Panda report at q = [0, 0, 0, -pi/2, 0, pi/2, pi/4] (O_T_EE)
    t = forward([0.0, 0.0, 0.0, -np.pi / 2, 0.0, np.pi / 2, np.pi / 4])
    assert t[:3, 3] == pytest.approx([0.0825 + 0.384 + 0.088, 0.0, 0.333 + 0.316 - 0.107 - 0.1034 + 0.0825], abs=1e-3)
    assert t[:3, :3] == pytest.approx(DOWN, abs=1e-6)
    assert forward(Q_READY)[:3, :3] == pytest.approx(DOWN, abs=1e-6)


def test_jacobian_matches_finite_differences():
    q = Q_READY + 0.1
    jac = jacobian(q)
    eps = 1e-6
    for i in range(7):
        dq = np.zeros(7)
        dq[i] = eps
        dp = (forward(q + dq)[:3, 3] - forward(q - dq)[:3, 3]) / (2 * eps)
        assert jac[:3, i] == pytest.approx(dp, abs=1e-6)


@pytest.mark.parametrize("task", TASK_NAMES)
def test_inverse_reaches_every_workspace_corner(task):
    ws = get_task(task).workspace
    for x in ws.x:
        for y in ws.y:
            q = inverse([x, y, 0.022])
            t = forward(q)
            assert t[:3, 3] == pytest.approx([x, y, 0.022], abs=2e-4)
            assert t[:3, :3] == pytest.approx(DOWN, abs=2e-3)
            assert np.all(q >= Q_MIN) and np.all(q <= Q_MAX)


def test_inverse_refuses_what_it_cannot_reach():
    with pytest.raises(ValueError, match="no joint solution"):
        inverse([1.3, 0.0, 0.02])


def test_quaternion_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(20):
        q = rng.uniform(Q_MIN, Q_MAX)
        rot = forward(q)[:3, :3]
        x, y, z, w = quaternion(rot)
        back = np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
            ]
        )
        assert back == pytest.approx(rot, abs=1e-9)


def _run(tracker: PlanarVelocityTracker, wanted, xy, seconds: float, hard: bool = False):
    """Integrate the commanded velocity (the robot follows it exactly): positions, velocities."""
    xy = np.asarray(xy, float)
    vs, xs = [], []
    for _ in range(int(round(seconds / DT))):
        v = tracker.step(wanted, xy, DT, hard_stop=hard)
        xy = xy + v * DT
        vs.append(v)
        xs.append(xy.copy())
    return np.array(xs), np.array(vs)


def test_step_command_is_ramped_within_acceleration_and_jerk():
    lim = ArmLimits()
    tr = PlanarVelocityTracker(lim, SPEC.workspace)
    _, v = _run(tr, [0.1, -0.05], [0.5, 0.0], 0.5)
    assert v[-1] == pytest.approx([0.1, -0.05], abs=1e-6)
    acc = np.diff(v, axis=0) / DT
    jerk = np.diff(acc, axis=0) / DT
    assert np.abs(acc).max() <= lim.max_acc + 1e-6
    assert np.abs(jerk).max() <= lim.max_jerk * (1 + 1e-6)
    assert np.all(v[:, 0] <= 0.1 + 1e-4)  # no overshoot beyond 0.1 mm/s
    t_reach = np.argmax(np.abs(v[:, 0] - 0.1) < 1e-4) * DT
    assert t_reach < 0.2


@pytest.mark.parametrize("acc, jerk", [(1.5, 40.0), (4.0, 400.0), (1.0, 20.0)])
def test_ramp_holds_its_limits_from_every_start(acc, jerk):
    from ftrl_ros.robot.motion import _ramp

    for target in (0.1, 0.05, 0.15, 0.0005, -0.12, 0.0):
        for v0 in (0.0, 0.07, -0.05, 0.15):
            v, a, vs = np.array([v0]), np.zeros(1), [v0]
            for _ in range(1500):
                v, a = _ramp(v, a, np.array([target]), DT, acc, jerk)
                vs.append(v[0])
            vs = np.array(vs)
            dv = np.diff(vs) / DT
            assert vs[-1] == pytest.approx(target, abs=1e-6)
            assert np.abs(dv).max() <= acc * (1 + 1e-9)
            assert np.abs(np.diff(dv) / DT).max() <= jerk * (1 + 1e-6)
            overshoot = vs.max() - max(target, v0) if target >= v0 else min(target, v0) - vs.min()
            assert overshoot < 1e-4, (target, v0, overshoot)


def test_speed_is_capped_at_the_tasks_maximum():
    tr = PlanarVelocityTracker(ArmLimits(max_speed=0.15), SPEC.workspace)
    _, v = _run(tr, [1.0, 1.0], [0.5, 0.0], 1.0)
    assert np.linalg.norm(v[-1]) == pytest.approx(0.15, abs=1e-6)


def test_stop_is_smooth_and_fast():
    tr = PlanarVelocityTracker(ArmLimits(), SPEC.workspace)
    _run(tr, [0.15, 0.0], [0.45, 0.0], 0.5)
    _, v = _run(tr, None, [0.5, 0.0], 0.4)
    speed = np.linalg.norm(v, axis=1)
    assert np.argmax(speed < 0.001) * DT < 0.3  # below 1 mm/s within 0.3 s
    assert tr.at_rest


def test_estop_stops_faster_than_a_smooth_stop():
    lim = ArmLimits()
    times = []
    for hard in (False, True):
        tr = PlanarVelocityTracker(lim, SPEC.workspace)
        _run(tr, [0.15, 0.0], [0.45, 0.0], 0.5)
        _, v = _run(tr, [0.15, 0.0] if hard else None, [0.5, 0.0], 0.4, hard=hard)  # e-stop beats a command
        times.append(np.argmax(np.linalg.norm(v, axis=1) < 1e-4) * DT)
        acc = np.diff(v, axis=0) / DT
        assert np.abs(acc).max() <= (lim.stop_acc if hard else lim.max_acc) + 1e-6
        assert np.abs(np.diff(acc, axis=0) / DT).max() <= (lim.stop_jerk if hard else lim.max_jerk) * (1 + 1e-6)
    assert times[1] < times[0] / 2, times


@pytest.mark.parametrize(
    "wanted, start", [([0.15, 0.0], [0.70, 0.0]), ([-0.15, 0.0], [0.40, 0.1]), ([0.0, 0.15], [0.5, 0.2]), ([0.1, -0.1], [0.7, -0.2])]
)
def test_workspace_box_stops_the_arm_at_its_wall(wanted, start):
    ws = SPEC.workspace
    tr = PlanarVelocityTracker(ArmLimits(), ws)
    xs, v = _run(tr, wanted, start, 3.0)
    lo, hi = np.array([ws.x[0], ws.y[0]]), np.array([ws.x[1], ws.y[1]])
    assert np.all(xs >= lo - 1e-3) and np.all(xs <= hi + 1e-3)  # never more than 1 mm past a wall
    assert np.linalg.norm(v[-1]) < 1e-3  # and stopped there
    assert np.min(np.minimum(xs[-1] - lo, hi - xs[-1])) < 0.005  # at the wall, not short of it


def test_outside_the_box_only_moving_back_in_is_allowed():
    tr = PlanarVelocityTracker(ArmLimits(), SPEC.workspace)
    out = [SPEC.workspace.x[1] + 0.02, 0.0]
    assert tr.boxed(np.array([0.1, 0.05]), np.array(out))[0] == 0.0
    assert tr.boxed(np.array([-0.1, 0.05]), np.array(out)).tolist() == [-0.1, 0.05]


def test_joint_move_is_smooth_ends_still_and_can_halt():
    q0, q1 = Q_READY, Q_READY + np.array([0.5, -0.3, 0.2, 0.4, 0.0, -0.2, 0.6])
    move = JointMove(q0, q1, max_speed=0.5)
    qs = [q0]
    while not move.done:
        qs.append(move.step(DT))
    qs = np.array(qs)
    assert qs[-1] == pytest.approx(q1)
    speed = np.abs(np.diff(qs, axis=0)) / DT
    assert speed.max() <= 0.5 + 1e-3
    assert speed[-1].max() < 1e-3 and speed[0].max() < 1e-3
    halt = JointMove(q0, q1, max_speed=0.5)
    for _ in range(1000):
        halt.step(DT)
    for _ in range(300):
        q = halt.step(DT, stopping=True)
    assert halt.halted and not halt.done
    assert halt.step(DT, stopping=True) == pytest.approx(q)


def test_limits_and_thresholds_are_checked():
    assert ArmLimits().problems() == []
    assert any("max_acc" in p for p in ArmLimits(max_acc=20.0).problems())
    assert any("max_speed" in p for p in ArmLimits(max_speed=float("nan")).problems())
    assert CollisionThresholds().problems() == []
    bad = CollisionThresholds(lower_torque=(50.0,) * 7, upper_torque=(40.0,) * 7)
    assert any("must not exceed" in p for p in bad.problems())
    assert any("7 numbers" in p for p in CollisionThresholds(upper_torque=(1.0,) * 6).problems())

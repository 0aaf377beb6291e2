"""FailureBench envs (issue 12, first part): Meta-World v3 tasks with IR failures, as Gymnasium
envs -- API, the expert's success and failure rates, the state-only constraint against the
simulator's failures, and near-failure starts the scripted recovery controller gets out of."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import ftrl_ros.failurebench  # noqa: F401  (registers the envs)
from ftrl_ros.failurebench import ENV_IDS, TASKS

pytestmark = pytest.mark.filterwarnings("ignore")


def _make(task: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gym.make(ENV_IDS[task])


@pytest.mark.parametrize("task", sorted(TASKS))
def test_check_env_and_time_limit(task):
    env = _make(task)
    check_env(env.unwrapped, skip_render_check=True)
    assert env.spec.max_episode_steps == 500
    obs, info = env.reset(seed=3)
    assert obs.shape == (39,) and "constraint" in info
    o2, _ = _make(task).reset(seed=3)
    assert np.array_equal(obs, o2)  # randomness only from the seed
    _, r, term, trunc, info = env.step(env.action_space.sample())
    assert {"cost", "ir_failure", "success", "constraint"} <= set(info) and info["cost"] == float(info["ir_failure"])
    with pytest.raises(ValueError):
        env.unwrapped.reset(options={"start": "sideways"})


@pytest.mark.parametrize("task", sorted(TASKS))
def test_fast_contact_and_orientation_equal_meta_worlds(task):
    """The Meta-World methods the scene class replaces for speed (``touching_object``,
    ``_get_quat_objects``, ``_get_curr_obs_combined_no_goal``) answer exactly as Meta-World's own on the expert's states (grasps
    included) and with random actions, so observations and rewards stay bit for bit."""
    from ftrl_ros.failurebench.scripted import Expert

    env, expert = _make(task).unwrapped, Expert(task)
    mw = env.mw
    base = type(mw).__mro__[1]  # Meta-World's class
    rng = np.random.default_rng(0)
    touching = 0
    for seed, noise in ((0, 0.0), (1, 0.5)):
        obs, _ = env.reset(seed=seed)
        expert.reset()
        for _ in range(250):
            action = np.clip(expert(obs) + noise * rng.normal(size=4), -1, 1)
            obs, _, term, _, _ = env.step(action)
            obj = mw._get_id_main_object()
            fast = mw.touching_object(obj)
            assert fast == base.touching_object(mw, obj)
            assert np.array_equal(mw._get_quat_objects(), base._get_quat_objects(mw))
            assert np.array_equal(mw._get_curr_obs_combined_no_goal(), base._get_curr_obs_combined_no_goal(mw))
            touching += fast
            if term:
                break
    # the grasp branch was compared, not only empty contact lists (soccer's expert kicks the ball:
    # the same code is compared grasping in the three pushing tasks)
    assert touching > 10 or task == "bounded_soccer"


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(TASKS))
def test_expert_succeeds_without_failures(task):
    from ftrl_ros.failurebench.scripted import Expert

    env, expert, rows = _make(task), Expert(task), []
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        expert.reset()
        success = failed = False
        for _ in range(500):
            obs, _, term, trunc, info = env.step(expert(obs))
            success |= info["success"]
            if term or trunc:
                failed = info["ir_failure"]
                break
        rows.append((success, failed))
    success, failed = np.mean(rows, axis=0)
    print(f"{task}: expert success {success:.0%}, IR failures {failed:.0%}")
    assert success >= 0.8 and failed <= 0.1


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(TASKS))
def test_state_constraint_fires_by_every_failure(task):
    """Rollouts that push the object at its hazard, noisily, from behind (gripper closed): every
    IR failure the simulator reports is preceded by (or comes with) the state-only constraint;
    and the constraint is not firing most of the time."""
    from ftrl_ros.failurebench.scripted import hazard_direction

    env = _make(task)
    u = env.unwrapped
    rng = np.random.default_rng(0)
    failures = caught = fired = steps = 0
    for seed in range(12):
        # placed starts: this test pushes from behind itself (a carried start holds the object)
        obs, info = env.reset(seed=100 + seed, options={"start": "near_failure_placed" if seed % 2 else "nominal"})
        seen = info["constraint"]
        for t in range(200):
            d = hazard_direction(u.task, obs[4:6], u.vase)
            behind = np.array([*(obs[4:6] - d * 0.045), 0.04])
            target = behind if np.linalg.norm(obs[:2] - behind[:2]) > 0.015 and t < 60 else np.array([*(obs[4:6] + d * 0.05), 0.04])
            a = np.array([*np.clip((target - obs[:3]) * 20 + rng.normal(0, 0.4, 3), -1, 1), 1.0])
            obs, _, term, trunc, info = env.step(a)
            seen |= info["constraint"]
            fired += info["constraint"]
            steps += 1
            if term:
                failures += 1
                caught += seen
                break
    print(f"{task}: {failures} IR failures, {caught} with the constraint fired first; constraint on {fired / steps:.0%} of steps")
    assert failures >= 2 and caught == failures
    assert fired / steps < 0.5


@pytest.mark.parametrize("task", sorted(TASKS))
def test_a_near_failure_start_does_not_leak_into_the_next_reset(task):
    """A near-failure start moves the hand next to the object; the next reset must start from
    Meta-World's own hand position again (the moved one became the reward's reference and made
    push-v3's shaping raise 'margin must be non-negative' while collecting recovery demos)."""
    env = _make(task)
    u = env.unwrapped
    nominal = np.array(u.mw.hand_init_pos, float)
    for seed in range(4):
        env.reset(seed=seed, options={"start": "near_failure"})
        assert np.array_equal(u.mw.hand_init_pos, nominal)
        for _ in range(3):
            env.step(env.action_space.sample())
        env.reset(seed=100 + seed)
        assert np.linalg.norm(u.mw.init_tcp - u.mw.tcp_center) < 0.02  # a normal start is where Meta-World puts it
        env.step(env.action_space.sample())


@pytest.mark.slow
@pytest.mark.parametrize("task", ["bounded_push", "fragile_push_wall", "obstructed_push", "bounded_soccer"])
def test_near_failure_starts_are_recoverable(task):
    """>= 90 % (the issue's target); Bounded Soccer is still short of it (83-88 % on 300 other
    starts, 90 % on these 30; docs/failurebench.md): held at 85 % so it cannot slip unnoticed. Its ball starts
    rolling 7-11 cm from the line."""
    from ftrl_ros.failurebench.scripted import RecoveryController

    env = _make(task)
    u, ctrl, ok = env.unwrapped, RecoveryController(task), []
    for seed in range(30):
        obs, info = env.reset(seed=1000 + seed, options={"start": "near_failure"})
        assert not info["constraint"]
        assert u.task.hazard_gap(obs, u.vase) < (0.12 if task == "bounded_soccer" else 0.04)  # near failing
        recovered = False
        for _ in range(60):
            obs, _, term, _, info = env.step(ctrl(obs, u.vase, u.object_velocity))
            if term:
                break
            if u.task.recovered(obs, u.vase, u.object_velocity):
                recovered = True
                break
        ok.append(recovered)
    print(f"{task}: scripted recovery from {np.mean(ok):.0%} of 30 near-failure starts")
    assert np.mean(ok) >= (0.85 if task == "bounded_soccer" else 0.9)


@pytest.mark.parametrize("task", ["bounded_push", "obstructed_push"])
def test_the_recovery_carries_a_held_object_back_without_letting_go(task):
    """From carried near-failure starts (the noisy expert holding the puck close to its hazard)
    the recovery keeps the grasp all the way to a recovered state; the controller before
    (``hold=False``) lets go on the first step."""
    from ftrl_ros.failurebench.scripted import RecoveryController

    env = _make(task)
    u = env.unwrapped
    held_starts = 0
    for seed in range(12):
        obs, info = env.reset(seed=4000 + seed, options={"start": "near_failure_carried"})
        if not u.task.holding(obs):  # the expert did not get there: a placed scene instead
            continue
        held_starts += 1
        assert u.task.hazard_gap(obs, u.vase) < 0.025 and not info["constraint"]
        assert RecoveryController(task, hold=False)(obs)[3] < 0  # opens the gripper
        hold = RecoveryController(task)
        for _ in range(40):
            obs, _, term, _, info = env.step(hold(obs))
            assert not term, "failed while holding"
            assert u.task.holding(obs), "let go"
            if u.task.recovered(obs, u.vase, u.object_velocity):
                break
        else:
            raise AssertionError(f"seed {4000 + seed}: not recovered in 40 steps")
        assert u.task.hazard_gap(obs, u.vase) > 0.02
    assert held_starts >= 3


def test_bench_recovery_writes_paired_arms(tmp_path):
    """``ftrl bench-recovery`` on two paired seeds: every arm on the same seeds, the paired
    difference and both files; a bad task name fails naming it."""
    import json

    from ftrl_ros.cli import main

    out = tmp_path / "rec"
    assert main(["bench-recovery", "--tasks", "obstructed_push", "--episodes", "2", "--out", str(out)]) == 0
    res = json.loads(out.with_suffix(".json").read_text())["results"]["obstructed_push"]
    assert {"none", "let_go", "hold", "hold_minus_let_go/ir_failure"} <= set(res)
    assert all(res[a]["return"]["n"] == 2 for a in ("none", "let_go", "hold"))
    assert res["none"]["takeovers"]["mean"] == 0
    assert "hold - let_go" in out.with_suffix(".md").read_text()
    with pytest.raises(SystemExit, match="bounded_sock"):
        main(["bench-recovery", "--tasks", "bounded_sock"])


@pytest.mark.slow
def test_pipeline_end_to_end_on_a_small_budget(tmp_path):
    """Demos -> offline bundle -> fine-tuning sweep row, through the same commands as the robot
    tasks (``--scale`` shrinks every count; the benchmark uses 1)."""
    import json
    import subprocess
    import sys

    def ftrl(*args):
        out = subprocess.run([sys.executable, "-m", "ftrl_ros.cli", *args], capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        return out

    models = tmp_path / "models"
    ftrl(
        "train-offline",
        "--task",
        "fb_bounded_push",
        "--scale",
        "0.02",
        "--data-dir",
        str(tmp_path / "data"),
        "--models-dir",
        str(models),
        "--threads",
        "1",
    )
    from ftrl_ros.learning.bundle import load_task_bundle

    bundle = load_task_bundle("fb_bounded_push", models / "fb_bounded_push.pt")
    assert bundle.task_policy.log_std.shape == (4,) and len(bundle.layout) == 39
    assert "calibration" in json.loads((models / "fb_bounded_push.json").read_text())
    ftrl(
        "bench-farl",
        "--suite",
        "failurebench",
        "--tasks",
        "fb_bounded_push",
        "--methods",
        "farl,mppi",
        "--seeds",
        "0",
        "--models-dir",
        str(models),
        "--episodes",
        "2",
        "--eval-episodes",
        "1",
        "--envs",
        "2",
        "--out",
        str(tmp_path / "bench"),
    )
    res = json.loads((tmp_path / "bench" / "failurebench" / "results.json").read_text())
    assert set(res["summary"]["fb_bounded_push"]) == {"farl", "mppi"} and res["runs"] == 2


@pytest.mark.parametrize("task", sorted(TASKS))
def test_near_failure_starts_are_fair(task):
    """No start is already failed, has the fingers sunk into the object or the hand caught in
    the scenery (such draws are drawn again), and each is near its hazard. One still step later
    a placed object moves no faster than a push or soccer's roll (measured <= 0.32 m/s), a held
    one no faster than the hand: a ball sunk
    into soccer's goal frame, unchecked while its geoms were looked up by the wrong body name,
    was shot off at 0.6-1.1 m/s (seeds 2009, 2011)."""
    env = _make(task)
    u = env.unwrapped
    assert u._obj_geoms and not u._obj_geoms & (u._hand_geoms | u._table_geoms)
    for seed in range(20):
        obs, info = env.reset(seed=2000 + seed, options={"start": "near_failure"})
        assert u.start_fault() is None and not u.ir_failure(obs) and not info["constraint"]
        assert u.task.hazard_gap(obs, u.vase) < (0.12 if task == "bounded_soccer" else 0.04)
        held = u.task.holding(obs)
        env.step(np.zeros(4, np.float32))
        # a carried start moves the object with the hand, up to the hand's top speed (Meta-World:
        # 1 cm per step at full action, 0.8 m/s)
        assert np.linalg.norm(u.object_velocity) < (0.85 if held else 0.5), seed


@pytest.mark.parametrize("task", sorted(TASKS))
def test_policy_features_do_not_change_when_the_scene_shifts(task):
    """The relative features (object - hand, goal - object, ...) are what BC generalises from;
    the augmentation moves the scene on the table and must leave every one of them as it was
    (a coordinate missing from ``shift_xy`` would teach the policy a wrong scene)."""
    import torch

    from ftrl_ros.learning.nets import Normalizer, shift_scene
    from ftrl_ros.tasks import get_task

    features = get_task(f"fb_{task}").policy_features
    env = _make(task)
    states = []
    for seed in range(5):
        obs, _ = env.reset(seed=seed)
        for _ in range(20):
            obs, *_ = env.step(env.action_space.sample())
            states.append(obs)
    x = torch.as_tensor(np.array(states), dtype=torch.float32)
    norm = Normalizer.from_data(x.numpy(), features)
    shifted = shift_scene(x, features, 0.05, torch.Generator().manual_seed(0))
    d = x.shape[1]
    if features.shift_xy:
        assert not torch.allclose(shifted, x)
        assert torch.allclose(norm.expand(shifted)[:, d:], norm.expand(x)[:, d:], atol=1e-5)
    else:  # Fragile Push Wall: the wall is not in the state, so its scenes are never shifted
        assert torch.equal(shifted, x)
    z = norm(x)
    assert z.shape[1] == d + 3 * len(features.diffs) and torch.all(z[:, list(features.drop)] == 0)


@pytest.mark.slow
def test_bc_on_twenty_demos_pushes_the_puck_in_new_layouts(tmp_path):
    """Behaviour cloning of the 20 medium-expert demos (the pipeline's own settings) on the
    task's relative features with scene shifts brings the puck to the goal in most of 10 layouts
    it never saw. On the raw observation it did so in none of them, and the offline policy never did
    the task (docs/failurebench.md's status)."""
    import torch

    from ftrl_ros.learning.collect import collect_task_demos
    from ftrl_ros.learning.dataset import to_transitions
    from ftrl_ros.learning.failurebench_config import offline_config
    from ftrl_ros.learning.nets import GaussianPolicy, Normalizer
    from ftrl_ros.learning.offline_policy import _tensors, train_bc
    from ftrl_ros.tasks import get_task

    torch.manual_seed(0)
    cfg = offline_config()
    demos = collect_task_demos("fb_bounded_push", tmp_path / "task_demo", cfg.collect)
    tr = to_transitions(demos)
    features = get_task("fb_bounded_push").policy_features
    policy = GaussianPolicy(Normalizer.from_data(np.asarray(tr.states), features), 4)
    rng = np.random.default_rng(0)
    train_bc(policy, _tensors(tr), np.arange(len(tr.states)), 3000, 256, 3e-4, rng, features, cfg.task_policy.shift_augment)
    env = _make("bounded_push")
    successes = 0
    for seed in range(10_000, 10_010):  # the demos used seeds 0-19
        obs, _ = env.reset(seed=seed)
        for _ in range(500):
            obs, _, terminated, truncated, info = env.step(policy.act(obs, deterministic=True)[0])
            if info["success"] or terminated or truncated:
                break
        successes += bool(info["success"])
    print(f"BC on 20 demos: {successes} of 10 new layouts")
    assert successes >= 4  # measured: 5, 6, 7 of 10 over three seeds; 0 of 10 on the raw observation


def test_a_graze_within_one_control_step_is_a_failure():
    """The cube, shot past the free end of the wall, clips its corner and is deflected within
    one 12.5 ms control step: at no step's end is it in contact (the old end-of-step check saw
    nothing), yet the step is labelled an IR failure because every physics sub-step is checked.
    Physics itself is unchanged: stepping one sub-step at a time gives the same states."""
    from ftrl_ros.failurebench.envs import FailureBenchEnv

    env = FailureBenchEnv("fragile_push_wall")
    env.reset(seed=70)
    env.place(np.array([0.24, 0.69]), np.array([0.0, 0.5, 0.3]), np.array([0.0, 2.8]))
    assert env.start_fault() is None
    labels, end_contacts, velocities = [], [], []
    for _ in range(10):
        _, _, terminated, _, info = env.step(np.zeros(4))
        labels.append(info["ir_failure"])
        end_contacts.append(env._hazard_contact())
        velocities.append(env.object_velocity.copy())
    assert not any(end_contacts)
    assert labels.count(True) == 1
    k = labels.index(True)
    assert abs(velocities[k + 1][0] - velocities[k - 1][0]) > 0.3  # it really hit something: deflected sideways

    # the same scene stepped by Gymnasium's own nstep call: identical states
    from gymnasium.envs.mujoco.mujoco_env import MujocoEnv

    env2 = FailureBenchEnv("fragile_push_wall")
    env2.mw._step_mujoco_simulation = MujocoEnv._step_mujoco_simulation.__get__(env2.mw)
    for e in (env, env2):
        e.reset(seed=70)
        e.place(np.array([0.24, 0.69]), np.array([0.0, 0.5, 0.3]), np.array([0.0, 2.8]))
    for _ in range(5):
        env.step(np.zeros(4))
        env2.mw.step(np.zeros(4))
        np.testing.assert_array_equal(env.mw.data.qpos, env2.mw.data.qpos)

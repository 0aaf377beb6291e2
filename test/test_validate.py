"""Edge validation (control/validate.py): every state the simulator produces is accepted, and
anything a hostile or broken publisher could send is rejected with a reason -- never an exception
other than InputError."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ftrl_ros.control import validate
from ftrl_ros.sim.envs import make
from ftrl_ros.tasks import TASKS, get_task


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_simulated_state_is_plausible(task):
    """Random and wild actions from nominal and near-failure starts, to the episode's end (IR
    failures included): the bounds never reject a state the world can really be in."""
    spec = get_task(task)
    env = make(task)
    rng = np.random.default_rng(0)
    checked = 0
    for ep in range(12):
        obs, _ = env.reset(seed=ep, options={"start": "near_failure" if ep % 2 else "nominal"})
        done = False
        while not done:
            assert validate.state_problem(spec, obs) == "", (task, ep, obs)
            obs, _, term, trunc, _ = env.step(rng.uniform(-1, 1, 2) * (3 if ep % 3 == 0 else 1))
            done = term or trunc
            checked += 1
        assert validate.state_problem(spec, obs) == ""
    env.close()
    assert checked > 200


@pytest.mark.parametrize("task", sorted(TASKS))
def test_huge_tiny_and_non_finite_fields_are_named(task):
    spec = get_task(task)
    env = make(task)
    good, _ = env.reset(seed=3)
    env.close()
    assert validate.state_problem(spec, good) == ""
    for i, name in enumerate(spec.layout.names):
        for bad in (1e9, -1e9, 50.0):
            s = good.copy()
            s[i] = bad
            assert validate.state_problem(spec, s).startswith(f"implausible state: {name} ="), (name, bad)
        s = good.copy()
        s[i] = np.inf
        assert validate.state_problem(spec, s).startswith("state not available")
    assert "implausible" in validate.state_problem(spec, np.full(spec.layout.dim, 1e9))
    assert "values" in validate.state_problem(spec, good[:-1])
    assert "values" in validate.state_problem(spec, [])


def test_stamps():
    assert validate.stamp_problem(0.1, 0.4) == ""
    assert "old" in validate.stamp_problem(0.5, 0.4)
    assert "future" in validate.stamp_problem(-0.2, 0.4)
    assert validate.stamp_problem(float("nan"), 0.4) != ""


def test_named_vector_rejects_malformed_messages():
    assert validate.named_vector(["a", "b"], [1.0, 2.0], ["b", "a"]).tolist() == [2.0, 1.0]
    for names, values in ((["a", "b"], []), (["a", "b"], [1.0]), (["a", "a"], [1.0, 2.0]), (["a"], [1.0]), ([], [])):
        with pytest.raises(validate.InputError):
            validate.named_vector(names, values, ["a", "b"])


@pytest.mark.parametrize(
    "text",
    [
        '{"version": Infinity, "path": "x"}',
        '{"version": NaN, "path": "x"}',
        '{"version": 1e400, "path": "x"}',
        '{"version": -1, "path": "x"}',
        '{"version": 2.5, "path": "x"}',
        '{"version": true, "path": "x"}',
        '{"version": "3", "path": "x"}',
        '{"version": 3}',
        '{"version": 3, "path": ""}',
        '{"version": 3, "path": 7}',
        '{"version": 99999999999999999999, "path": "x"}',
        "[]",
        '"x"',
        "",
        "not json",
        "{" * 100000,
        "null",
    ],
)
def test_policy_version_messages(text):
    with pytest.raises(validate.InputError):
        validate.policy_version(text)


def test_policy_version_good():
    assert validate.policy_version(json.dumps({"version": 4, "path": "/tmp/c.pt"})) == (4, "/tmp/c.pt")


def test_proposals():
    assert validate.action_problem([0.2, -1.3], -0.5) == ""
    assert validate.action_problem([np.nan, 0], 0.0) == "proposal not available"
    assert validate.action_problem([0, 0], np.inf) == "proposal not available"
    assert validate.action_problem([0, 0, 0], 0.0) == "proposal not available"
    assert "implausible" in validate.action_problem([1e9, 0], 0.0)


def test_commands():
    assert validate.command_problem([0.1, 0.1], 0.15) == ""
    assert "above" in validate.command_problem([0.2, 0.0], 0.15)
    assert "finite" in validate.command_problem([np.nan, 0.0], 0.15)
    assert "command is" in validate.stamp_problem(1.0, 0.4, "command")


def test_a_pickled_checkpoint_is_refused_without_running_it(tmp_path):
    """A checkpoint path on /ftrl/policy_version must never execute code (weights-only load)."""
    import pickle

    import torch

    from ftrl_ros.learning import checkpoint

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pt"
    torch.save({"bundle_version": 1, "x": Evil()}, path, pickle_module=pickle)
    with pytest.raises(ValueError, match="not a loadable checkpoint"):
        checkpoint.load(path)
    assert not marker.exists()


def test_checkpoints_only_from_the_run_or_models(tmp_path):
    from ftrl_ros.nodes.policy_updates import allowed_checkpoint
    from ftrl_ros.utils.paths import package_dir

    run = tmp_path / "run" / "checkpoints"
    run.mkdir(parents=True)
    good = run / "policy_v0001.pt"
    good.write_bytes(b"x")
    folders = [run, package_dir("models")]
    assert allowed_checkpoint(str(good), folders) == good.resolve()
    assert allowed_checkpoint(str(package_dir("models") / "disturbed_push.pt"), folders)
    outside = tmp_path / "policy_v0002.pt"
    outside.write_bytes(b"x")
    for bad in (
        str(outside),
        str(run / ".." / ".." / "policy_v0002.pt"),
        str(run / "missing.pt"),
        str(package_dir("models") / "disturbed_push.json"),
        "/etc/passwd",
    ):
        with pytest.raises(validate.InputError):
            allowed_checkpoint(bad, folders)


def test_params_file_task_must_match_the_launch():
    import yaml

    from ftrl_ros.graph import params_task_error
    from ftrl_ros.utils.paths import package_dir

    push = yaml.safe_load((package_dir("config") / "disturbed_push.yaml").read_text())
    assert params_task_error(push, "disturbed_push") == ""
    error = params_task_error(push, "bounded_soccer")
    assert "disturbed_push" in error and "bounded_soccer" in error
    assert params_task_error({"sim_node": {"ros__parameters": {"seed": 1}}}, "bounded_soccer") == ""
    assert params_task_error(["not", "a", "mapping"], "bounded_soccer") != ""

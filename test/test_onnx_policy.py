"""Policies in and out as ONNX (issue 25): ``ftrl export-policy`` writes our task policy with its
normaliser and layouts; ``OnnxPolicy`` serves any file of that interface through ``decide.propose``
(the same samples as the native policy on the same generator); in the stack, the policy server
serves the exported file and every proposal and decision equals the native policy's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from ftrl_ros.control.bag_episodes import read_bag
from ftrl_ros.control.fields import DECISION_FIELDS
from ftrl_ros.interop.onnx_policy import OnnxPolicy, PolicyFileError, export_policy
from ftrl_ros.learning.bundle import load_task_bundle
from ftrl_ros.learning.decide import propose
from ftrl_ros.tasks import get_task
from ftrl_ros.tools.export_policy import visited_states
from ftrl_ros.tools.harness import finished_bags, launch_command

TASK = "disturbed_push"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's TorchScript ONNX exporter (no onnxscript here)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "policy.onnx"
    cmd = [sys.executable, "-m", "ftrl_ros.cli", "export-policy", "--task", TASK, "--out", str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "max action difference" in out.stdout, out.stdout + out.stderr
    return path


def test_exported_policy_samples_as_the_native_one(exported):
    bundle = load_task_bundle(TASK)
    names = list(bundle.layout)
    served = OnnxPolicy(exported, names, 2)
    assert served.stochastic and served.observation_names == names and served.action_names == ["vx", "vy"]
    states = visited_states(TASK, 200, seed=4)
    for deterministic in (True, False):
        g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
        for chunk in np.array_split(states, 20):  # a sequence of calls, as the server makes them
            a = propose(bundle.task_policy.eval(), chunk, deterministic, g1)
            b = propose(served, chunk, deterministic, g2)
            np.testing.assert_allclose(b.actions, a.actions, atol=1e-5)
            np.testing.assert_allclose(b.logp, a.logp, atol=1e-4)


def test_a_foreign_policy_with_its_own_layout(tmp_path):
    """A deterministic policy that reads three state fields, in its own order, is served by name."""

    class Foreign(torch.nn.Module):
        def forward(self, x):  # push toward the puck: (puck - ee), clipped
            return torch.clamp(torch.stack([x[:, 1] - x[:, 0], x[:, 2] * 0.0], 1) * 5.0, -1, 1)

    f = tmp_path / "foreign.onnx"
    torch.onnx.export(
        Foreign(), (torch.zeros(1, 3),), str(f), input_names=["observation.state"], output_names=["action_mean"], dynamo=False
    )
    model = onnx.load(str(f))
    for k, v in {"observation_names": ["ee_x", "puck_x", "target_y"], "action_names": ["vx", "vy"]}.items():
        model.metadata_props.add(key=k, value=json.dumps(v))
    onnx.save(model, str(f))
    names = list(get_task(TASK).layout.names)
    served = OnnxPolicy(f, names, 2)
    assert not served.stochastic
    state = np.zeros((1, len(names)), np.float32)
    state[0, names.index("ee_x")], state[0, names.index("puck_x")] = 0.40, 0.46
    p = propose(served, state, deterministic=True)
    np.testing.assert_allclose(p.actions, [[0.3, 0.0]], atol=1e-6)

    # what does not follow the interface is refused, by name
    with pytest.raises(PolicyFileError, match="not fields of the task's state"):
        OnnxPolicy(f, [n for n in names if n != "puck_x"], 2)
    with pytest.raises(PolicyFileError, match="action_names"):
        OnnxPolicy(f, names, 4)
    bare = tmp_path / "bare.onnx"
    torch.onnx.export(Foreign(), (torch.zeros(1, 3),), str(bare), input_names=["x"], output_names=["y"], dynamo=False)
    with pytest.raises(PolicyFileError, match="observation_names"):
        OnnxPolicy(bare, names, 2)
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(PolicyFileError, match="not a loadable ONNX model"):
        OnnxPolicy(tmp_path / "junk.onnx", names, 2)
    data = export_policy(load_task_bundle(TASK).task_policy, names, ["vx", "vy"])
    assert len(data) < 2_000_000


def test_the_stack_serves_the_exported_policy(exported, tmp_path):
    """``policy_server.policy`` = the exported file, in the sim stack (eval mode, fixed sim seed):
    every recorded proposal and every decision's proposal is the native policy's mean for its state,
    and the filter acted on them (task steps ran them, clipped)."""
    sets = {
        "policy_server.policy": exported,
        "policy_server.mode": "eval",
        "sim_node.seed": 5,
        "state_estimator_node.detector_threads": 1,
        "state_estimator_node.debug_image_rate": 0.0,
        "operator_console.port": 0,
    }
    run = subprocess.run(
        launch_command(run_dir=tmp_path / "run", sets=sets, duration=25, record=True), capture_output=True, text=True, timeout=180
    )
    log = (tmp_path / "run" / "logs" / "policy_server.log").read_text()
    assert f"external policy {exported}" in log, run.stdout[-2000:] + log[-2000:]
    bags = finished_bags(tmp_path / "run")
    decisions, _ = read_bag(bags[0])
    policy = load_task_bundle(TASK).task_policy.eval()
    names = list(get_task(TASK).layout.names)
    rows = []
    for msg_names, values in decisions.values():
        f = dict(zip(msg_names, values))
        if f["hold"] > 0.5:
            continue
        state = np.array([[f[f"s.{n}"] for n in names]], np.float32)
        native = propose(policy, state, deterministic=True).actions[0]
        rows.append((f, native))
    assert len(rows) >= 20, f"only {len(rows)} decisions in 25 s"
    for f, native in rows:
        np.testing.assert_allclose([f["task_ax"], f["task_ay"]], native, atol=1e-5)
        if f["source"] == 1:  # the task policy ran: the executed action is its proposal, clipped
            np.testing.assert_allclose([f["exec_ax"], f["exec_ay"]], np.clip(native, -1, 1), atol=1e-5)
    assert set(DECISION_FIELDS) <= set(rows[0][0])
    print(f"{len(rows)} decisions, {sum(f['source'] == 1 for f, _ in rows)} by the exported policy")

"""The online loop's pure logic (what to command, when an episode ends, how decisions become
learning-core episodes) and the consistency of the graph description, launch files and params."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from ftrl_ros.control.command import hold_reason, velocity_command
from ftrl_ros.control.episodes import EpisodeAssembler, EpisodeClock
from ftrl_ros.graph import NODES, node_parameters, nodes_for, parse_bool
from ftrl_ros.learning.dataset import save_episode, load_episode
from ftrl_ros.scripted.experts import EXPERTS
from ftrl_ros.tasks import get_task
from ftrl_ros.tasks import TASK_NAMES

ROOT = Path(__file__).resolve().parents[1]
SPEC = get_task("disturbed_push")
NAMES = SPEC.layout.names


def _real_state() -> np.ndarray:
    return SPEC.layout.pack(
        {
            "ee": (0.45, 0.0),
            "ee_v": (0.0, 0.0),
            "puck": (0.55, 0.05),
            "obstacle": (0.6, -0.1),
            "obstacle_v": (0.05, 0.0),
            "target": (0.65, 0.1),
        }
    )


def test_hold_reasons_in_order():
    good = _real_state()
    assert hold_reason(SPEC, good, 0.1, 0.4, estop=False, running=True) == ""
    assert hold_reason(SPEC, good, 0.1, 0.4, estop=True, running=True) == "e-stop engaged"
    assert hold_reason(SPEC, good, 0.1, 0.4, estop=False, running=False) == "no episode running"
    stale = good.copy()
    stale[SPEC.layout.columns("puck")] = np.nan
    assert hold_reason(SPEC, stale, 0.1, 0.4, False, True) == "state not available: puck"
    assert "old" in hold_reason(SPEC, good, 0.6, 0.4, False, True)
    assert "future" in hold_reason(SPEC, good, -1.0, 0.4, False, True)
    huge = good.copy()
    huge[SPEC.layout.index("puck_x")] = 1e9
    assert "implausible state: puck_x" in hold_reason(SPEC, huge, 0.1, 0.4, False, True)


def test_velocity_command_limits_speed_and_workspace():
    centre = np.array([0.55, 0.0])
    v = velocity_command(SPEC, np.array([1.0, 1.0]), centre)
    assert np.linalg.norm(v) == pytest.approx(SPEC.max_speed)
    at_edge = np.array([SPEC.workspace.x[1], 0.0])
    assert velocity_command(SPEC, np.array([0.8, 0.3]), at_edge)[0] == 0.0  # would leave the workspace
    assert velocity_command(SPEC, np.array([-0.8, 0.3]), at_edge)[0] < 0  # moving back in is fine
    with pytest.raises(ValueError, match="finite"):
        velocity_command(SPEC, np.array([np.nan, 0.0]), centre)


def test_episode_clock_ends_on_constraint_or_time_limit():
    clock = EpisodeClock(SPEC, max_steps=3)
    clock.start()
    state = np.zeros(len(NAMES), np.float32)
    state[SPEC.layout.columns("ee")] = [0.4, 0.0]
    state[SPEC.layout.columns("puck")] = [0.5, 0.0]
    state[SPEC.layout.columns("obstacle")] = [0.7, 0.2]
    state[SPEC.layout.columns("target")] = [0.68, 0.0]
    assert clock.tick(state) == "" and clock.tick(state) == ""
    assert clock.tick(state) == "time_limit"
    clock.start()
    touching = state.copy()
    touching[SPEC.layout.columns("obstacle")] = [0.55, 0.0]  # the pot against the puck
    assert clock.tick(touching) == "ir_failure"
    clock = EpisodeClock(SPEC, max_steps=100, max_stale=1.0)
    clock.start()
    hidden = state.copy()
    hidden[SPEC.layout.columns("puck")] = np.nan  # the hand hides the puck
    assert clock.tick(hidden, 10.0) == "" and clock.tick(state, 10.5) == "" and clock.tick(hidden, 10.6) == ""
    assert clock.tick(hidden, 11.5) == "" and clock.tick(hidden, 11.6) == "perception_lost"


def test_decisions_assemble_into_the_simulators_episode(tmp_path):
    """A decision stream replayed from a real sim episode gives the same rewards and flags."""
    from ftrl_ros.sim.envs import make

    env = make("disturbed_push")
    expert = EXPERTS["disturbed_push"]()
    state, _ = env.reset(seed=4)
    asm = EpisodeAssembler(SPEC, {"task": "disturbed_push", "layout": list(NAMES)})
    rewards = []
    for t in range(8):
        action = expert(state)
        if t == 3:  # a held tick (stale input): it completes the step before and adds none
            asm.observe(state)
        asm.add(state, action, "recovery" if t == 5 else "task", -1.0, 0.01)
        state, r, *_ = env.step(action)
        rewards.append(r)
    ep = asm.finish(state, "intervention")
    env.close()
    assert len(ep) == 8
    assert np.allclose(ep.rewards, rewards, atol=1e-5)
    assert ep.source.tolist() == [1] * 5 + [2] + [1] * 2
    assert ep.terminated[-1] and ep.ir_failure[-1] and not ep.truncated[-1]
    save_episode(tmp_path / "ep.npz", ep)
    assert load_episode(tmp_path / "ep.npz").meta["task"] == "disturbed_push"


def test_assembler_rejects_incomplete_state_and_handles_empty_episode():
    asm = EpisodeAssembler(SPEC, {})
    with pytest.raises(ValueError, match="not available"):
        asm.add(np.full(len(NAMES), np.nan), [0, 0], "task", 0.0, 0.0)
    assert asm.finish(np.full(len(NAMES), np.nan), "time_limit") is None


def test_graph_selects_nodes_and_parses_bools():
    sim = {n.name for n in nodes_for(use_sim=True, record=False)}
    real = {n.name for n in nodes_for(use_sim=False, record=True)}
    assert "sim_node" in sim and "camera_node" not in sim and "bag_recorder" not in sim
    assert "camera_node" in real and "sim_node" not in real and "bag_recorder" in real
    assert "franka_arm_node" in real and "franka_arm_node" not in sim
    assert "franka_arm_node" not in {n.name for n in nodes_for(use_sim=False, record=False, use_arm=False)}
    arm = next(n for n in NODES if n.name == "franka_arm_node")
    assert arm.critical and node_parameters(arm, "disturbed_push", "train", "/r", False, "10.0.0.2")["robot_ip"] == "10.0.0.2"
    assert "robot_ip" not in node_parameters(arm, "disturbed_push", "train", "/r", False, "")  # the params file's
    assert parse_bool("True", "x") and not parse_bool("0", "x")
    with pytest.raises(ValueError, match="'record'"):
        parse_bool("maybe", "record")


def test_composed_layout_puts_the_control_path_in_one_process(tmp_path):
    from ftrl_ros.graph import COMPOSED, managed_names
    from ftrl_ros.tools.launch import node_command

    split, composed = nodes_for(True, False), nodes_for(True, False, layout="composed")
    names = [n.name for n in composed]
    assert "perception_control" in names and not set(COMPOSED.members) & set(names)
    assert managed_names(split) == managed_names(composed)  # the manager brings up the same nodes, in order
    assert managed_names(composed) == ["sim_node", "state_estimator_node", "policy_server", "safety_filter"]
    with pytest.raises(ValueError, match="layout"):
        nodes_for(True, False, layout="fused")
    overrides = {m: {"task": "disturbed_push"} for m in COMPOSED.members}
    overrides["policy_server"]["seed"] = "7"
    for ns in ("", "robot2"):
        cmd = node_command(COMPOSED, [ROOT / "config" / "ftrl.yaml"], overrides, tmp_path / (ns or "root"), ns)
        assert cmd[2] == "ftrl_ros.nodes.perception_control" and not any(a.startswith("__node:=") for a in cmd)
        extra = yaml.safe_load(Path(cmd[-1]).read_text())
        prefix = f"/{ns}/" if ns else ""
        assert extra[prefix + "policy_server"]["ros__parameters"]["seed"] == 7  # each node keeps its own section
        assert "seed" not in extra[prefix + "safety_filter"]["ros__parameters"]


@pytest.mark.parametrize("task", ["ftrl", *TASK_NAMES])
def test_params_files_name_only_declared_parameters(task):
    """Every value in config/ftrl.yaml and the task overlays config/<task>.yaml is a parameter its
    node declares (a typo would be ignored by ROS silently), and every node of the graph has an
    entry point."""
    doc = yaml.safe_load((ROOT / "config" / f"{task}.yaml").read_text())
    if task == "ftrl":
        assert "/**" not in doc  # the task is the overlay's
    else:
        assert doc["/**"]["ros__parameters"]["task"] == task
    for node in NODES:
        module = importlib.import_module(f"ftrl_ros.nodes.{node.executable}")
        declared = {p.name for p in module.PARAMS}
        given = set((doc.get(node.name) or {}).get("ros__parameters", {}))
        assert given <= declared, f"{task}.yaml {node.name}: unknown {sorted(given - declared)}"
        assert callable(module.main)
    setup = (ROOT / "setup.py").read_text()
    for node in NODES:
        assert f'"{node.executable} = ftrl_ros.nodes.{node.executable}:main"' in setup


def test_launch_files_use_the_graph_description():
    base = ast.parse((ROOT / "launch" / "ftrl_bringup.launch.py").read_text())
    imported = {a.name for n in ast.walk(base) if isinstance(n, ast.ImportFrom) and n.module == "ftrl_ros.graph" for a in n.names}
    assert "nodes_for" in imported
    args = {n.args[0].value for n in ast.walk(base) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "DeclareLaunchArgument"}
    assert {"use_sim", "record", "mode", "params_file", "task", "robot_ip", "use_arm"} <= args
    for task in TASK_NAMES:
        text = (ROOT / "launch" / f"{task}.launch.py").read_text()
        assert "ftrl_bringup.launch.py" in text and f'"task": "{task}"' in text


def test_a_bundle_for_another_task_is_refused():
    from ftrl_ros.learning.bundle import load_task_bundle

    assert load_task_bundle("disturbed_push").task == "disturbed_push"  # the shipped one by default
    with pytest.raises(ValueError, match="for task 'disturbed_push', not 'bounded_soccer'"):
        load_task_bundle("bounded_soccer", ROOT / "models" / "disturbed_push.pt")


def test_hop_table_pairs_commands_with_their_decisions():
    from ftrl_ros.tools.bench_graph import hop_table, latency_series

    camera = 1_700_000_000_123_456_789
    decisions = [
        (camera, 0.0, 20.0, 22.5, 25.123456),
        (camera + 200_000_000, 0.0, 30.0, 31.0, 33.0),
        (camera + 400_000_000, 1.0, float("nan"), 1.0, 2.0),
    ]  # a decision without timing is skipped
    sent = camera + 25_123_456
    commands = {
        sent: sent + 3_000_000,
        camera + 200_000_000 + 33_000_000: camera + 200_000_000 + 40_000_000,
        123: 456,
    }  # and a command with no decision
    table = hop_table(decisions, commands)
    assert table["camera -> state (estimator)"]["n"] == 2
    assert table["command sent -> received"]["max"] == pytest.approx(7.0)
    assert table["camera -> command received"]["p50"] == pytest.approx((28.123456 + 40.0) / 2)
    series = latency_series(list(reversed(decisions)), commands)  # in time order, whatever came first
    assert [ns for ns, _ in series] == [camera, camera + 200_000_000]
    assert [ms for _, ms in series] == pytest.approx([28.123456, 40.0])

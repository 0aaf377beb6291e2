"""One task registry (``tasks.TASKS``): every robot task has all the pieces the stack, the sim, the
learners and the tools need, and a missing one is named. Adding a task: register its spec in
``ftrl_ros/tasks/__init__.py``, run this test, and add what it lists."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ftrl_ros.tasks import TASK_NAMES, TASKS

ROOT = Path(__file__).resolve().parents[1]


def missing_pieces(task: str) -> list[str]:
    """What ``task`` lacks, one line each (empty: complete)."""
    from ftrl_ros.perception.objects import load_catalogue
    from ftrl_ros.scripted.experts import EXPERTS
    from ftrl_ros.scripted.recovery import RECOVERY
    from ftrl_ros.sim.envs import ENV_IDS
    from ftrl_ros.tools.calibrate_camera import BOARD_PLACEMENT

    out = []
    if task not in TASKS:
        out.append(f"spec: register a TaskSpec named {task!r} in ftrl_ros/tasks/__init__.py (TASKS)")
    overlay = ROOT / "config" / f"{task}.yaml"
    if not overlay.is_file() or f"task: {task}" not in overlay.read_text():
        out.append(f"parameter overlay: config/{task}.yaml setting 'task: {task}' for every node")
    launch = ROOT / "launch" / f"{task}.launch.py"
    if not launch.is_file() or f'"task": "{task}"' not in launch.read_text():
        out.append(f"launch file: launch/{task}.launch.py including ftrl_bringup.launch.py with task {task}")
    if not (ROOT / "sim" / f"{task}.xml").is_file():
        out.append(f"scene: sim/{task}.xml (MuJoCo objects composed with the Panda)")
    if task not in ENV_IDS:
        out.append("sim env: a TaskEnv subclass in ftrl_ros/sim/envs/ and its row in _CLASSES")
    if task not in EXPERTS:
        out.append("scripted expert: ftrl_ros/scripted/experts.py EXPERTS (demos come from it)")
    if task not in RECOVERY:
        out.append("scripted recovery controller: ftrl_ros/scripted/recovery.py RECOVERY (recovery demos)")
    objects = load_catalogue().tasks.get(task)
    if not objects:
        out.append("perception: the task's objects under 'tasks:' in config/perception.yaml")
    elif task in TASKS:
        groups = {n.rsplit("_", 1)[0] for n in TASKS[task].layout.names if not n.startswith("ee")}
        unseen = sorted(g for g in groups if not g.endswith("_v") and g not in objects)
        if unseen:
            out.append(f"perception: config/perception.yaml lists no object for the state fields {unseen}")
    if task not in BOARD_PLACEMENT:
        out.append("camera calibration: where the ChArUco board lies, ftrl_ros/tools/calibrate_camera.py BOARD_PLACEMENT")
    if not (ROOT / "models" / f"{task}.pt").is_file():
        out.append(f"offline bundle: models/{task}.pt (ftrl train-offline --task {task})")
    return out


@pytest.mark.parametrize("task", TASK_NAMES)
def test_every_task_has_every_piece(task):
    missing = missing_pieces(task)
    assert not missing, f"{task} lacks:\n  " + "\n  ".join(missing)


def test_a_new_task_is_told_every_piece_it_lacks():
    missing = missing_pieces("pour_water")
    assert len(missing) == 10, missing
    assert any("config/pour_water.yaml" in m for m in missing) and any("RECOVERY" in m for m in missing)


def test_no_list_of_task_names_is_typed_outside_the_registry():
    """A tuple, list or set literal naming every robot task is a copy of the registry (subsets chosen
    for a reason, and FailureBench lists that share a name, are not)."""
    offenders = []
    for path in sorted((ROOT / "ftrl_ros").rglob("*.py")) + sorted((ROOT / "test").glob("*.py")) + sorted((ROOT / "launch").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                names = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
                if set(TASKS) <= names:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders

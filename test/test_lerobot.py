"""LeRobotDataset v3.0 export and import (issue 25): what ``ftrl export-lerobot`` writes is loaded
by LeRobot's own ``LeRobotDataset`` (lerobot 0.4.4 in its venv, ``.venv-lerobot``) and every field
equals the source episode's; ``ftrl import-lerobot`` gives back the very episodes, so training on
them is training on the originals. (The teleop bag's export is checked in test_operator_console.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ftrl_ros.interop.lerobot import SOURCE_NAMES, LeRobotError, read_dataset, write_dataset
from ftrl_ros.control.bag_episodes import episode_frames, episodes_from_bag, read_bag_images
from ftrl_ros.interop.lerobot_check import differences, load_with_lerobot, video_psnr
from ftrl_ros.tools.harness import finished_bags, launch_command
from ftrl_ros.learning.bundle import load_bundle
from ftrl_ros.learning.collect import CollectConfig, collect_failure_demos, collect_recovery_demos, collect_task_demos
from ftrl_ros.learning.dataset import SOURCES, STEP_KEYS, load_folder, to_transitions
from ftrl_ros.learning.nets import GaussianPolicy, Normalizer
from ftrl_ros.learning.offline_policy import _tensors, train_bc
from ftrl_ros.learning.online import FinetuneConfig, finetune
from ftrl_ros.scripted.experts import EXPERTS

TASK = "disturbed_push"
MODELS = Path(__file__).resolve().parents[1] / "models"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ftrl_ros.cli", *args], capture_output=True, text=True, timeout=300)


def _same(a, b) -> bool:
    return np.array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64), equal_nan=True)


def assert_lerobot_sees(episodes, seen: dict, task: str) -> None:
    """Every frame LeRobot's ``dataset[i]`` returns equals the source episode's values, feature by
    feature, and each episode row its outcome (``lerobot_check.differences``)."""
    assert seen["features"]["source"]["names"] == SOURCE_NAMES
    assert len(seen["frames"]) == sum(len(e) for e in episodes)
    bad = differences(episodes, seen, task)
    assert not bad, "\n".join(bad)


@pytest.fixture(scope="module")
def online_run(tmp_path_factory) -> Path:
    """A short FARL fine-tuning run of the shipped bundle with its episodes saved: task and recovery
    steps, C_H per step, the filter's eps_safe."""
    out = tmp_path_factory.mktemp("online")
    cfg = FinetuneConfig(method="farl", total_steps=400, rollout_steps=200, eval_episodes=1, seed=3, n_envs=2, save_episodes=True)
    finetune(load_bundle(MODELS / f"{TASK}.pt"), TASK, cfg, out=out)
    return out


def test_online_run_is_what_lerobot_loads(online_run, tmp_path):
    episodes = load_folder(online_run / "episodes")
    sources = set(np.concatenate([e.source for e in episodes]).tolist())
    assert SOURCES["task"] in sources and np.isfinite(np.concatenate([e.risk for e in episodes])).any()
    out = _cli("export-lerobot", str(online_run / "episodes"), "--out", str(tmp_path / "ds"))
    assert out.returncode == 0, out.stdout + out.stderr
    seen = load_with_lerobot(tmp_path / "ds", frames=True)
    assert seen["lerobot"] == "0.4.4"
    assert_lerobot_sees(episodes, seen, TASK)
    eps = [f["eps_safe"] for f in seen["frames"]]
    assert all(e == pytest.approx(episodes[0].meta["eps_safe"]) for e in eps)  # the run's threshold on every frame
    stats = json.loads((tmp_path / "ds/meta/stats.json").read_text())
    actions = np.concatenate([e.actions for e in episodes])
    assert seen["stats"]["action"]["mean"] == pytest.approx(actions.mean(0).tolist(), abs=1e-6)
    assert stats["observation.state"]["count"] == [len(actions)]


def test_demos_round_trip_and_train_the_same(tmp_path):
    """Task, recovery and failure demos -> LeRobot -> import: the same arrays, metadata and the same
    BC losses on a fixed seed; LeRobot sees the failure labels."""
    cfg = CollectConfig(seed=5, task_episodes=3, recovery_episodes=3, failure_transitions=150, failure_max_episodes=20)
    demos = collect_task_demos(TASK, tmp_path / "src" / "task_demo", cfg)
    demos += collect_recovery_demos(TASK, tmp_path / "src" / "recovery_demo", cfg)
    demos += collect_failure_demos(TASK, tmp_path / "src" / "failure_demo", EXPERTS[TASK](), cfg)[0]
    assert any(e.failed for e in demos)
    out = _cli("export-lerobot", str(tmp_path / "src"), "--out", str(tmp_path / "ds"))
    assert out.returncode == 0, out.stdout + out.stderr
    src = [e for kind in ("failure_demo", "recovery_demo", "task_demo") for e in load_folder(tmp_path / "src" / kind)]
    seen = load_with_lerobot(tmp_path / "ds", frames=True)
    assert_lerobot_sees(src, seen, TASK)
    assert [r["ir_failure"] for r in seen["episodes"]] == [e.failed for e in src]

    out = _cli("import-lerobot", str(tmp_path / "ds"), "--out", str(tmp_path / "back"))
    assert out.returncode == 0, out.stdout + out.stderr
    for kind in ("task_demo", "recovery_demo", "failure_demo"):
        a, b = load_folder(tmp_path / "src" / kind), load_folder(tmp_path / "back" / TASK / kind)
        assert len(a) == len(b)
        for x, y in zip(a, b):
            for key in ("states", *STEP_KEYS):
                assert getattr(x, key).dtype == getattr(y, key).dtype and _same(getattr(x, key), getattr(y, key)), (kind, key)
            assert x.meta == y.meta

    def bc_losses(folder: Path) -> list[tuple[str, float, int]]:
        tr = to_transitions([e for k in ("task_demo", "recovery_demo") for e in load_folder(folder / k)])
        torch.manual_seed(0)
        policy = GaussianPolicy(Normalizer.from_data(tr.states), 2, hidden=32)
        seen: list[tuple[str, float, int]] = []
        train_bc(
            policy,
            _tensors(tr, intended=True),
            np.arange(len(tr.states)),
            60,
            32,
            1e-3,
            np.random.default_rng(0),
            scalars=lambda *a: seen.append(a),
        )
        return seen

    original, imported = bc_losses(tmp_path / "src"), bc_losses(tmp_path / "back" / TASK)
    assert original == imported and len(original) > 2


def test_bad_input_is_refused_by_name(tmp_path):
    with pytest.raises(LeRobotError, match="no episodes"):
        write_dataset([], tmp_path / "x")
    (tmp_path / "bad/meta").mkdir(parents=True)
    (tmp_path / "bad/meta/info.json").write_text(json.dumps({"codebase_version": "v2.1"}))
    with pytest.raises(LeRobotError, match="codebase_version"):
        read_dataset(tmp_path / "bad")
    (tmp_path / "bad/meta/info.json").write_text(json.dumps({"codebase_version": "v3.0", "features": {}}))
    with pytest.raises(LeRobotError, match="observation.state"):
        read_dataset(tmp_path / "bad")
    out = _cli("export-lerobot", str(tmp_path / "nothing-here"), "--out", str(tmp_path / "y"))
    assert out.returncode != 0 and "nothing-here" in out.stderr


def test_bag_with_camera_frames_exports_a_video(tmp_path):
    """A sim-stack bag that recorded the colour image: each step's frame (the one its decision was
    made on, by stamp) goes into the dataset's MPEG-4 video; LeRobot's metadata points to it, PyAV
    decodes it (LeRobot's own decoders cannot load here: see scripts/lerobot_dump.py) and every
    frame is within 30 dB PSNR of the bag's image."""
    sets = {
        "bag_recorder.topics": "[ftrl/decision,ftrl/episode/event,camera/camera/color/image_raw]",
        "episode_manager.max_episode_steps": 15,
        "episode_manager.reset_delay": 0.3,
        "operator_console.port": 0,
        "state_estimator_node.detector_threads": 1,
        "state_estimator_node.debug_image_rate": 0.0,
    }
    run = subprocess.run(
        launch_command(run_dir=tmp_path / "run", sets=sets, duration=25, record=True), capture_output=True, text=True, timeout=180
    )
    bags = finished_bags(tmp_path / "run")
    assert bags, run.stdout[-2000:]
    images = read_bag_images(bags[0])
    episodes = episodes_from_bag(bags[0])
    assert len(images) >= 50 and len(episodes) >= 2, (len(images), len(episodes))
    stamps = [s for e in episodes for s in e.meta["step_stamps_ns"]]
    assert sum(s in images for s in stamps) >= 0.9 * len(stamps)  # the decision's own frame, by stamp
    out = _cli("export-lerobot", str(bags[0]), "--out", str(tmp_path / "ds"), "--check")
    assert out.returncode == 0 and "camera as video" in out.stdout and "PSNR" in out.stdout, out.stdout + out.stderr
    seen = load_with_lerobot(tmp_path / "ds", decode_video=tmp_path / "decoded.npy")
    assert seen["video_keys"] == ["observation.images.color"]
    decoded = np.load(tmp_path / "decoded.npy")
    frames = np.concatenate([episode_frames(e, images) for e in episodes])
    assert decoded.shape == frames.shape and video_psnr(decoded, frames).min() >= 30.0
    starts = np.cumsum([0] + [len(e) for e in episodes])
    assert seen["video_ranges"] == [[a / 5, b / 5] for a, b in zip(starts[:-1], starts[1:])]

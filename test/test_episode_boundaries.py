"""Episode boundaries in the running stack: a state captured before a reset never starts or ends
the next episode (no IR failure without a policy step), in every task; and a launch whose params
file is for another task fails at start-up naming both."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from ftrl_ros.learning.dataset import load_episode
from ftrl_ros.utils.paths import package_dir

EPISODES = 20


@pytest.mark.slow
@pytest.mark.parametrize("task", ["bounded_soccer", "disturbed_push", "fragile_push_wall"])
def test_quick_episodes_have_no_phantom_failures(task, tmp_path):
    """20 short episodes with quick resets (the case that produced 'ir_failure after 1 steps' on
    a ball still outside from the last episode): every IR failure has a logged policy step."""
    out = subprocess.run(
        [sys.executable, "-m", "ftrl_ros.cli", "launch", task, "--quiet", "--run-dir", str(tmp_path),
         "--set", f"episode_manager.max_episodes={EPISODES}", "--set", "episode_manager.max_episode_steps=4",
         "--set", "episode_manager.reset_delay=0.05", "--set", "sim_node.start_mode=near_failure",
         "--set", "ppo_learner.mode=eval", "--set", "state_estimator_node.detector_threads=1",
         "--set", "state_estimator_node.debug_image_rate=0.0", "--duration", "240"],
        capture_output=True, text=True, timeout=300)
    log = (tmp_path / "logs" / "episode_manager.log").read_text()
    ends = [(int(n), reason, int(steps)) for n, reason, steps in
            re.findall(r"episode (\d+) ended: (\w+) after (\d+) steps", log)]
    assert len(ends) >= EPISODES, (out.stdout[-2000:], log[-2000:])
    written = {load_episode(p).meta["episode"]: load_episode(p) for p in (tmp_path / "episodes").glob("ep_*.npz")}
    failures = [(n, steps) for n, reason, steps in ends if reason == "ir_failure"]
    for n, steps in failures:
        assert steps >= 1 and n in written and len(written[n]) >= 1, (n, steps, sorted(written))
        assert written[n].failed
    print(f"{task}: {len(ends)} episodes, {len(failures)} IR failures, each after >= 1 policy step")


def test_a_params_file_for_another_task_is_refused(tmp_path):
    out = subprocess.run([sys.executable, "-m", "ftrl_ros.cli", "launch", "bounded_soccer", "--params-file",
                          str(package_dir("config") / "disturbed_push.yaml"), "--run-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "disturbed_push" in out.stderr and "bounded_soccer" in out.stderr, out.stderr
    assert not (tmp_path / "logs").exists()  # no node was started

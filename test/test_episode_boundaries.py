"""Episode boundaries in the running stack: a state captured before a reset never starts or ends
the next episode (no IR failure without a policy step), in every task; and a launch whose params
file is for another task fails at start-up naming both."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from ftrl_ros.learning.dataset import load_episode
from ftrl_ros.utils.paths import package_dir
from ftrl_ros.tasks import TASK_NAMES
from ftrl_ros.tools.harness import Probe, launch_command, node_command

EPISODES = 20


@pytest.mark.slow
@pytest.mark.parametrize("task", TASK_NAMES)
def test_quick_episodes_have_no_phantom_failures(task, tmp_path):
    """20 short episodes with quick resets (the case that produced 'ir_failure after 1 steps' on
    a ball still outside from the last episode): every IR failure has a logged policy step."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ftrl_ros.cli",
            "launch",
            task,
            "--quiet",
            "--run-dir",
            str(tmp_path),
            "--set",
            f"episode_manager.max_episodes={EPISODES}",
            "--set",
            "episode_manager.max_episode_steps=4",
            "--set",
            "episode_manager.reset_delay=0.05",
            "--set",
            "sim_node.start_mode=near_failure",
            "--set",
            "ppo_learner.mode=eval",
            "--set",
            "state_estimator_node.detector_threads=1",
            "--set",
            "state_estimator_node.debug_image_rate=0.0",
            "--duration",
            "240",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = (tmp_path / "logs" / "episode_manager.log").read_text()
    ends = [(int(n), reason, int(steps)) for n, reason, steps in re.findall(r"episode (\d+) ended: (\w+) after (\d+) steps", log)]
    assert len(ends) >= EPISODES, (out.stdout[-2000:], log[-2000:])
    written = {load_episode(p).meta["episode"]: load_episode(p) for p in (tmp_path / "episodes").glob("ep_*.npz")}
    failures = [(n, steps) for n, reason, steps in ends if reason == "ir_failure"]
    for n, steps in failures:
        assert steps >= 1 and n in written and len(written[n]) >= 1, (n, steps, sorted(written))
        assert written[n].failed
    print(f"{task}: {len(ends)} episodes, {len(failures)} IR failures, each after >= 1 policy step")


def test_a_params_file_for_another_task_is_refused(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ftrl_ros.cli",
            "launch",
            "bounded_soccer",
            "--params-file",
            str(package_dir("config") / "disturbed_push.yaml"),
            "--run-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "disturbed_push" in out.stderr and "bounded_soccer" in out.stderr, out.stderr
    assert not (tmp_path / "logs").exists()  # no node was started


def test_an_estop_release_during_the_first_reset_starts_one_episode():
    """The latched e-stop state (released) arriving while the first sim reset is in flight asked
    for a second reset, which restarted episode 1 without ending it (seen on a loaded CI runner
    as an episode that never ended). Real episode_manager over DDS; this probe plays the sim's
    reset service and sends the release from inside it."""
    from std_msgs.msg import Bool
    from std_srvs.srv import Trigger

    from ftrl_ros.nodes import topics

    params = {"task": "disturbed_push", "use_sim": True, "reset_delay": 0.05}
    proc = subprocess.Popen(node_command("episode_manager", params), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    probe = Probe("boundary_probe")
    estop = probe.publisher(topics.ESTOP_ENGAGED)
    event_log = probe.listen(topics.EPISODE_EVENT)
    resets: list[float] = []

    def on_reset(request, response):
        resets.append(time.monotonic())
        estop.publish(Bool(data=False))  # the release lands while this reset is in flight
        end = time.monotonic() + 0.5
        while time.monotonic() < end:  # a slow reset (the sim rebuilding its scene)
            time.sleep(0.01)
        response.success = True
        return response

    probe.node.create_service(Trigger, probe.name_of(topics.SIM_RESET), on_reset)
    try:
        assert probe.spin_until(lambda: bool(resets), 60), "episode_manager never asked for a reset"
        probe.spin_for(3.0)  # no decisions come: episode 1 must simply keep running
    finally:
        probe.close()
        proc.terminate()
        log = proc.communicate(timeout=15)[0]
    events = [json.loads(m.data) for _, m in event_log]
    starts = [e["episode"] for e in events if e["event"] == "start"]
    assert len(resets) == 1 and starts == [1], (len(resets), events, log[-1500:])


def test_no_node_outlives_a_killed_launcher(tmp_path):
    """kill -9 of `ftrl launch` (no chance to stop its nodes) must not leave a headless stack
    driving the arm: every node gets SIGTERM when its launcher dies (PR_SET_PDEATHSIG)."""
    import signal

    launch = subprocess.Popen(launch_command(run_dir=tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def pids() -> list[str]:
        out = subprocess.run(["pgrep", "-f", f"ftrl_ros.nodes.*{tmp_path}"], capture_output=True, text=True)
        return out.stdout.split()

    end = time.monotonic() + 60
    while len(pids()) < 5 and time.monotonic() < end:
        time.sleep(0.5)
    assert len(pids()) >= 5, "the stack did not start"
    launch.send_signal(signal.SIGKILL)
    launch.wait(timeout=10)
    end = time.monotonic() + 10
    while pids() and time.monotonic() < end:
        time.sleep(0.2)
    left = pids()
    for pid in left:  # do not leave them for the next test
        subprocess.run(["kill", "-9", pid])
    assert not left, f"{len(left)} nodes outlived their launcher"

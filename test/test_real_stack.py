"""The robot's configuration end to end: `ftrl launch disturbed_push --use-sim false` with
camera_node playing a RealSense recording (real pyrealsense2) and franka_arm_node driving
franky-sim over libfranka's protocol, inside test.sh's isolated namespace. The operator homes the
arm and starts an episode; the stack decides at 5 Hz, the arm moves on its commands, the episode
ends and is logged."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ftrl_ros.robot.franky_sim import FrankySim
from ftrl_ros.tools.harness import Probe, Stack

STEPS = 15


@pytest.mark.slow
def test_one_episode_on_the_robot_path(tmp_path):
    from std_srvs.srv import Trigger

    from ftrl_ros.nodes import topics
    from ftrl_ros.tools.record_sim import record

    recording = tmp_path / "push.db3"
    record("disturbed_push", steps=40, seed=2, out=recording)  # 5 Hz frames, as the control rate
    run_dir = tmp_path / "run"
    sets = {
        "franka_arm_node.realtime": "false",
        "camera_node.playback_file": recording,
        "camera_node.repeat_playback": "true",
        "camera_node.fps": 5,
        "episode_manager.max_episode_steps": STEPS,
        "state_estimator_node.debug_image_rate": 0.0,
        "state_estimator_node.detector_threads": 1,
    }
    with FrankySim(log=tmp_path / "franky_sim.log"), Stack(run_dir, sets=sets, use_sim=False, robot_ip="127.0.0.1") as stack:
        with Probe("robot_probe") as probe:
            log = {
                "decision": probe.listen(topics.DECISION),
                "cmd": probe.listen(topics.CMD_VEL),
                "pose": probe.listen(topics.TCP_POSE),
                "event": probe.listen(topics.EPISODE_EVENT),
            }

            def msgs(key: str) -> list:
                return [m for _, m in log[key]]

            def events() -> list[dict]:
                return [json.loads(m.data) for m in msgs("event")]

            def call(service, timeout=60.0):
                response = probe.call(probe.client(service), Trigger.Request(), timeout)
                assert response is not None, f"{probe.name_of(service)} not offered or timed out"
                return response

            # the operator homes the arm to the task's start pose (refused until the lifecycle
            # manager has activated the stack: the arm does not move before that)
            for _ in range(60):
                home = call(topics.HOME)
                if home.success or "not active" not in home.message:
                    break
                probe.spin_for(1.0)
            assert home.success, home.message
            assert probe.spin_until(lambda: len(log["pose"]) > 5, 10)
            start = np.array([msgs("pose")[-1].pose.position.x, msgs("pose")[-1].pose.position.y])
            assert start == pytest.approx([0.38, 0.0], abs=3e-3)
            # ... and starts the episode once the scene is set (the state must be complete first)
            ok = False
            for _ in range(30):
                reset = call(topics.RESET)
                if reset.success:
                    ok = True
                    break
                probe.spin_for(1.0)
            assert ok, reset.message
            assert probe.spin_until(lambda: any(e.get("event") == "end" for e in events()), 60), events()[-5:]
            end = next(e for e in events() if e.get("event") == "end")
            stamps = np.array(sorted({m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in msgs("decision")}))
            rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
            moving = [m for m in msgs("cmd") if math.hypot(m.twist.linear.x, m.twist.linear.y) > 0.005]
            path = [np.array([m.pose.position.x, m.pose.position.y]) for m in msgs("pose")]
            travelled = max(float(np.linalg.norm(p - start)) for p in path)
            print(
                f"robot path: episode ended {end.get('reason')} after {end.get('steps')} steps; decisions "
                f"{rate:.2f} Hz; {len(moving)} moving commands; TCP moved up to {travelled * 100:.1f} cm"
            )
            assert 4.5 <= rate <= 5.5
            assert end.get("steps", 0) >= 5
            assert moving and travelled > 0.01  # the arm followed the stack's commands
            probe.spin_until(lambda: any((run_dir / "episodes").glob("*.npz")), 20)
            assert list((run_dir / "episodes").glob("*.npz")), "the episode was not logged"
            assert stack.alive, stack.tail()

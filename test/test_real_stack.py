"""The robot's configuration end to end: `ftrl launch disturbed_push --use-sim false` with
camera_node playing a RealSense recording (real pyrealsense2) and franka_arm_node driving
franky-sim over libfranka's protocol, inside test.sh's isolated namespace. The operator homes the
arm and starts an episode; the stack decides at 5 Hz, the arm moves on its commands, the episode
ends and is logged."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ftrl_ros.robot.franky_sim import FrankySim

STEPS = 15


@pytest.mark.slow
def test_one_episode_on_the_robot_path(tmp_path):
    import rclpy
    from geometry_msgs.msg import PoseStamped, TwistStamped
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String
    from std_srvs.srv import Trigger

    from ftrl_ros.tools.record_sim import record

    recording = tmp_path / "push.db3"
    record("disturbed_push", steps=40, seed=2, out=recording)  # 5 Hz frames, as the control rate
    run_dir = tmp_path / "run"
    with FrankySim(log=tmp_path / "franky_sim.log"):
        launch = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ftrl_ros.cli",
                "launch",
                "disturbed_push",
                "--use-sim",
                "false",
                "--robot-ip",
                "127.0.0.1",
                "--run-dir",
                str(run_dir),
                "--quiet",
                "--set",
                "franka_arm_node.realtime=false",
                "--set",
                f"camera_node.playback_file={recording}",
                "--set",
                "camera_node.repeat_playback=true",
                "--set",
                "camera_node.fps=5",
                "--set",
                f"episode_manager.max_episode_steps={STEPS}",
                "--set",
                "state_estimator_node.debug_image_rate=0.0",
                "--set",
                "state_estimator_node.detector_threads=1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ctx = rclpy.Context()
        rclpy.init(context=ctx)
        node = rclpy.create_node("robot_probe", context=ctx)
        ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
        ex.add_node(node)
        q = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
        log = {k: [] for k in ("decision", "cmd", "pose", "event")}
        node.create_subscription(JointState, "/ftrl/decision", lambda m: log["decision"].append(m), q)
        node.create_subscription(TwistStamped, "/ftrl/cmd_vel", lambda m: log["cmd"].append(m), q)
        node.create_subscription(PoseStamped, "/ftrl/robot/tcp_pose", lambda m: log["pose"].append(m), q)
        node.create_subscription(String, "/ftrl/episode/event", lambda m: log["event"].append(json.loads(m.data)), q)

        def spin_until(done, timeout):
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                ex.spin_once(timeout_sec=0.01)
                if done():
                    return True
            return False

        def call(name, timeout=60.0):
            client = node.create_client(Trigger, name)
            assert client.wait_for_service(timeout_sec=60), f"{name} not offered"
            future = client.call_async(Trigger.Request())
            assert spin_until(future.done, timeout), f"{name} timed out"
            return future.result()

        try:
            # the operator homes the arm to the task's start pose (refused until the lifecycle
            # manager has activated the stack: the arm does not move before that)
            for _ in range(60):
                home = call("/ftrl/robot/home")
                if home.success or "not active" not in home.message:
                    break
                spin_until(lambda: False, 1.0)
            assert home.success, home.message
            assert spin_until(lambda: len(log["pose"]) > 5, 10)
            start = np.array([log["pose"][-1].pose.position.x, log["pose"][-1].pose.position.y])
            assert start == pytest.approx([0.38, 0.0], abs=3e-3)
            # ... and starts the episode once the scene is set (the state must be complete first)
            ok = False
            for _ in range(30):
                reset = call("/ftrl/reset")
                if reset.success:
                    ok = True
                    break
                spin_until(lambda: False, 1.0)
            assert ok, reset.message
            assert spin_until(lambda: any(e.get("event") == "end" for e in log["event"]), 60), [e for e in log["event"]][-5:]
            end = next(e for e in log["event"] if e.get("event") == "end")
            stamps = np.array(sorted({m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in log["decision"]}))
            rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
            moving = [m for m in log["cmd"] if math.hypot(m.twist.linear.x, m.twist.linear.y) > 0.005]
            path = [np.array([m.pose.position.x, m.pose.position.y]) for m in log["pose"]]
            travelled = max(float(np.linalg.norm(p - start)) for p in path)
            print(
                f"robot path: episode ended {end.get('reason')} after {end.get('steps')} steps; decisions "
                f"{rate:.2f} Hz; {len(moving)} moving commands; TCP moved up to {travelled * 100:.1f} cm"
            )
            assert 4.5 <= rate <= 5.5
            assert end.get("steps", 0) >= 5
            assert moving and travelled > 0.01  # the arm followed the stack's commands
            spin_until(lambda: any((run_dir / "episodes").glob("*.npz")), 20)
            assert list((run_dir / "episodes").glob("*.npz")), "the episode was not logged"
            assert launch.poll() is None, launch.stdout.read()[-3000:]
        finally:
            ex.shutdown()
            node.destroy_node()
            rclpy.shutdown(context=ctx)
            launch.send_signal(signal.SIGINT)
            try:
                out, _ = launch.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                launch.kill()
                out, _ = launch.communicate()
            print(out[-2000:])

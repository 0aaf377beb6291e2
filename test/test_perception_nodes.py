"""camera_node plays a RealSense recording made by `ftrl record-sim` (real pyrealsense2, both ways),
state_estimator_node turns it into the task state over real DDS (inside test.sh's isolated
namespace), and a camera that stops turns the status STALE within two 5 Hz periods."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ftrl_ros.utils.paths import package_dir
from ftrl_ros.nodes import topics
from ftrl_ros.tools.harness import Probe, node_command, stop_process

MODEL = package_dir("models") / "yolo_objects.onnx"
STATE_TOL = 0.03  # m: tracked state
MARKER_MAX = 0.03  # m: per-frame measurements (median must be <= 1 cm); the hand hides part of the puck


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    from ftrl_ros.tools.record_sim import record

    path = tmp_path_factory.mktemp("rec") / "disturbed_push.db3"
    meta = record("disturbed_push", steps=20, seed=3, out=path)
    assert path.is_file() and meta["frames"] == 20
    return path, meta


class PerceptionProbe(Probe):
    """A test-side node on its own context: publishes the robot TCP, records what comes back."""

    def __init__(self, ee_xy):
        from geometry_msgs.msg import PoseStamped

        super().__init__("perception_probe")
        self.states = self.listen(topics.STATE)
        self.markers: list = []
        self.node.create_subscription(topics.DETECTIONS.type, topics.DETECTIONS.name, self.markers.append, 50)
        self.status = self.listen(topics.PERCEPTION_STATUS)
        pub = self.publisher(topics.TCP_POSE)
        pose = PoseStamped()
        pose.pose.position.x, pose.pose.position.y = float(ee_xy[0]), float(ee_xy[1])
        self.node.create_timer(0.05, lambda: pub.publish(pose))


def _start(module: str, **params) -> subprocess.Popen:
    """On its own: no lifecycle_manager to configure it, so it starts itself."""
    return subprocess.Popen(
        node_command(module, {"autostart": True, **params}), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _stop(proc: subprocess.Popen) -> str:
    stop_process(proc, 10, signal.SIGTERM)
    return proc.stdout.read() if proc.stdout else ""


def _frame_at(truth, stamp) -> dict:
    t_ms = stamp.sec * 1000.0 + stamp.nanosec / 1e6
    frame = min(truth, key=lambda f: abs(f["timestamp_ms"] - t_ms))
    assert abs(frame["timestamp_ms"] - t_ms) < 1.0, f"stamp {t_ms} ms is no recorded frame"
    return frame


def test_playback_to_state_over_dds_and_stale_camera(recording):
    path, meta = recording
    truth = meta["truth"]
    ee = truth[0]["ee"][:2]
    probe = PerceptionProbe(ee)
    camera = _start("camera_node", playback_file=path, repeat_playback=True, use_frame_timestamp=True)
    estimator = _start("state_estimator_node", task="disturbed_push", model_path=MODEL, detector_threads=1, debug_image_rate=0.0)
    logs = {}
    try:
        assert probe.spin_until(lambda: len(probe.states) >= 15, timeout=60), (
            f"only {len(probe.states)} states: {_stop(camera)} {_stop(estimator)}"
        )
        # every state: ee from the robot topic, objects within tolerance of that frame's truth or NaN
        worst, complete = 0.0, 0
        for _, msg in probe.states:
            frame = _frame_at(truth, msg.header.stamp)
            values = dict(zip(msg.name, msg.position))
            if np.isfinite(values["ee_x"]):  # NaN until the robot's pose has arrived
                assert (values["ee_x"], values["ee_y"]) == pytest.approx(ee, abs=1e-6)
            complete += all(np.isfinite(msg.position))
            for obj in ("puck", "obstacle", "target"):  # NaN = stale: allowed, never a wrong number
                err = np.hypot(values[f"{obj}_x"] - frame["objects"][obj][0], values[f"{obj}_y"] - frame["objects"][obj][1])
                worst = max(worst, err) if np.isfinite(err) else worst
        assert worst < STATE_TOL, f"worst tracked error {worst:.3f} m"
        assert complete >= 10, f"only {complete} of {len(probe.states)} states had every object fresh"
        raw = [mk for arr in probe.markers for mk in arr.markers if mk.action == 0]  # ADD: found
        assert len(raw) >= 3 * 10, f"only {len(raw)} detections"
        errors = [
            np.hypot(mk.pose.position.x - obj[0], mk.pose.position.y - obj[1])
            for mk in raw
            for obj in [_frame_at(truth, mk.header.stamp)["objects"][mk.ns]]
        ]
        assert np.median(errors) <= 0.01 and max(errors) < MARKER_MAX, (np.median(errors), max(errors))
        assert any(level == b"\x00" for level in (m.level for _, m in probe.status)), "status never OK"

        # the camera stops: STALE within two control periods (0.4 s)
        camera.kill()
        t_stop = time.monotonic()
        logs["camera"] = _stop(camera)
        assert probe.spin_until(lambda: probe.status[-1][1].level == b"\x03" and "camera" in probe.status[-1][1].message, timeout=5.0), [
            m.message for _, m in probe.status[-3:]
        ]
        gap = probe.status[-1][0] - t_stop
        assert gap <= 0.4, f"stale reported {gap:.3f} s after the camera stopped"
    finally:
        logs.setdefault("camera", _stop(camera))
        logs["estimator"] = _stop(estimator)
        probe.close()
    assert "Traceback" not in logs["estimator"], logs["estimator"]
    assert "Traceback" not in logs["camera"], logs["camera"]


@pytest.mark.parametrize(
    "param, field",
    [("task:=nope", "task"), ("detector_threads:=99", "detector_threads"), ("camera_position:=[1.0, 2.0]", "camera_position")],
)
def test_bad_parameters_fail_at_start_naming_the_field(param, field):
    task = [] if field == "task" else ["-p", "task:=disturbed_push"]
    out = subprocess.run(
        [sys.executable, "-m", "ftrl_ros.nodes.state_estimator_node", "--ros-args", *task, "-p", param],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"'{field}'" in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_missing_recording_fails_clearly():
    out = subprocess.run(
        node_command("camera_node", {"playback_file": "/nonexistent/x.db3", "autostart": True}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "/nonexistent/x.db3" in out.stderr, out.stderr

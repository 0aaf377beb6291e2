"""state_estimator_node: colour + aligned depth + robot state in, the task's state vector out.

Subscribes (realsense-ros topics, see camera_topics.py; reliable, keep last 5): <camera_prefix>/color/image_raw,
<camera_prefix>/aligned_depth_to_color/image_raw, <camera_prefix>/color/camera_info; and the
robot's TCP: /ftrl/robot/tcp_pose (PoseStamped), /ftrl/robot/tcp_twist (TwistStamped).
Publishes: /ftrl/state (JointState: names = the task's state fields, stamp = the camera frame's),
/ftrl/perception/detections (MarkerArray, base frame), /ftrl/perception/debug_image (rgb8, rate
limited) and /ftrl/perception/status (DiagnosticStatus, latched: OK, or STALE naming what is
stale: the camera, the robot state or an object not seen for a while).
All the work is in ftrl_ros.perception.estimator; this node moves messages in and out.
"""

from __future__ import annotations

import sys
import time
import traceback

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, TwistStamped
from sensor_msgs.msg import CameraInfo, Image
from visualization_msgs.msg import Marker, MarkerArray

from ..control import validate
from ..perception.annotate import annotate
from ..perception.camera_model import CameraPose, Intrinsics
from ..perception.detector import OnnxDetector
from ..perception.estimator import EstimatorConfig, StateEstimator
from ..perception.objects import load_catalogue
from ..utils.paths import package_dir
from .conversions import image_array, image_msg, intrinsics_from_info, since_stamp_ms, state_msg
from . import camera_topics, qos, topics
from .diagnostics import StatusPublisher
from .lifecycle import AUTOSTART, ManagedNode
from .params import Param, base_frame_param, declare, task_param, vector3
from .runner import run_node


PARAMS = [
    task_param("task whose state vector to publish"),
    base_frame_param(),
    Param("camera_prefix", "camera/camera", "realsense-ros topic prefix (relative: in the node's namespace)", read_only=True),
    Param("catalogue_file", "", "object catalogue YAML ('' = config/perception.yaml)", read_only=True),
    Param("model_path", "", "YOLO ONNX model ('' = models/yolo_objects.onnx)", read_only=True),
    Param("use_detector", True, "run YOLO; false = colour filter only", read_only=True),
    Param("detector_threads", 2, "onnxruntime threads", read_only=True, range=(1, 16)),
    Param(
        "detect_rate",
        10.0,
        "run YOLO at most this often, Hz (0 = every frame); in between objects are followed by colour inside their last YOLO box",
        read_only=True,
        range=(0.0, 100.0),
    ),
    Param(
        "camera_position",
        [1.12, 0.0, 0.80],
        "camera optical centre in the robot base frame, m (extrinsic calibration)",
        read_only=True,
        check=vector3,
    ),
    Param("camera_look_at", [0.57, 0.0, 0.0], "a point on the camera's optical axis, base frame, m", read_only=True, check=vector3),
    Param(
        "camera_roll",
        0.0,
        "camera turned about its optical axis, rad (ftrl calibrate-camera measures it)",
        read_only=True,
        range=(-3.15, 3.15),
    ),
    Param("stale_timeout", 0.25, "no camera frame for this long -> STALE, s (above the frame period)", range=(0.02, 5.0)),
    Param("robot_timeout", 0.5, "no robot TCP state for this long -> STALE, s", range=(0.02, 5.0)),
    Param("debug_image_rate", 5.0, "annotated debug image rate, Hz (0 = off)", range=(0.0, 60.0)),
    AUTOSTART,
]


class StateEstimatorNode(ManagedNode):
    def __init__(self):
        super().__init__("state_estimator_node")
        self.p = declare(self, PARAMS)

    def configure_node(self) -> None:
        p = self.p
        catalogue = load_catalogue(p["catalogue_file"] or None)
        detector = None
        if p["use_detector"]:
            detector = OnnxDetector(p["model_path"] or package_dir("models") / "yolo_objects.onnx", threads=p["detector_threads"])
        self.pose = CameraPose(tuple(p["camera_position"]), tuple(p["camera_look_at"]), p["camera_roll"])
        cfg = EstimatorConfig(detect_interval=1.0 / p["detect_rate"] if p["detect_rate"] > 0 else 0.0)
        self.estimator = StateEstimator(p["task"], catalogue, None, self.pose, detector, cfg)
        self.layout = self.estimator.spec.layout
        self.bounds = validate.field_bounds(self.estimator.spec)
        self.intrinsics: Intrinsics | None = None
        self.rgb_msgs: dict[int, Image] = {}
        self.depth_msgs: dict[int, Image] = {}
        self.ee: tuple[float, np.ndarray] | None = None  # (receipt time, xy)
        self.ee_v = np.zeros(2)
        self.last_frame: float | None = None  # receipt time (node clock, s)
        self.last_status: tuple[int, str] | None = None
        self.last_debug = 0.0
        self.frames = 0

        prefix = p["camera_prefix"].rstrip("/")
        self.create_subscription(Image, f"{prefix}/{camera_topics.COLOR}", self._on_rgb, qos.IMAGES)
        self.create_subscription(Image, f"{prefix}/{camera_topics.DEPTH}", self._on_depth, qos.IMAGES)
        self.create_subscription(CameraInfo, f"{prefix}/{camera_topics.COLOR_INFO}", self._on_info, qos.IMAGES)
        topics.subscribe(self, topics.TCP_POSE, self._on_pose)
        topics.subscribe(self, topics.TCP_TWIST, self._on_twist)
        self.pub_state = topics.publisher(self, topics.STATE)
        self.pub_markers = topics.publisher(self, topics.DETECTIONS)
        self.pub_debug = topics.publisher(self, topics.DEBUG_IMAGE)
        self.pub_status = StatusPublisher(self, topics.PERCEPTION_STATUS)  # + /diagnostics
        self.create_timer(0.02, self._watchdog)
        self._status(DiagnosticStatus.STALE, "waiting for the first camera frame")
        self.get_logger().info(
            f"task {p['task']}: estimating {[o.name for o in self.estimator.objects]} "
            f"({'YOLO + colour' if detector else 'colour only'}) from {prefix}"
        )

    # --- inputs ------------------------------------------------------------------------------
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_info(self, msg: CameraInfo) -> None:
        try:
            intr = intrinsics_from_info(msg)
        except ValueError as exc:
            self._status(DiagnosticStatus.ERROR, str(exc))
            return
        if intr != self.intrinsics:
            self.intrinsics = intr
            self.estimator.set_camera(intr, self.pose)

    def _on_pose(self, msg: PoseStamped) -> None:
        """The robot's TCP, if it is where a TCP can be (else it is as if it had not come)."""
        xy = np.array([msg.pose.position.x, msg.pose.position.y])
        (xlo, xhi), (ylo, yhi) = self.bounds["ee_x"], self.bounds["ee_y"]
        if np.all(np.isfinite(xy)) and xlo <= xy[0] <= xhi and ylo <= xy[1] <= yhi:
            self.ee = (self._now(), xy)
        else:
            self.get_logger().error(
                f"{topics.resolved(self, topics.TCP_POSE)} ignored: implausible {xy.tolist()}", throttle_duration_sec=5.0
            )

    def _on_twist(self, msg: TwistStamped) -> None:
        v = np.array([msg.twist.linear.x, msg.twist.linear.y])
        if np.all(np.isfinite(v)) and np.all(np.abs(v) <= self.bounds["ee_vx"][1]):
            self.ee_v = v
        else:
            self.get_logger().error(
                f"{topics.resolved(self, topics.TCP_TWIST)} ignored: implausible {v.tolist()}", throttle_duration_sec=5.0
            )

    def _on_rgb(self, msg: Image) -> None:
        self._pair(self.rgb_msgs, self.depth_msgs, msg, rgb_first=True)

    def _on_depth(self, msg: Image) -> None:
        self._pair(self.depth_msgs, self.rgb_msgs, msg, rgb_first=False)

    def _pair(self, mine: dict, other: dict, msg: Image, rgb_first: bool) -> None:
        """Colour and depth of one frame share a stamp; process when both have arrived. Frames
        stamped in the future are dropped, and at most a few wait for their partner. (Old stamps
        are kept: recordings replay with theirs; the safety filter holds on old states.)"""
        key = rclpy.time.Time.from_msg(msg.header.stamp).nanoseconds
        ahead = (key - self.get_clock().now().nanoseconds) * 1e-9
        if ahead > validate.MAX_FUTURE:
            self.get_logger().error(f"image ignored: stamped {ahead:.2f} s in the future", throttle_duration_sec=5.0)
            return
        while len(mine) >= 8:
            del mine[min(mine)]
        match = other.pop(key, None)
        if match is None:
            mine[key] = msg
            for old in [k for k in mine if k < key - 1_000_000_000]:
                del mine[old]
            return
        for d in (mine, other):
            for old in [k for k in d if k < key]:
                del d[old]
        self._process(msg if rgb_first else match, match if rgb_first else msg)

    # --- the work ------------------------------------------------------------------------------
    def _process(self, rgb_msg: Image, depth_msg: Image) -> None:
        """One frame; an error in it is reported (status ERROR, no state: the filter holds the arm)
        and the next frame is tried, rather than taking the node down."""
        try:
            self._process_frame(rgb_msg, depth_msg)
        except Exception as exc:  # noqa: BLE001 - reported, not hidden
            if not rclpy.ok():  # shutting down: publishing failed because the context is gone
                return
            self.get_logger().error(f"frame failed: {exc!r}\n{traceback.format_exc()}", throttle_duration_sec=5.0)
            self._status(DiagnosticStatus.ERROR, f"perception error: {exc!r}")

    def _process_frame(self, rgb_msg: Image, depth_msg: Image) -> None:
        self.last_frame = self._now()
        if self.intrinsics is None:
            self._status(DiagnosticStatus.STALE, "no CameraInfo yet")
            return
        t0 = time.perf_counter()
        try:
            rgb = image_array(rgb_msg)
            depth = image_array(depth_msg)
        except ValueError as exc:
            self._status(DiagnosticStatus.ERROR, f"bad image: {exc}")
            return
        depth_m = depth.astype(np.float32) * (0.001 if depth.dtype == np.uint16 else 1.0)
        t = rclpy.time.Time.from_msg(rgb_msg.header.stamp).nanoseconds * 1e-9
        estimates = self.estimator.observe(rgb, depth_m, t)
        robot_stale = self.ee is None or self._now() - self.ee[0] > self.p["robot_timeout"]
        ee = self.ee[1] if self.ee is not None else np.full(2, np.nan)
        result = self.estimator.state(t, ee, self.ee_v, robot_stale=robot_stale)
        latency = (time.perf_counter() - t0) * 1000
        self.frames += 1
        self.pub_state.publish(
            state_msg(
                self.layout.names,
                result.state,
                rgb_msg.header.stamp,
                self.p["base_frame"],
                hops={"t.estimated_ms": since_stamp_ms(self, rgb_msg.header.stamp)},
            )
        )
        self._publish_markers(estimates, rgb_msg.header.stamp)
        if result.stale:
            self._status(DiagnosticStatus.STALE, "stale: " + ", ".join(result.stale), latency)
        else:
            sources = ", ".join(f"{k}={e.source}" for k, e in estimates.items())
            self._status(DiagnosticStatus.OK, "ok", latency, sources)
        rate = self.p["debug_image_rate"]
        if rate > 0 and self.last_frame - self.last_debug >= 1.0 / rate:
            self.last_debug = self.last_frame
            img = annotate(rgb, self.estimator.last_detections, estimates, result.stale, latency)
            self.pub_debug.publish(image_msg(img, "rgb8", rgb_msg.header.stamp, rgb_msg.header.frame_id))

    def _publish_markers(self, estimates, stamp) -> None:
        arr = MarkerArray()
        for i, (name, e) in enumerate(estimates.items()):
            m = Marker()
            m.header.stamp, m.header.frame_id = stamp, self.p["base_frame"]
            m.ns, m.id, m.type = name, i, Marker.SPHERE
            m.action = Marker.ADD if e.xyz is not None else Marker.DELETE
            if e.xyz is not None:
                m.pose.position.x, m.pose.position.y, m.pose.position.z = (float(v) for v in e.xyz)
            m.pose.orientation.w = 1.0
            m.scale.x = m.scale.y = m.scale.z = 0.03
            m.color.r, m.color.g, m.color.b, m.color.a = (0.1, 0.9, 0.1, 0.8) if "yolo" in e.source else (1.0, 0.6, 0.0, 0.8)
            m.text = f"{name} {e.source} {e.score:.2f}"
            arr.markers.append(m)
        self.pub_markers.publish(arr)

    def _watchdog(self) -> None:
        """The camera stopping is noticed here, not in a callback that no longer comes."""
        if self.last_frame is not None and self._now() - self.last_frame > self.p["stale_timeout"]:
            self._status(DiagnosticStatus.STALE, f"stale: camera (no frame for {self._now() - self.last_frame:.2f} s)")

    def _status(self, level: int, message: str, latency_ms: float | None = None, sources: str = "") -> None:
        key = (level, message.split(" (")[0])
        if key == self.last_status and latency_ms is None:
            return  # unchanged: do not flood the latched topic from the watchdog
        if key != self.last_status:
            if level == DiagnosticStatus.OK:
                self.get_logger().info(f"perception status: {message}")
            else:
                self.get_logger().warn(f"perception status: {message}")
        self.last_status = key
        msg = DiagnosticStatus(level=level, name="ftrl/perception", message=message, hardware_id=self.p["task"])
        msg.values = [KeyValue(key="frames", value=str(self.frames))]
        if latency_ms is not None:
            msg.values.append(KeyValue(key="latency_ms", value=f"{latency_ms:.2f}"))
        if sources:
            msg.values.append(KeyValue(key="sources", value=sources))
        self.pub_status.publish(msg)


def main(args=None) -> int:
    return run_node(StateEstimatorNode, args)


if __name__ == "__main__":
    sys.exit(main())

"""camera_node: a RealSense D435 (or a recording of one) as realsense-ros publishes it.

Topics (prefix `/camera/camera`, realsense-ros 4.x defaults, names in camera_topics.py; qos.IMAGES):
  color/image_raw (rgb8), color/camera_info,
  aligned_depth_to_color/image_raw (16UC1, mm, 0 = none), aligned_depth_to_color/camera_info.
A capture thread blocks on the camera; publishing happens from it, so the executor stays free.
"""

from __future__ import annotations

import sys
import threading

import rclpy

from ..perception.realsense import RealSenseSource
from .camera_topics import FRAME_ID, CameraPublisher
from .lifecycle import AUTOSTART, ManagedNode
from .params import Param, declare
from .runner import run_node


PARAMS = [
    Param("serial_no", "", "serial number of the camera to open ('' = the first one found)", read_only=True),
    Param("playback_file", "", "play this RealSense recording (.db3/.bag) instead of a live camera", read_only=True),
    Param("repeat_playback", True, "loop the recording", read_only=True),
    Param("realtime_playback", True, "play at the recorded rate (false: as fast as possible)", read_only=True),
    Param("width", 640, "colour and depth width, px", read_only=True, range=(160, 1920)),
    Param("height", 480, "colour and depth height, px", read_only=True, range=(120, 1080)),
    Param("fps", 30, "frames per second (a D435 mode: 6, 15, 30, 60)", read_only=True, range=(1, 90)),
    Param("topic_prefix", "camera/camera", "prefix of the published topics (relative: in the node's namespace)", read_only=True),
    Param("frame_id", FRAME_ID, "frame of the images", read_only=True),
    Param(
        "use_frame_timestamp",
        False,
        "stamp with the frame's own time (device clock, or the recorded "
        "time in playback) instead of the time it arrived; the control graph needs arrival times "
        "(it holds the arm when a state is older than 0.4 s)",
        read_only=True,
    ),
    AUTOSTART,
]


class CameraNode(ManagedNode):
    """configure opens the camera (or recording), activate starts the capture thread, deactivate
    stops it, cleanup closes the device."""

    def __init__(self):
        super().__init__("camera_node")
        self.p = declare(self, PARAMS)
        self.frames = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def configure_node(self) -> None:
        p = self.p
        self.source = RealSenseSource(
            p["serial_no"],
            p["playback_file"],
            p["width"],
            p["height"],
            p["fps"],
            repeat=p["repeat_playback"],
            realtime=p["realtime_playback"],
        )
        self.prefix = p["topic_prefix"].rstrip("/")
        self.camera = CameraPublisher(self, self.prefix)

    def activate_node(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._capture, daemon=True)
        self._thread.start()
        p = self.p
        what = f"recording {p['playback_file']}" if p["playback_file"] else f"camera {p['serial_no'] or '(first found)'}"
        self.get_logger().info(f"streaming {what} at {self.source.intrinsics.width}x{self.source.intrinsics.height} to {self.prefix}/...")

    def hold(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def cleanup_node(self) -> None:
        self.hold()
        if hasattr(self, "source"):
            self.source.close()
            del self.source

    def _capture(self) -> None:
        silent = False
        while not self._stop.is_set() and rclpy.ok():
            frame = self.source.read(timeout_ms=500)
            if frame is None:
                if not silent:
                    self.get_logger().warn("no frames from the camera" + (" (recording ended)" if self.p["playback_file"] else ""))
                silent = True
                continue
            silent = False
            if self.p["use_frame_timestamp"]:
                ns = int(frame.timestamp_ms * 1e6)
                stamp = rclpy.time.Time(nanoseconds=ns).to_msg()
            else:
                stamp = self.get_clock().now().to_msg()
            try:
                self.camera.publish(frame.rgb, frame.depth_mm, self.source.intrinsics, stamp, self.p["frame_id"])
            except Exception:  # context shut down under us
                break
            self.frames += 1

    def destroy_node(self):
        self.cleanup_node()
        return super().destroy_node()


def main(args=None) -> int:
    return run_node(CameraNode, args)


if __name__ == "__main__":
    sys.exit(main())

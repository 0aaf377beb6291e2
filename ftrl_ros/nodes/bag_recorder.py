"""bag_recorder: records chosen topics to a rosbag2 directory (sqlite3 storage, metadata.yaml)
that `ros2 bag info/play` and the rosbags library open, without rosbag2 itself (it has no PyPI
wheel): raw subscriptions hand over the serialized CDR bytes, the pure-Python `rosbags` writer
stores them with their type names and offered QoS.

The bag is written as <name>.partial/ and renamed when closed, so a crash never leaves a
directory that looks complete. Topics that appear later (nodes started after the recorder) are
picked up by a periodic graph scan.
"""
from __future__ import annotations

import importlib
import sys
import time
from datetime import datetime
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from .params import Param, declare
from .runner import run_node

DEFAULT_TOPICS = ["/ftrl/state", "/ftrl/proposal", "/ftrl/decision", "/ftrl/cmd_vel", "/ftrl/episode/event",
                  "/ftrl/episode/summary", "/ftrl/policy_version", "/ftrl/robot/tcp_pose",
                  "/ftrl/perception/detections", "/ftrl/sim/ground_truth"]

PARAMS = [
    Param("topics", DEFAULT_TOPICS, "topics to record (images too if listed: ~1 MB per frame)", read_only=True),
    Param("run_dir", "runs/ros", "bags go to <run_dir>/bags/", read_only=True),
    Param("bag_name", "", "bag directory name ('' = the start time)", read_only=True),
]


def _msg_class(type_name: str):
    pkg, _, name = type_name.split("/")
    return getattr(importlib.import_module(f"{pkg}.msg"), name)


class BagRecorder(Node):
    def __init__(self):
        super().__init__("bag_recorder")
        p = declare(self, PARAMS)
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        self.typestore = get_typestore(Stores.ROS2_JAZZY)
        name = p["bag_name"] or datetime.now().strftime("%Y%m%d_%H%M%S")
        folder = Path(p["run_dir"]) / "bags"
        folder.mkdir(parents=True, exist_ok=True)
        self.final = folder / name
        self.partial = folder / f"{name}.partial"
        if self.final.exists() or self.partial.exists():
            raise ValueError(f"parameter 'bag_name': {self.final} exists already")
        self.writer = Writer(self.partial, version=8, storage_plugin=StoragePlugin.SQLITE3)
        self.writer.open()
        self.wanted = list(p["topics"])
        self.connections: dict[str, object] = {}
        self.counts: dict[str, int] = {}
        self._subs = []
        self.create_timer(0.5, self._scan)
        self._scan()
        self.get_logger().info(f"recording {len(self.wanted)} topics to {self.final}")

    def _scan(self) -> None:
        types = dict(self.get_topic_names_and_types())
        for topic in self.wanted:
            if topic in self.connections or topic not in types:
                continue
            type_name = types[topic][0]  # e.g. sensor_msgs/msg/Image
            pubs = self.get_publishers_info_by_topic(topic)
            if not pubs:
                continue
            offered = pubs[0].qos_profile
            qos = QoSProfile(depth=100, reliability=offered.reliability,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL
                             if offered.durability == DurabilityPolicy.TRANSIENT_LOCAL else DurabilityPolicy.VOLATILE)
            self.connections[topic] = self.writer.add_connection(topic, type_name, typestore=self.typestore)
            self.counts[topic] = 0
            self._subs.append(self.create_subscription(_msg_class(type_name), topic,
                                                       lambda data, t=topic: self._write(t, data), qos, raw=True))
            self.get_logger().info(f"recording {topic} ({type_name}, "
                                   f"{'reliable' if offered.reliability == ReliabilityPolicy.RELIABLE else 'best effort'})")

    def _write(self, topic: str, data: bytes) -> None:
        self.writer.write(self.connections[topic], time.time_ns(), data)
        self.counts[topic] += 1

    def destroy_node(self):
        try:
            self.writer.close()
            self.partial.rename(self.final)
            print(f"[bag_recorder] wrote {self.final}: " + ", ".join(f"{t} {n}" for t, n in self.counts.items()),
                  file=sys.stderr)
        except Exception as exc:
            print(f"[bag_recorder] could not close the bag: {exc}", file=sys.stderr)
        return super().destroy_node()


def main(args=None) -> int:
    return run_node(BagRecorder, args)


if __name__ == "__main__":
    sys.exit(main())

"""bag_recorder: records chosen topics to a rosbag2 directory that `ros2 bag info/play` and the
rosbags library open, without rosbag2 itself (it has no PyPI wheel): raw subscriptions hand over
the serialized CDR bytes.

Storage ``mcap`` (default, as rosbag2 since Jazzy) goes through ``utils.mcap_bag``: the bag is
valid after every flush (``flush_period``), so kill -9 loses at most that much. ``sqlite3`` uses
the rosbags writer, which commits only at close (a killed recorder leaves nothing readable).
Each topic's offered QoS is recorded, so latched topics replay latched; metadata names the real
ROS distro. The bag is written as <name>.partial/ and renamed when closed; a respawned recorder
starts a new bag and leaves a killed one's .partial folder as it is (readable, MCAP).
Topics that appear later are picked up by a periodic graph scan.
"""

from __future__ import annotations

from typing import Any

from functools import partial

import importlib
import sys
import time
from datetime import datetime
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from . import topics
from .params import Param, declare
from .runner import run_node

DEFAULT_TOPICS = [t.name for t in topics.RECORDED]  # relative: resolved in the node's namespace

PARAMS = [
    Param("topics", DEFAULT_TOPICS, "topics to record (images too if listed: ~1 MB per frame)", read_only=True),
    Param("run_dir", "runs/ros", "bags go to <run_dir>/bags/", read_only=True),
    Param("bag_name", "", "bag directory name ('' = the start time)", read_only=True),
    Param(
        "storage",
        "mcap",
        "mcap (crash-safe) or sqlite3",
        read_only=True,
        check=lambda v: None if v in ("mcap", "sqlite3") else "mcap or sqlite3",
    ),
    Param(
        "flush_period", 0.25, "mcap: longest time a message waits in memory, s (what kill -9 can lose)", read_only=True, range=(0.01, 10.0)
    ),
]


def offered_qos(profile) -> list:
    """An rclpy QoSProfile as the rosbags Qos that metadata.yaml stores."""
    from rosbags.rosbag2.metadata import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    def t(d) -> QosTime:
        ns = int(d.nanoseconds)
        return QosTime(ns // 10**9, ns % 10**9)

    return [
        Qos(
            QosHistory(int(profile.history)),
            int(profile.depth),
            QosReliability(int(profile.reliability)),
            QosDurability(int(profile.durability)),
            t(profile.deadline),
            t(profile.lifespan),
            QosLiveliness(int(profile.liveliness)),
            t(profile.liveliness_lease_duration),
            bool(profile.avoid_ros_namespace_conventions),
        )
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

        from ..utils.mcap_bag import CrashSafeBag
        from ..utils.ros_distro import ros_distro

        self.typestore = get_typestore(Stores.ROS2_JAZZY)
        name = p["bag_name"] or datetime.now().strftime("%Y%m%d_%H%M%S")
        folder = Path(p["run_dir"]) / "bags"
        folder.mkdir(parents=True, exist_ok=True)
        self.final, self.partial = folder / name, folder / f"{name}.partial"
        k = 0
        while self.final.exists() or self.partial.exists():  # e.g. respawned after a crash: a new bag
            k += 1
            self.final, self.partial = folder / f"{name}_{k}", folder / f"{name}_{k}.partial"
        self.mcap = p["storage"] == "mcap"
        if self.mcap:
            self.writer: Any = CrashSafeBag(self.partial, self.typestore, ros_distro(), p["flush_period"])
            self.create_timer(p["flush_period"], self._flush)
        else:
            self.writer = Writer(self.partial, version=8, storage_plugin=StoragePlugin.SQLITE3)
            self.writer.open()
        self.wanted = [self.resolve_topic_name(t) for t in p["topics"]]
        self.connections: dict[str, object] = {}
        self.counts: dict[str, int] = {}
        self._subs = []
        self.create_timer(0.5, self._scan)
        self._scan()
        self.get_logger().info(f"recording {len(self.wanted)} topics to {self.final} ({p['storage']})")

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
            qos = QoSProfile(
                depth=100,
                reliability=offered.reliability,
                durability=DurabilityPolicy.TRANSIENT_LOCAL
                if offered.durability == DurabilityPolicy.TRANSIENT_LOCAL
                else DurabilityPolicy.VOLATILE,
            )
            qos_list = offered_qos(offered)
            if self.mcap:
                self.connections[topic] = self.writer.add_topic(topic, type_name, qos_list)
            else:
                self.connections[topic] = self.writer.add_connection(
                    topic, type_name, typestore=self.typestore, offered_qos_profiles=qos_list
                )
            self.counts[topic] = 0
            self._subs.append(self.create_subscription(_msg_class(type_name), topic, partial(self._write, topic), qos, raw=True))
            self.get_logger().info(
                f"recording {topic} ({type_name}, {'reliable' if offered.reliability == ReliabilityPolicy.RELIABLE else 'best effort'})"
            )

    def _flush(self) -> None:
        if self.writer.pending_bytes:
            self.writer.flush()

    def _write(self, topic: str, data: bytes) -> None:
        self.writer.write(self.connections[topic], time.time_ns(), data)
        self.counts[topic] += 1

    def destroy_node(self):
        try:
            self.writer.close()
            self.partial.rename(self.final)
            print(f"[bag_recorder] wrote {self.final}: " + ", ".join(f"{t} {n}" for t, n in self.counts.items()), file=sys.stderr)
        except Exception as exc:
            print(f"[bag_recorder] could not close the bag: {exc}", file=sys.stderr)
        return super().destroy_node()


def main(args=None) -> int:
    return run_node(BagRecorder, args)


if __name__ == "__main__":
    sys.exit(main())

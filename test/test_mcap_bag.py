"""The crash-safe MCAP bag (utils/mcap_bag.py): a writer killed with SIGKILL leaves a bag that the
rosbags reader opens, holding every message older than one flush period, with each topic's
offered QoS (latched stays latched) and the real ROS distro in metadata.yaml."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import yaml
from rosbags.rosbag2 import Reader
from rosbags.rosbag2.metadata import QosDurability

WRITER = r"""
import sys, time
from rosbags.typesys import Stores, get_typestore
from rosbags.rosbag2.metadata import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from ftrl_ros.utils.mcap_bag import CrashSafeBag
from ftrl_ros.utils.ros_distro import ros_distro
ts = get_typestore(Stores.ROS2_JAZZY)
String = ts.types["std_msgs/msg/String"]
zero = QosTime(0, 0)
latched = Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL, zero, zero,
              QosLiveliness.AUTOMATIC, zero, False)
bag = CrashSafeBag(sys.argv[1], ts, ros_distro(), flush_period=0.25)
stream = bag.add_topic("/stream", "std_msgs/msg/String", [])
status = bag.add_topic("/status", "std_msgs/msg/String", [latched])
bag.write(status, time.time_ns(), ts.serialize_cdr(String(data="latched"), "std_msgs/msg/String"))
i = 0
while True:
    bag.write(stream, time.time_ns(), ts.serialize_cdr(String(data=str(i)), "std_msgs/msg/String"))
    print(i, flush=True)
    i += 1
    time.sleep(0.05)
"""


def test_sigkill_leaves_a_readable_bag(tmp_path):
    bag = tmp_path / "bag"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(bag)], stdout=subprocess.PIPE, text=True)
    time.sleep(7.0)
    proc.send_signal(signal.SIGKILL)
    sent = len(proc.stdout.read().split())
    proc.wait()
    assert sent > 80
    with Reader(bag) as reader:
        conns = {c.topic: c for c in reader.connections}
        got = [c.topic for c, _, _ in reader.messages()]
    stream = got.count("/stream")
    assert got.count("/status") == 1
    assert stream >= 0.95 * sent, (stream, sent)
    assert stream >= sent - 0.25 / 0.05 - 3  # at most one flush period (plus scheduling) lost
    assert conns["/status"].ext.offered_qos_profiles[0].durability == QosDurability.TRANSIENT_LOCAL
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["storage_identifier"] == "mcap" and meta["ros_distro"] in ("jazzy", "kilted", "humble")
    assert meta["ros_distro"] != "rosbags"

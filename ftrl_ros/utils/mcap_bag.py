"""A rosbag2 bag (metadata.yaml + one MCAP file) that is complete and readable after every flush,
so a recorder killed with SIGKILL loses at most one flush period of messages.

rosbag2's own MCAP writer (and the ``rosbags`` one) keep messages in an in-memory chunk and write
the summary and footer at close: a killed recorder leaves a file no reader opens. Here the file
is *unchunked* MCAP (Header, Schema, Channel and Message records, then DataEnd + Footer without a
summary; readers scan it, as rosbag2's MCAP plugin and ``rosbags`` both do). Every flush writes
the new records *and* a fresh DataEnd/Footer in one ``write`` at the end of the data section,
overwriting the previous footer, then rewrites metadata.yaml atomically. Each topic's offered
QoS is stored (in the channel and in metadata.yaml), so latched topics replay latched.

Plain Python: the ``bag_recorder`` node feeds it serialized CDR bytes.
"""

from __future__ import annotations

from typing import BinaryIO

import os
import struct
import time
from pathlib import Path

from rosbags.rosbag2.metadata import Qos, dump_qos_v8
from ruamel.yaml import YAML

MAGIC = b"\x89MCAP0\r\n"


def _string(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<I", len(b)) + b


def _record(op: int, body: bytes) -> bytes:
    return struct.pack("<BQ", op, len(body)) + body


_TAIL = _record(0x0F, struct.pack("<I", 0)) + _record(0x02, struct.pack("<QQI", 0, 0, 0)) + MAGIC
"""DataEnd (no CRC) + Footer (no summary) + magic: what makes the file end like a closed MCAP."""


class CrashSafeBag:
    def __init__(self, folder: str | Path, typestore, ros_distro: str, flush_period: float = 0.5):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=False)
        self.typestore, self.ros_distro, self.flush_period = typestore, ros_distro, flush_period
        self.file_name = f"{self.folder.name}_0.mcap"
        self._fh: BinaryIO | None = open(self.folder / self.file_name, "wb")
        head = MAGIC + _record(0x01, _string("ros2") + _string("ftrl_ros crash-safe writer"))
        self._fh.write(head)
        self.data_end = len(head)
        self._pending = bytearray()
        self._last_flush = time.monotonic()
        self.topics: list[dict] = []  # id-1 -> {name, type, qos, count}
        self._schemas: dict[str, int] = {}
        self.first_ns: int | None = None
        self.last_ns: int | None = None
        self.flush()

    def add_topic(self, topic: str, msgtype: str, offered_qos: list[Qos]) -> int:
        """Register a topic; returns its channel id for ``write``."""
        if msgtype not in self._schemas:
            text, _ = self.typestore.generate_msgdef(msgtype, ros_version=2)
            self._schemas[msgtype] = len(self._schemas) + 1
            self._pending += _record(
                0x03,
                struct.pack("<H", self._schemas[msgtype])
                + _string(msgtype)
                + _string("ros2msg")
                + struct.pack("<I", len(text.encode()))
                + text.encode(),
            )
        cid = len(self.topics) + 1
        qos_text = dump_qos_v8(offered_qos)
        meta = _string("offered_qos_profiles") + _string(qos_text)
        self._pending += _record(
            0x04, struct.pack("<HH", cid, self._schemas[msgtype]) + _string(topic) + _string("cdr") + struct.pack("<I", len(meta)) + meta
        )
        self.topics.append({"name": topic, "type": msgtype, "qos": qos_text, "count": 0})
        self.flush()
        return cid

    def write(self, cid: int, timestamp_ns: int, data: bytes) -> None:
        topic = self.topics[cid - 1]
        self._pending += _record(0x05, struct.pack("<HIQQ", cid, topic["count"], timestamp_ns, timestamp_ns) + bytes(data))
        topic["count"] += 1
        self.first_ns = timestamp_ns if self.first_ns is None else min(self.first_ns, timestamp_ns)
        self.last_ns = timestamp_ns if self.last_ns is None else max(self.last_ns, timestamp_ns)
        if time.monotonic() - self._last_flush >= self.flush_period:
            self.flush()

    def flush(self, sync: bool = False) -> None:
        """New records + footer in one write over the old footer, then metadata.yaml."""
        self._last_flush = time.monotonic()
        if self._fh is None:
            raise ValueError(f"{self.folder}: flush after close")
        self._fh.seek(self.data_end)
        self._fh.write(bytes(self._pending) + _TAIL)
        self._fh.flush()
        if sync:
            os.fsync(self._fh.fileno())
        self.data_end += len(self._pending)
        self._pending = bytearray()
        self._write_metadata()

    def close(self) -> None:
        if self._fh is not None:
            self.flush(sync=True)
            self._fh.close()
            self._fh = None

    @property
    def pending_bytes(self) -> int:
        return len(self._pending)

    @property
    def counts(self) -> dict[str, int]:
        return {t["name"]: t["count"] for t in self.topics}

    def _write_metadata(self) -> None:
        start = self.first_ns or 0
        duration = (self.last_ns - self.first_ns) if self.first_ns is not None and self.last_ns is not None else 0
        count = sum(t["count"] for t in self.topics)
        info = {
            "version": 8,
            "storage_identifier": "mcap",
            "relative_file_paths": [self.file_name],
            "duration": {"nanoseconds": duration},
            "starting_time": {"nanoseconds_since_epoch": start},
            "message_count": count,
            "topics_with_message_count": [
                {
                    "topic_metadata": {
                        "name": t["name"],
                        "type": t["type"],
                        "serialization_format": "cdr",
                        "offered_qos_profiles": t["qos"],
                        "type_description_hash": "",
                    },
                    "message_count": t["count"],
                }
                for t in self.topics
            ],
            "compression_format": "",
            "compression_mode": "",
            "files": [
                {
                    "path": self.file_name,
                    "starting_time": {"nanoseconds_since_epoch": start},
                    "duration": {"nanoseconds": duration},
                    "message_count": count,
                }
            ],
            "custom_data": None,
            "ros_distro": self.ros_distro,
        }
        yaml = YAML(typ="safe")
        yaml.default_flow_style = False
        tmp = self.folder / "metadata.yaml.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            yaml.dump({"rosbag2_bagfile_information": info}, fh)
        os.replace(tmp, self.folder / "metadata.yaml")

"""Following the learner's policy versions: both policy_server and safety_filter (whose C_H
rollouts use the current task policy) load each newer version from /ftrl/policy_version in a
background thread and take the weights between two ticks, so no tick waits for a file."""
from __future__ import annotations

import json
import threading
import time

from rclpy.node import Node
from std_msgs.msg import String

from ..learning.bundle import load_bundle
from . import qos


class PolicyUpdates:
    def __init__(self, node: Node, version: int):
        self.node, self.version = node, version
        self._pending: tuple[dict, int] | None = None
        self._lock = threading.Lock()
        node.create_subscription(String, "/ftrl/policy_version", self._on_version, qos.LATCHED)

    def _on_version(self, msg: String) -> None:
        log = self.node.get_logger()
        try:
            info = json.loads(msg.data)
            version, path = int(info["version"]), str(info["path"])
        except (ValueError, KeyError, TypeError) as exc:
            log.error(f"bad policy version message {msg.data!r}: {exc}")
            return
        if version <= self.version:
            return

        def load():
            t0 = time.perf_counter()
            try:
                weights = load_bundle(path).task_policy.state_dict()
            except Exception as exc:  # a bad checkpoint must not stop control
                log.error(f"cannot load policy version {version} from {path}: {exc}")
                return
            with self._lock:
                if self._pending is None or self._pending[1] < version:
                    self._pending = (weights, version)
            log.info(f"policy version {version} loaded in {(time.perf_counter() - t0) * 1000:.0f} ms")

        threading.Thread(target=load, daemon=True).start()

    def take(self) -> dict | None:
        """The newest loaded weights not taken yet (and make their version current), or None."""
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is None or pending[1] <= self.version:
            return None
        self.version = pending[1]
        return pending[0]

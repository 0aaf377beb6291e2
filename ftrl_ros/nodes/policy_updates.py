"""Following the learner's policy versions: both policy_server and safety_filter (whose C_H
rollouts use the current task policy) load each newer version from /ftrl/policy_version in a
background thread and take the weights between two ticks, so no tick waits for a file.

Any process can publish on that topic, so an update is used only if the message parses
(``validate.policy_version``), the file lies in this run's checkpoint folder or in ``models/``,
loads as weights only (no pickled code), and is a bundle for this task with this state layout.
Anything else is logged and ignored; the current policy stays.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from rclpy.node import Node
from std_msgs.msg import String

from ..control import validate
from ..learning.bundle import load_task_bundle
from ..utils.paths import package_dir
from . import topics


def allowed_checkpoint(path: str, folders: list[Path]) -> Path:
    """``path`` resolved, if it is a file inside one of ``folders``; InputError otherwise."""
    p = Path(path).resolve()
    if not any(p.is_relative_to(f.resolve()) for f in folders):
        raise validate.InputError(f"{path} is outside the checkpoint folders {[str(f) for f in folders]}")
    if p.suffix != ".pt" or not p.is_file():
        raise validate.InputError(f"{path} is not a .pt file")
    return p


class PolicyUpdates:
    def __init__(self, node: Node, task: str, layout: list[str], version: int, run_dir: str):
        self.node, self.task, self.layout, self.version = node, task, list(layout), version
        self.folders = [Path(run_dir) / "checkpoints", package_dir("models")]
        self._pending: tuple[dict, int] | None = None
        self._lock = threading.Lock()
        topics.subscribe(node, topics.POLICY_VERSION, self._on_version)

    def _on_version(self, msg: String) -> None:
        log = self.node.get_logger()
        try:
            version, path = validate.policy_version(msg.data)
            if version <= self.version:
                return
            checkpoint = allowed_checkpoint(path, self.folders)
        except validate.InputError as exc:
            log.error(f"policy version message ignored: {exc}", throttle_duration_sec=2.0)
            return

        def load():
            t0 = time.perf_counter()
            try:
                bundle = load_task_bundle(self.task, checkpoint)
                if list(bundle.layout) != self.layout:
                    raise ValueError(f"state layout {bundle.layout} differs from {self.layout}")
                weights = bundle.task_policy.state_dict()
            except Exception as exc:  # a bad checkpoint must not stop control
                log.error(f"policy version {version} from {checkpoint} rejected: {exc}")
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

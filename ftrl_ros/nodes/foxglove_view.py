"""foxglove_view: the running stack, live in Foxglove (the app or the web app: "Open connection" ->
``ws://127.0.0.1:8765``; ``config/foxglove_layout.json`` opens a ready dashboard).

Serves Foxglove's WebSocket protocol with the ``foxglove-sdk`` server: the camera image, a 3D scene
(table, hand, objects, target, hazard coloured by the current risk), each decision (risk C_H,
eps_safe, who acted) and the episode events -- what ``interop/foxglove_view.py`` builds. Read-only:
it offers no services, parameters or publishing to clients, so nobody can move the arm through it.
Binds 127.0.0.1 by default; another address needs ``allow_remote:=true`` (it has no
authentication). Every input is validated here: a malformed message is dropped and logged.
"""

from __future__ import annotations

import json
import sys
import time

import foxglove
from foxglove.channels import LogChannel, RawImageChannel, SceneUpdateChannel
from rclpy.node import Node
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String

from ..control import validate
from ..interop import foxglove_view as view
from ..tasks import get_task
from . import qos, topics
from .camera_topics import COLOR
from .conversions import decision_in, image_array
from .params import Param, declare, is_loopback, port_param, task_param
from .runner import run_node

PARAMS = [
    task_param("task (its state layout and workspace)"),
    Param("host", "127.0.0.1", "address the Foxglove server binds (not loopback: needs allow_remote)", read_only=True),
    port_param(8765, "the Foxglove WebSocket"),
    Param("allow_remote", False, "serve on a non-loopback host (the view has no authentication)", read_only=True),
    Param("camera", topics.CAMERA_PREFIX, "camera namespace whose color/image_raw is shown", read_only=True),
    Param("image_rate", 5.0, "most camera frames per second sent to Foxglove, Hz", read_only=True, range=(0.0, 30.0)),
]


class FoxgloveView(Node):
    def __init__(self):
        super().__init__("foxglove_view")
        p = self.p = declare(self, PARAMS)
        if not is_loopback(p["host"]) and not p["allow_remote"]:
            raise ValueError(f"parameter 'host': {p['host']!r} is not loopback; set allow_remote:=true to serve the view there")
        spec = get_task(p["task"])
        self.spec, self.names = spec, list(spec.layout.names)
        self.workspace = (spec.workspace.x, spec.workspace.y)
        self.server = foxglove.start_server(name=f"ftrl_ros {p['task']}", host=p["host"], port=p["port"], capabilities=[])
        self.image_ch = RawImageChannel(view.IMAGE)
        self.scene_ch = SceneUpdateChannel(view.SCENE)
        self.decision_ch = foxglove.Channel(view.DECISION, schema=view.DECISION_SCHEMA, message_encoding="json")
        self.events_ch = LogChannel(view.EVENTS)
        self.last_image = 0.0
        topics.subscribe(self, topics.DECISION, self._on_decision)
        topics.subscribe(self, topics.EPISODE_EVENT, self._on_event)
        # raw: a frame nobody watches (no Foxglove client, or above image_rate) is dropped as bytes,
        # never deserialised -- ~1 MB per frame is CPU the sim and the filter need on a small machine
        self.create_subscription(Image, f"{p['camera'].rstrip('/')}/{COLOR}", self._on_image, qos.IMAGES, raw=True)
        self.get_logger().info(f"Foxglove view on ws://{p['host']}:{self.server.port} (open it in Foxglove: Open connection)")

    def _on_decision(self, msg: JointState) -> None:
        got = decision_in(self, msg, self.names)
        if got is None:
            return
        stamp, fields, state = got
        record = view.decision_record(fields)
        self.decision_ch.log(record, log_time=stamp)
        problem = validate.state_problem(self.spec, state)
        if problem:  # a hold tick on missing / implausible inputs: nothing to draw
            return
        risk, eps = fields["risk"], fields["eps_safe"]
        self.scene_ch.log(view.scene_update(self.names, self.workspace, state, risk, eps, stamp), log_time=stamp)

    def _on_event(self, msg: String) -> None:
        try:
            event = json.loads(msg.data)
        except ValueError:
            self.get_logger().error("episode event ignored: not JSON", throttle_duration_sec=5.0)
            return
        if not isinstance(event, dict):
            return
        now = self.get_clock().now().nanoseconds
        self.events_ch.log(view.event_log(event, now), log_time=now)

    def _on_image(self, data: bytes) -> None:
        rate = self.p["image_rate"]
        now = time.monotonic()
        if rate <= 0 or now - self.last_image < 0.9 / rate:  # 10 % slack: a camera at the same rate keeps every frame
            return
        if not self.image_ch.has_sinks():  # no client subscribed to the image
            return
        try:
            msg = deserialize_message(data, Image)
            rgb = image_array(msg)
        except (ValueError, RuntimeError) as exc:  # RuntimeError: bytes that are not a CDR Image
            self.get_logger().error(f"camera image ignored: {exc}", throttle_duration_sec=5.0)
            return
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] > 2160 or rgb.shape[1] > 3840:
            return
        self.last_image = now
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        self.image_ch.log(view.image_message(rgb, stamp, msg.header.frame_id[:200]), log_time=stamp)

    def destroy_node(self):
        self.server.stop()
        super().destroy_node()


def main(args=None) -> int:
    return run_node(FoxgloveView, args)


if __name__ == "__main__":
    sys.exit(main())

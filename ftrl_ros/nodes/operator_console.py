"""operator_console: the operator's seat in a browser (aiohttp: HTTP + WebSocket, one page).

Shows the perception debug image (JPEG over the socket), the current decision (task / recovery /
operator / hold and why), the risk C_H against eps_safe as a scrolling plot, the episode, the
run's per-episode curves and the policy version; its buttons call the stack's own services
(/ftrl/estop, /ftrl/intervene, /ftrl/reset) and the e-stop state shown is the topic's. With
teleop enabled, "take over" hands the arm to the operator's keys or gamepad
(/ftrl/teleop/active, /ftrl/teleop/cmd_vel): the only way the page can move the arm. The record
mode tags the next episodes as task / recovery / failure demos.

Binds 127.0.0.1:8080 by default; any other address needs ``token`` (then every request carries
``?token=...``), and the node refuses to start without one. A request from another site's page
(an ``Origin`` header that is not this console's) is refused: a browser lets any page open a
socket to localhost. Everything a browser sends goes through ``console.state.parse_command``; a
closed socket hands the arm back. ``POST /api/<estop|release|intervene|reset>`` (header
``X-FTRL-Operator: 1``) is what ``ftrl estop`` uses: its service clients are already connected,
so the command takes effect in milliseconds instead of the seconds a fresh DDS client needs.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import TwistStamped
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, String
from std_srvs.srv import SetBool, Trigger

from ..console.state import CommandError, ConsoleState, parse_command
from ..control import validate
from ..control.fields import DECISION_FIELDS
from ..tasks import get_task
from . import topics
from .conversions import image_array
from .params import Param, base_frame_param, declare, is_loopback, port_param, task_param
from .runner import run_node

PAGE = Path(__file__).resolve().parents[1] / "console" / "page.html"


PARAMS = [
    task_param("task (the teleop speed limit)"),
    base_frame_param(),
    Param("host", "127.0.0.1", "address the console binds; anything but loopback needs a token", read_only=True),
    port_param(8080, "the console"),
    Param("token", "", "shared secret the browser must send (?token=...); required off loopback", read_only=True),
    Param("frame_rate", 8.0, "most camera frames per second sent to each browser, Hz", range=(1.0, 30.0)),
    Param("state_rate", 10.0, "dashboard updates per second, Hz", read_only=True, range=(1.0, 30.0)),
    Param("jpeg_quality", 75, "JPEG quality of the camera frames (0-100)", range=(10, 100)),
]


class OperatorConsole(Node):
    def __init__(self):
        super().__init__("operator_console")
        p = declare(self, PARAMS)
        self.p = p
        if not is_loopback(p["host"]) and not p["token"]:
            raise ValueError(
                f"parameter 'token': required when host is {p['host']!r} (not loopback): anyone on "
                "that network could otherwise press the buttons"
            )
        self.spec = get_task(p["task"])
        self.names = list(self.spec.layout.names)
        self.state = ConsoleState()
        self.lock = threading.Lock()
        self.jpeg: bytes | None = None
        self.jpeg_id = 0
        group = ReentrantCallbackGroup()
        topics.subscribe(self, topics.DECISION, self._on_decision)
        topics.subscribe(self, topics.EPISODE_EVENT, self._on_event)
        topics.subscribe(self, topics.EPISODE_SUMMARY, self._on_summary)
        topics.subscribe(self, topics.POLICY_VERSION, self._on_policy)
        topics.subscribe(self, topics.ESTOP_ENGAGED, self._on_estop)
        topics.subscribe(self, topics.SAFETY_STATUS, self._on_safety)
        topics.subscribe(self, topics.ARM_STATUS, self._on_arm)
        topics.subscribe(self, topics.DEBUG_IMAGE, self._on_image)
        self.pub_teleop = topics.publisher(self, topics.TELEOP_CMD)
        self.pub_takeover = topics.publisher(self, topics.TELEOP_ACTIVE)
        self.pub_record = topics.publisher(self, topics.RECORD_MODE)
        self.clients_ = {
            "estop": topics.client(self, topics.ESTOP, callback_group=group),
            "intervene": topics.client(self, topics.INTERVENE, callback_group=group),
            "reset": topics.client(self, topics.RESET, callback_group=group),
        }
        self.pub_takeover.publish(Bool(data=False))  # a restarted console never leaves the arm taken over
        self.pub_record.publish(String(data="off"))
        self.loop = asyncio.new_event_loop()
        self.port = p["port"]
        self.server_error: str | None = None
        started = threading.Event()
        threading.Thread(target=self._serve, args=(started,), name="console-http", daemon=True).start()
        started.wait(10.0)
        if self.server_error:
            raise ValueError(f"parameter 'port': cannot serve on {p['host']}:{p['port']}: {self.server_error}")
        self.get_logger().info(f"operator console on http://{p['host']}:{self.port}/" + ("?token=<token>" if p["token"] else ""))

    # --- ROS side ----------------------------------------------------------------------------
    def _on_decision(self, msg: JointState) -> None:
        try:
            values = validate.named_vector(msg.name, msg.position, list(DECISION_FIELDS))
        except validate.InputError:
            return  # not a decision (garbage on the topic): nothing to show
        with self.lock:
            self.state.on_decision(dict(zip(DECISION_FIELDS, values.tolist())))

    def _json(self, msg: String) -> dict | None:
        try:
            data = json.loads(msg.data)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _on_event(self, msg: String) -> None:
        if (data := self._json(msg)) is not None:
            with self.lock:
                self.state.on_event(data)

    def _on_summary(self, msg: String) -> None:
        if (data := self._json(msg)) is not None:
            with self.lock:
                self.state.on_summary(data)

    def _on_policy(self, msg: String) -> None:
        if (data := self._json(msg)) is not None:
            with self.lock:
                self.state.on_policy(data)

    def _on_estop(self, msg: Bool) -> None:
        with self.lock:
            self.state.estop = bool(msg.data)

    def _on_safety(self, msg: DiagnosticStatus) -> None:
        with self.lock:
            self.state.on_safety_status(str(msg.message)[:300])

    def _on_arm(self, msg: DiagnosticStatus) -> None:
        with self.lock:
            self.state.arm = str(msg.message)[:200]

    def _on_image(self, msg: Image) -> None:
        try:
            rgb = image_array(msg)
            if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] > 2160 or rgb.shape[1] > 3840:
                return
            ok, buf = cv2.imencode(
                ".jpg", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(self.p["jpeg_quality"])]
            )
        except (ValueError, cv2.error):
            return
        if ok:
            with self.lock:
                self.jpeg, self.jpeg_id = buf.tobytes(), self.jpeg_id + 1
                self.state.last_frame = time.monotonic()

    def take_over(self, on: bool) -> None:
        with self.lock:
            on = bool(on and self.state.teleop_enabled)
            self.state.takeover = on
        self.pub_takeover.publish(Bool(data=on))

    def teleop(self, vx: float, vy: float) -> None:
        with self.lock:
            allowed = self.state.teleop_enabled and self.state.takeover
        if not allowed:
            return
        msg = TwistStamped()
        msg.header.stamp, msg.header.frame_id = self.get_clock().now().to_msg(), self.p["base_frame"]
        msg.twist.linear.x, msg.twist.linear.y = self.spec.action_to_velocity(np.array([vx, vy])).tolist()
        self.pub_teleop.publish(msg)

    async def call(self, action: str) -> tuple[bool, str]:
        kind = {"estop": "estop", "release": "estop"}.get(action, action)
        client = self.clients_[kind]
        if not client.service_is_ready():
            return False, f"{client.srv_name} not available (is the stack running?)"
        if kind == "estop":
            request = SetBool.Request(data=action == "estop")
        else:
            request = Trigger.Request()
        future = client.call_async(request)
        end = time.monotonic() + 5.0
        while not future.done() and time.monotonic() < end:
            await asyncio.sleep(0.002)
        if not future.done():
            return False, f"{client.srv_name} did not answer"
        res = future.result()
        return bool(res.success), str(res.message)

    # --- web side (its own thread and event loop) ------------------------------------------
    def _authorised(self, request) -> bool:
        """The token (if one is set) and, from browsers, this console's own origin only."""
        token = self.p["token"]
        if token and not hmac.compare_digest(request.query.get("token", ""), token):
            return False
        origin = request.headers.get("Origin")
        return origin is None or origin in (f"http://{request.host}", f"https://{request.host}")

    def _serve(self, started: threading.Event) -> None:
        from aiohttp import web

        asyncio.set_event_loop(self.loop)
        page = PAGE.read_text()

        async def index(request):
            if not self._authorised(request):
                return web.Response(status=403, text="token required")
            return web.Response(
                text=page,
                content_type="text/html",
                headers={
                    "Cache-Control": "no-store",
                    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob:; style-src 'unsafe-inline'; "
                    "script-src 'unsafe-inline'; connect-src 'self'",
                },
            )

        async def socket(request):
            if not self._authorised(request):
                return web.Response(status=403, text="token required")
            ws = web.WebSocketResponse(heartbeat=5.0, max_msg_size=4096)
            await ws.prepare(request)
            sender = asyncio.ensure_future(self._push(ws))
            took_over = False
            try:
                async for message in ws:
                    if message.type != web.WSMsgType.TEXT:
                        continue
                    try:
                        cmd = parse_command(message.data)
                    except CommandError as exc:
                        await ws.send_str(json.dumps({"type": "reply", "ok": False, "message": str(exc)}))
                        continue
                    if cmd.kind in ("estop", "release", "intervene", "reset"):
                        ok, text = await self.call(cmd.kind)
                        await ws.send_str(json.dumps({"type": "reply", "ok": ok, "message": text}))
                    elif cmd.kind == "teleop_enable":
                        with self.lock:
                            self.state.teleop_enabled = cmd.on
                        if not cmd.on:
                            self.take_over(False)
                    elif cmd.kind == "takeover":
                        self.take_over(cmd.on)
                        took_over = cmd.on
                    elif cmd.kind == "teleop":
                        self.teleop(cmd.vx, cmd.vy)
                    elif cmd.kind == "record_mode":
                        with self.lock:
                            self.state.record_mode = cmd.mode
                        self.pub_record.publish(String(data=cmd.mode))
            finally:
                sender.cancel()
                if took_over:  # the operator's page went away: hand the arm back
                    self.take_over(False)
            return ws

        async def api(request):
            action = request.match_info["action"]
            if not self._authorised(request) or request.headers.get("X-FTRL-Operator") != "1":
                return web.json_response({"ok": False, "message": "forbidden"}, status=403)
            if action not in ("estop", "release", "intervene", "reset"):
                return web.json_response({"ok": False, "message": f"unknown action {action[:20]!r}"}, status=404)
            ok, text = await self.call(action)
            return web.json_response({"ok": ok, "message": text})

        async def run():
            app = web.Application(client_max_size=1024)
            app.router.add_get("/", index)
            app.router.add_get("/ws", socket)
            app.router.add_post("/api/{action}", api)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            try:
                site = web.TCPSite(runner, self.p["host"], self.p["port"])
                await site.start()
                server = site._server
                assert isinstance(server, asyncio.Server)
                self.port = server.sockets[0].getsockname()[1]
            except OSError as exc:
                self.server_error = str(exc)
            started.set()

        self.loop.run_until_complete(run())
        if not self.server_error:
            self.loop.run_forever()

    async def _push(self, ws) -> None:
        """Dashboard state at ``state_rate`` and camera frames at most ``frame_rate``."""
        sent_id, last_frame, last_state = -1, 0.0, 0.0
        while not ws.closed:
            now = time.monotonic()
            with self.lock:
                snap = self.state.snapshot(now) if now - last_state >= 1.0 / self.p["state_rate"] else None
                jpeg, jpeg_id = self.jpeg, self.jpeg_id
            try:
                if snap is not None:
                    await ws.send_str(json.dumps(snap))
                    last_state = now
                if jpeg is not None and jpeg_id != sent_id and now - last_frame >= 1.0 / self.p["frame_rate"]:
                    await ws.send_bytes(jpeg)
                    sent_id, last_frame = jpeg_id, now
            except (ConnectionError, RuntimeError):
                return
            await asyncio.sleep(0.02)

    def destroy_node(self):
        if rclpy.ok(context=self.context):  # (after Ctrl-C the context is gone; the latched False stays)
            self.pub_takeover.publish(Bool(data=False))
        self.loop.call_soon_threadsafe(self.loop.stop)
        return super().destroy_node()


def main(args=None) -> int:
    return run_node(OperatorConsole, args, threads=2)


if __name__ == "__main__":
    sys.exit(main())

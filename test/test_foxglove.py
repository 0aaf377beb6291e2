"""The live Foxglove view (issue 25): with ``--foxglove true`` the sim stack serves Foxglove's
WebSocket protocol on loopback. A client written here (aiohttp; the SDK 0.30 server negotiates the
protocol as ``foxglove.sdk.v1``, the successor name of ``foxglove.websocket.v1`` with the same
operations) subscribes to every channel while the stack runs and gets each at its rate, with the
values the ROS topics carry at the same stamps; the layout in config/ shows only served topics."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ftrl_ros.interop import foxglove_view as view
from ftrl_ros.nodes import topics
from ftrl_ros.tasks import get_task
from ftrl_ros.tools.harness import Probe, Stack

SPEC = get_task("disturbed_push")
NAMES = list(SPEC.layout.names)
LAYOUT = Path(__file__).resolve().parents[1] / "config" / "foxglove_layout.json"
PROTOCOLS = ["foxglove.websocket.v1", "foxglove.sdk.v1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _decoder(channel: dict):
    """bytes -> message of a channel: JSON, or protobuf built from the schema the server advertised."""
    if channel["encoding"] == "json":
        return lambda data: json.loads(data)
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    files = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(channel["schema"]))
    pool = descriptor_pool.DescriptorPool()  # a pool of its own: the set is complete, dependencies first
    for f in files.file:
        pool.Add(f)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(channel["schemaName"]))
    return cls.FromString


class FoxgloveClient:
    """Subscribes to every advertised channel; keeps (receive time, log time ns, message) per topic."""

    def __init__(self, port: int):
        self.port = port
        self.got: dict[str, list] = {}
        self.channels: dict[int, dict] = {}
        self.protocol = ""
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.thread.start()

    async def _run(self) -> None:
        import aiohttp

        try:
            async with aiohttp.ClientSession() as session:
                for _ in range(100):  # the node may not be serving yet
                    try:
                        ws = await session.ws_connect(f"ws://127.0.0.1:{self.port}", protocols=PROTOCOLS, max_msg_size=0)
                        break
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.5)
                else:
                    raise RuntimeError("no Foxglove server")
                self.protocol = ws.protocol or ""
                subs: dict[int, tuple[str, object]] = {}
                while not self.stop.is_set():
                    try:
                        msg = await ws.receive(timeout=0.5)
                    except asyncio.TimeoutError:
                        continue
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        data = json.loads(msg.data)
                        if data["op"] == "advertise":
                            new = []
                            for c in data["channels"]:
                                self.channels[c["id"]] = c
                                sid = len(subs) + 1
                                subs[sid] = (c["topic"], _decoder(c))
                                new.append({"id": sid, "channelId": c["id"]})
                            await ws.send_str(json.dumps({"op": "subscribe", "subscriptions": new}))
                    elif msg.type == aiohttp.WSMsgType.BINARY and msg.data[0] == 1:
                        sid, log_time = struct.unpack_from("<IQ", msg.data, 1)
                        topic, decode = subs[sid]
                        self.got.setdefault(topic, []).append((time.monotonic(), log_time, decode(msg.data[13:])))
                    elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                        break
                await ws.close()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def test_layout_shows_served_topics():
    layout = json.loads(LAYOUT.read_text())
    text = json.dumps(layout["configById"])
    for topic in (view.IMAGE, view.SCENE, view.DECISION, view.EVENTS):
        assert topic in text, topic
    assert {k.split("!")[0] for k in layout["configById"]} >= {"Image", "3D", "Plot", "Log"}


def test_the_stack_streams_to_foxglove(tmp_path):
    port = _free_port()
    sets = {
        "foxglove_view.port": port,
        "foxglove_view.image_rate": 5.0,
        "episode_manager.max_episode_steps": 15,
        "episode_manager.reset_delay": 0.3,
        "policy_server.mode": "eval",
        "state_estimator_node.detector_threads": 1,
        "state_estimator_node.debug_image_rate": 0.0,
        "operator_console.port": 0,
    }
    with Stack(tmp_path / "run", sets=sets, foxglove=True) as launch, Probe("fox_probe") as probe:
        decisions = probe.listen(topics.DECISION)
        from sensor_msgs.msg import Image

        from ftrl_ros.nodes import qos

        images: list = []
        probe.node.create_subscription(
            Image, f"/{topics.CAMERA_PREFIX}/color/image_raw", lambda m: images.append((time.monotonic(), m)), qos.IMAGES
        )
        assert probe.spin_until(lambda: len(decisions) >= 5, 180), f"the stack did not decide; {launch.tail()}"
        client = FoxgloveClient(port)
        try:
            assert probe.spin_until(lambda: len(client.got.get(view.DECISION, [])) >= 3 or client.error is not None, 60), client.error
            t0 = time.monotonic()
            probe.spin_for(12.0)
            t1 = time.monotonic()
        finally:
            client.close()
    assert client.error is None, client.error
    assert client.protocol in PROTOCOLS
    served = {c["topic"]: c for c in client.channels.values()}
    assert served[view.SCENE]["schemaName"] == "foxglove.SceneUpdate" and served[view.IMAGE]["schemaName"] == "foxglove.RawImage"
    assert served[view.EVENTS]["schemaName"] == "foxglove.Log" and served[view.DECISION]["encoding"] == "json"

    def window(topic: str) -> list:
        return [(lt, m) for t, lt, m in client.got.get(topic, []) if t0 <= t <= t1]

    def stamp(m) -> int:
        return m.header.stamp.sec * 10**9 + m.header.stamp.nanosec

    ros = {stamp(m): dict(zip(m.name, m.position)) for t, m in decisions}
    dec, scene, img = window(view.DECISION), window(view.SCENE), window(view.IMAGE)
    n_ros = sum(1 for t, _ in decisions if t0 <= t <= t1)
    rates = {k: len(v) / (t1 - t0) for k, v in (("decision", dec), ("scene", scene), ("image", img))}
    print(
        f"Foxglove over {t1 - t0:.1f} s ({client.protocol}): "
        + ", ".join(f"{k} {r:.1f} Hz" for k, r in rates.items())
        + f"; ROS decisions {n_ros / (t1 - t0):.1f} Hz"
    )
    # each channel at its rate: every decision (5 Hz), a scene per decision that had a state, images at image_rate
    assert len(dec) >= 0.9 * n_ros and n_ros >= 0.8 * 5 * (t1 - t0)
    assert len(scene) >= 0.8 * len(dec)
    assert 4.0 <= rates["image"] <= 5.5  # the sim camera's 5 fps, at most image_rate
    # values equal to the ROS topics' at the same stamps
    for lt, rec in dec:
        f = ros[lt]
        assert rec == view.decision_record(f)
    for lt, upd in scene:
        f = ros[lt]
        ents = {e.id: e for e in upd.entities}
        ee = ents["ee"].spheres[0].pose.position
        assert (ee.x, ee.y) == pytest.approx((f["s.ee_x"], f["s.ee_y"]), abs=1e-9)
        pot = ents["obstacle"].cylinders[0]
        want = view.risk_rgba(f["risk"], f["eps_safe"])
        assert (pot.color.r, pot.color.g, pot.color.b, pot.color.a) == pytest.approx(want, abs=1e-6)
        assert (pot.pose.position.x, pot.pose.position.y) == pytest.approx((f["s.obstacle_x"], f["s.obstacle_y"]), abs=1e-9)
    by_stamp = {stamp(m): m for _, m in images}
    matched = 0
    for lt, im in img:
        m = by_stamp.get(lt)
        if m is None:
            continue
        matched += 1
        assert (im.width, im.height, im.encoding) == (m.width, m.height, "rgb8")
        assert np.array_equal(np.frombuffer(im.data, np.uint8), np.frombuffer(bytes(m.data), np.uint8)[: len(im.data)])
    assert matched >= 0.8 * len(img), f"{matched} of {len(img)} images matched a ROS frame by stamp"
    events = [m for _, _, m in client.got.get(view.EVENTS, [])]
    assert any(" start" in e.message for e in events) and any(" end" in e.message for e in events), [e.message for e in events]


def test_view_builds_from_plain_values():
    """The pure part: colours by risk, the state's position groups, decisions with missing fields."""
    assert view.risk_rgba(0.0, 0.5)[:3] == (0.0, 0.8, 0.1) and view.risk_rgba(0.6, 0.5)[:3] == (0.9, 0.1, 0.1)
    assert view.risk_rgba(float("nan"), 0.5) == view.risk_rgba(0.1, float("nan")) == (0.6, 0.6, 0.6, 0.9)
    reds = [view.risk_rgba(r, 0.5)[0] for r in (0.0, 0.1, 0.25, 0.4, 0.5)]
    assert reds == sorted(reds)  # redder as the risk nears eps_safe
    assert set(view.positions(NAMES, np.zeros(len(NAMES)))) == {"ee", "puck", "obstacle", "target"}
    rec = view.decision_record({"hold": 1.0, "risk": float("nan"), "source": 2.0})
    assert rec["source"] == "hold" and rec["risk"] is None and json.loads(json.dumps(rec)) == rec
    assert view.decision_record({"source": float("nan")})["source"] == "task"
    update = view.scene_update(NAMES, (SPEC.workspace.x, SPEC.workspace.y), np.full(len(NAMES), 0.4, np.float32), 0.7, 0.5, 10**18)
    assert len(update.encode()) > 100
    assert b"ir_failure" in view.event_log({"event": "end", "reason": "ir_failure", "episode": 2}, 0).encode()

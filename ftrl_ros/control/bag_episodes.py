"""Recorded bags as demonstrations: the /ftrl/decision and /ftrl/episode/event messages of a
rosbag2 bag (MCAP or sqlite3, read with ``rosbags``) become the learning core's episode files,
assembled by the same ``episode_from_decisions`` the trajectory logger runs live -- so a bag
and the logger give the same episodes (state, executed action, source, reward and constraint
from the task spec, the record mode's kind). No rclpy: this runs on any machine with the bag.
"""

from __future__ import annotations

from typing import Any

import json
from pathlib import Path

import numpy as np

from ..learning.dataset import Episode
from ..tasks import TASKS, get_task
from . import validate
from .episodes import episode_from_decisions, episode_kind
from .fields import DECISION_FIELDS

DECISION_TOPIC, EVENT_TOPIC = "/ftrl/decision", "/ftrl/episode/event"


def infer_task(state_names: list[str]) -> str:
    """The task whose state layout the decisions carry."""
    for name, spec in TASKS.items():
        if set(spec.layout.names) == set(state_names):
            return name
    raise ValueError(f"no task has the state fields {sorted(state_names)}")


def read_bag(bag: str | Path) -> tuple[dict[int, tuple[list[str], list[float]]], list[dict]]:
    """(decision stamp ns -> (names, values), episode events in order) from a bag folder."""
    from rosbags.highlevel import AnyReader

    bag = Path(bag)
    if not bag.exists():
        raise FileNotFoundError(f"bag not found: {bag}")
    decisions, events = {}, []
    with AnyReader([bag]) as reader:
        conns = [c for c in reader.connections if c.topic in (DECISION_TOPIC, EVENT_TOPIC)]
        if not any(c.topic == DECISION_TOPIC for c in conns):
            raise ValueError(f"{bag} has no {DECISION_TOPIC} (record it: bag_recorder's topics)")
        for conn, _, raw in reader.messages(connections=conns):
            msg: Any = reader.deserialize(raw, conn.msgtype)
            if conn.topic == DECISION_TOPIC:
                stamp = int(msg.header.stamp.sec) * 10**9 + int(msg.header.stamp.nanosec)
                decisions[stamp] = (list(msg.name), [float(v) for v in msg.position])
            else:
                try:
                    event = json.loads(msg.data)
                except ValueError:
                    continue
                if isinstance(event, dict) and event.get("event") in ("start", "end"):
                    events.append(event)
    return decisions, events


def episodes_from_bag(bag: str | Path, task: str | None = None) -> list[Episode]:
    """Every episode of the bag that ended (and had a policy step), in order."""
    raw, events = read_bag(bag)
    if not raw:
        return []
    names0 = next(iter(raw.values()))[0]
    task = task or infer_task([n[2:] for n in names0 if n.startswith("s.")])
    spec = get_task(task)
    names = list(spec.layout.names)
    wanted = list(DECISION_FIELDS) + [f"s.{n}" for n in names]
    decisions = {}
    for stamp, (msg_names, values) in raw.items():
        try:
            vec = validate.named_vector(msg_names, values, wanted)
        except validate.InputError:
            continue  # not a decision of this stack (garbage on the topic)
        k = len(DECISION_FIELDS)
        decisions[stamp] = (dict(zip(DECISION_FIELDS, vec[:k].tolist())), vec[k:].astype(np.float32).tolist())
    starts = {e.get("episode"): e for e in events if e["event"] == "start"}
    out = []
    for end in (e for e in events if e["event"] == "end"):
        start = starts.get(end.get("episode"), {})
        end = {**end, "start_stamp_ns": int(end.get("start_stamp_ns", start.get("start_stamp_ns", 0)))}
        meta = {
            "task": task,
            "layout": names,
            "kind": episode_kind(end),
            "episode": end.get("episode"),
            "end_reason": end.get("reason"),
            "start_stamp_ns": end["start_stamp_ns"],
            "bag": str(bag),
        }
        try:
            episode, _, _ = episode_from_decisions(spec, decisions, end, meta)
        except ValueError:
            continue
        if episode is not None:
            out.append(episode)
    return out


COLOR_SUFFIX = "color/image_raw"


def read_bag_images(bag: str | Path, suffix: str = COLOR_SUFFIX) -> dict[int, np.ndarray]:
    """Camera stamp ns -> (H, W, 3) uint8 RGB of the bag's colour images (a topic ending in
    ``suffix``); empty when the bag recorded none (the default topic list has no images)."""
    from rosbags.highlevel import AnyReader

    frames: dict[int, np.ndarray] = {}
    with AnyReader([Path(bag)]) as reader:
        conns = [c for c in reader.connections if c.topic.endswith(suffix) and c.msgtype == "sensor_msgs/msg/Image"]
        if not conns:  # rosbags reads every connection when given none
            return frames
        for conn, _, raw in reader.messages(connections=conns):
            msg: Any = reader.deserialize(raw, conn.msgtype)
            if msg.encoding not in ("rgb8", "bgr8") or msg.step < 3 * msg.width or len(msg.data) < msg.step * msg.height:
                continue
            rows = np.frombuffer(bytes(msg.data), np.uint8)[: msg.step * msg.height].reshape(msg.height, msg.step)
            rgb = rows[:, : 3 * msg.width].reshape(msg.height, msg.width, 3)
            frames[int(msg.header.stamp.sec) * 10**9 + int(msg.header.stamp.nanosec)] = (
                rgb[..., ::-1].copy() if msg.encoding == "bgr8" else rgb
            )
    return frames


def episode_frames(episode: Episode, images: dict[int, np.ndarray]) -> np.ndarray | None:
    """The camera frame of each step of a bag episode (the frame its decision was made on, by
    stamp; the nearest earlier one where that frame was not recorded); None without images."""
    stamps = episode.meta.get("step_stamps_ns")
    if not images or not isinstance(stamps, list) or len(stamps) != len(episode):
        return None
    keys = np.array(sorted(images))
    idx = np.clip(np.searchsorted(keys, np.asarray(stamps, np.int64), side="right") - 1, 0, len(keys) - 1)
    return np.stack([images[int(keys[i])] for i in idx])

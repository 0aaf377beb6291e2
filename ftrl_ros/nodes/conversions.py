"""numpy <-> ROS message conversions for the message types the nodes exchange (no cv_bridge:
it is not on PyPI). Encodings and conventions as realsense-ros: colour ``rgb8``, aligned depth
``16UC1`` in millimetres, CameraInfo with the plumb-bob model and zero distortion."""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import CameraInfo, Image, JointState

from ..control import validate
from ..control.fields import DECISION_FIELDS, HOPS, PROPOSAL_FIELDS, hops_of  # noqa: F401  (re-exported)
from ..perception.camera_model import Intrinsics

_DTYPES = {
    "rgb8": (np.uint8, 3),
    "bgr8": (np.uint8, 3),
    "mono8": (np.uint8, 1),
    "16UC1": (np.uint16, 1),
    "mono16": (np.uint16, 1),
    "32FC1": (np.float32, 1),
}


def image_msg(array: np.ndarray, encoding: str, stamp, frame_id: str) -> Image:
    dtype, channels = _DTYPES[encoding]
    array = np.ascontiguousarray(array, dtype=dtype)
    msg = Image()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    msg.height, msg.width = array.shape[:2]
    msg.encoding, msg.is_bigendian = encoding, 0
    msg.step = msg.width * channels * array.itemsize
    msg.data = array.tobytes()
    return msg


def image_array(msg: Image) -> np.ndarray:
    """The image as numpy (rgb8/bgr8 -> HxWx3 RGB uint8, 16UC1 -> HxW uint16, ...), a read-only
    view of the message's buffer where the layout allows (no copy of a 1 MB frame)."""
    if msg.encoding not in _DTYPES:
        raise ValueError(f"unsupported image encoding {msg.encoding!r}; expected one of {sorted(_DTYPES)}")
    dtype, channels = _DTYPES[msg.encoding]
    row = msg.width * channels * np.dtype(dtype).itemsize
    if msg.step < row or len(msg.data) < msg.step * msg.height:
        raise ValueError(f"image {msg.width}x{msg.height} {msg.encoding}: step {msg.step} / {len(msg.data)} bytes too small")
    buf = np.frombuffer(msg.data, np.uint8)[: msg.step * msg.height].reshape(msg.height, msg.step)[:, :row]
    if not buf.flags.c_contiguous:
        buf = np.ascontiguousarray(buf)
    arr = buf.view(dtype).reshape((msg.height, msg.width, channels) if channels > 1 else (msg.height, msg.width))
    if msg.is_bigendian and arr.itemsize > 1:
        arr = arr.byteswap()
    return arr[..., ::-1].copy() if msg.encoding == "bgr8" else arr


def camera_info_msg(intr: Intrinsics, stamp, frame_id: str) -> CameraInfo:
    msg = CameraInfo()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    msg.width, msg.height = intr.width, intr.height
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = [intr.fx, 0.0, intr.cx, 0.0, intr.fy, intr.cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [intr.fx, 0.0, intr.cx, 0.0, 0.0, intr.fy, intr.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def intrinsics_from_info(msg: CameraInfo) -> Intrinsics:
    k = [float(v) for v in msg.k]
    ok = (
        16 <= msg.width <= 8192
        and 16 <= msg.height <= 8192
        and all(np.isfinite(k))
        and k[0] > 0
        and k[4] > 0
        and 0 <= k[2] <= msg.width
        and 0 <= k[5] <= msg.height
    )
    if not ok:
        raise ValueError(f"CameraInfo without a valid K/size: {msg.width}x{msg.height}, K={k}")
    return Intrinsics(int(msg.width), int(msg.height), float(k[0]), float(k[4]), float(k[2]), float(k[5]))


def state_msg(names, values: np.ndarray, stamp, frame_id: str = "base", hops: dict | None = None) -> JointState:
    """The task state vector as a JointState: ``name`` = the layout's field names, ``position`` =
    the values (m, m/s), header stamp = the camera frame it came from; then the timing ``hops``."""
    msg = JointState()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    hops = hops or {}
    msg.name = list(names) + list(hops)
    msg.position = [float(v) for v in values] + [float(v) for v in hops.values()]
    return msg


def state_array(msg: JointState, names) -> np.ndarray:
    """Values of ``names`` from a state message, in that order (``validate.InputError`` naming
    what is wrong: missing, duplicate or unpaired fields)."""
    return validate.named_vector(msg.name, msg.position, names).astype(np.float32)


# --- named vectors (fields in control/fields.py) -------------------------------------------------
def named_msg(fields, values, state_names, state, stamp, frame_id: str = "base", hops: dict | None = None) -> JointState:
    """``hops``: per-hop timing fields (control/fields.py HOPS) appended after the state."""
    msg = JointState()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    hops = hops or {}
    msg.name = list(fields) + [f"s.{n}" for n in state_names] + list(hops)
    msg.position = [float(v) for v in values] + [float(v) for v in state] + [float(v) for v in hops.values()]
    return msg


def since_stamp_ms(node, stamp) -> float:
    """Milliseconds from a header stamp to now (the node's clock)."""
    return (node.get_clock().now().nanoseconds - (stamp.sec * 10**9 + stamp.nanosec)) / 1e6


def since_stamp_s(node, stamp) -> float:
    """Seconds from a header stamp to now (the node's clock): the age every staleness check uses."""
    return since_stamp_ms(node, stamp) / 1e3


def named_values(msg: JointState, fields, state_names) -> tuple[dict[str, float], np.ndarray]:
    """(fields, state vector in ``state_names`` order) of a proposal/decision message;
    ``validate.InputError`` when any is missing, duplicated or unpaired."""
    wanted = list(fields) + [f"s.{n}" for n in state_names]
    values = validate.named_vector(msg.name, msg.position, wanted)
    k = len(fields)
    return dict(zip(fields, values[:k].tolist())), values[k:].astype(np.float32)


def decision_in(node, msg: JointState, state_names) -> tuple[int, dict[str, float], np.ndarray] | None:
    """(stamp ns, fields, state) of a /ftrl/decision a node received, or None -- logged, throttled --
    when it is malformed or stamped in the future (any process may publish on the topic)."""
    from . import topics

    try:
        fields, state = named_values(msg, DECISION_FIELDS, state_names)
    except validate.InputError as exc:
        node.get_logger().error(f"{topics.resolved(node, topics.DECISION)} ignored: {exc}", throttle_duration_sec=5.0)
        return None
    stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
    if stamp > node.get_clock().now().nanoseconds + validate.MAX_FUTURE * 1e9:
        node.get_logger().error(f"{topics.resolved(node, topics.DECISION)} ignored: stamped in the future", throttle_duration_sec=5.0)
        return None
    return stamp, fields, state

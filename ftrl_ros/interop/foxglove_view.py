"""What the live Foxglove view shows, as Foxglove's well-known messages (``foxglove-sdk``), built
from our data alone (no rclpy): the ``foxglove_view`` node feeds it ROS messages, tests feed it
arrays.

Channels (topic -> schema):

- ``/camera/color``        foxglove.RawImage (rgb8): the camera image the estimator sees
- ``/scene``               foxglove.SceneUpdate: table, hand, objects, target and the hazard, in the
                           robot's base frame; the hazard (and the workspace edge) coloured by the
                           current risk: green well below eps_safe, amber near it, red above
- ``/ftrl/decision``       JSON (``DECISION_SCHEMA``): risk C_H, eps_safe, who acted, proposal and
                           executed action, hold, latency -- plot risk against eps_safe in a Plot panel
- ``/ftrl/episode/events`` foxglove.Log: episode start / end (and why), one line each
"""

from __future__ import annotations

import json
import math

import numpy as np
from foxglove.messages import (
    Color,
    CubePrimitive,
    CylinderPrimitive,
    LinePrimitive,
    LinePrimitiveLineType,
    Log,
    LogLevel,
    Point3,
    Pose,
    Quaternion,
    RawImage,
    SceneEntity,
    SceneUpdate,
    SpherePrimitive,
    TextPrimitive,
    Timestamp,
    Vector3,
)

from ..learning.dataset import decision_source

IMAGE, SCENE, DECISION, EVENTS = "/camera/color", "/scene", "/ftrl/decision", "/ftrl/episode/events"
FRAME = "base"
HAZARDS = ("obstacle",)
"""State groups drawn as the hazard (coloured by risk); other tasks' hazard is the workspace edge."""
DECISION_SCHEMA = {
    "type": "object",
    "title": "ftrl.Decision",
    "properties": {
        "risk": {"type": "number", "description": "C_H of the task policy's proposal (null: no filter)"},
        "eps_safe": {"type": "number", "description": "the threshold C_H is compared with"},
        "source": {"type": "string", "description": "who acted: task, recovery, mppi, operator, or hold"},
        "hold": {"type": "boolean", "description": "the arm held still (stale or implausible input, e-stop)"},
        "proposal": {"type": "array", "items": {"type": "number"}, "description": "the task policy's action"},
        "executed": {"type": "array", "items": {"type": "number"}, "description": "the action sent to the arm"},
        "latency_ms": {"type": "number", "description": "camera frame -> decision, ms"},
        "policy_version": {"type": "number"},
    },
}


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def timestamp(stamp_ns: int) -> Timestamp:
    return Timestamp(stamp_ns // 10**9, stamp_ns % 10**9)


def risk_rgba(risk: float, eps_safe: float) -> tuple[float, float, float, float]:
    """Green below half of eps_safe, amber up to it, red above; grey when either is unknown."""
    if not (math.isfinite(risk) and math.isfinite(eps_safe)) or eps_safe <= 0:
        return (0.6, 0.6, 0.6, 0.9)
    if risk > eps_safe:
        return (0.9, 0.1, 0.1, 0.95)
    x = min(max(risk / eps_safe, 0.0), 1.0)
    return (min(1.0, 2 * x), 0.8 if x < 0.5 else 0.8 * (1.5 - x), 0.1, 0.9)


def risk_color(risk: float, eps_safe: float) -> Color:
    r, g, b, a = risk_rgba(risk, eps_safe)
    return Color(r=r, g=g, b=b, a=a)


def decision_record(fields: dict[str, float]) -> dict:
    """A decision's fields (``control.fields.DECISION_FIELDS``) as the JSON the view publishes."""
    hold = fields.get("hold", 0.0) > 0.5
    return {
        "risk": _finite(fields.get("risk", float("nan"))),
        "eps_safe": _finite(fields.get("eps_safe", float("nan"))),
        "source": decision_source(fields.get("source", float("nan")), hold),
        "hold": hold,
        "proposal": [_finite(fields.get("task_ax", float("nan"))), _finite(fields.get("task_ay", float("nan")))],
        "executed": [_finite(fields.get("exec_ax", float("nan"))), _finite(fields.get("exec_ay", float("nan")))],
        "latency_ms": _finite(fields.get("latency_ms", float("nan"))),
        "policy_version": _finite(fields.get("policy_version", float("nan"))),
    }


def _pose(x: float, y: float, z: float) -> Pose:
    return Pose(position=Vector3(x=x, y=y, z=z), orientation=Quaternion(x=0.0, y=0.0, z=0.0, w=1.0))


def positions(names: list[str], state: np.ndarray) -> dict[str, tuple[float, float]]:
    """The state's position groups (``puck_x, puck_y`` -> ``puck``), velocities left out."""
    index = {n: i for i, n in enumerate(names)}
    out = {}
    for n in names:
        stem = n[:-2]
        if n.endswith("_x") and not stem.endswith("_v") and f"{stem}_y" in index:
            out[stem] = (float(state[index[n]]), float(state[index[f"{stem}_y"]]))
    return out


def scene_update(
    names: list[str],
    workspace: tuple[tuple[float, float], tuple[float, float]],
    state: np.ndarray,
    risk: float,
    eps_safe: float,
    stamp_ns: int,
) -> SceneUpdate:
    """The task's scene at one decision: the table (the TCP's workspace), the hand (``ee``), each
    object of the state, the target, and the hazard coloured by the current risk."""
    (x0, x1), (y0, y1) = workspace
    stamp, color = timestamp(stamp_ns), risk_color(risk, eps_safe)
    grey, blue, green = Color(r=0.75, g=0.75, b=0.72, a=1.0), Color(r=0.2, g=0.4, b=0.9, a=1.0), Color(r=0.1, g=0.7, b=0.3, a=0.6)
    table = SceneEntity(
        timestamp=stamp,
        frame_id=FRAME,
        id="table",
        cubes=[
            CubePrimitive(
                pose=_pose((x0 + x1) / 2, (y0 + y1) / 2, -0.006), size=Vector3(x=x1 - x0 + 0.2, y=y1 - y0 + 0.2, z=0.01), color=grey
            )
        ],
        lines=[
            LinePrimitive(
                type=LinePrimitiveLineType.LineLoop,
                pose=_pose(0.0, 0.0, 0.001),
                thickness=0.006,
                points=[Point3(x=x0, y=y0, z=0.0), Point3(x=x1, y=y0, z=0.0), Point3(x=x1, y=y1, z=0.0), Point3(x=x0, y=y1, z=0.0)],
                color=color,
            )
        ],
    )
    entities = [table]
    for name, (x, y) in positions(names, state).items():
        if name == "ee":
            hand = SpherePrimitive(pose=_pose(x, y, 0.03), size=Vector3(x=0.05, y=0.05, z=0.05), color=blue)
            entities.append(SceneEntity(timestamp=stamp, frame_id=FRAME, id=name, spheres=[hand]))
            continue
        if name == "target":
            shape = CylinderPrimitive(pose=_pose(x, y, 0.001), size=Vector3(x=0.1, y=0.1, z=0.002), color=green)
        else:
            hue = color if name in HAZARDS else Color(r=0.95, g=0.55, b=0.1, a=1.0)
            shape = CylinderPrimitive(pose=_pose(x, y, 0.025), size=Vector3(x=0.06, y=0.06, z=0.05), color=hue)
        entities.append(SceneEntity(timestamp=stamp, frame_id=FRAME, id=name, cylinders=[shape]))
    label = "risk n/a" if not math.isfinite(risk) else f"risk {risk:.2f} / eps {eps_safe:.2f}"
    entities.append(
        SceneEntity(
            timestamp=stamp,
            frame_id=FRAME,
            id="risk",
            texts=[TextPrimitive(pose=_pose(x0, y1, 0.12), billboard=True, font_size=14.0, scale_invariant=True, color=color, text=label)],
        )
    )
    return SceneUpdate(entities=entities)


def image_message(rgb: np.ndarray, stamp_ns: int, frame_id: str) -> RawImage:
    """An (H, W, 3) uint8 RGB image as foxglove.RawImage."""
    rgb = np.ascontiguousarray(rgb, np.uint8)
    h, w = rgb.shape[:2]
    return RawImage(timestamp=timestamp(stamp_ns), frame_id=frame_id, width=w, height=h, encoding="rgb8", step=3 * w, data=rgb.tobytes())


def event_log(event: dict, stamp_ns: int) -> Log:
    """An episode event as one log line (``end`` of an IR failure or intervention as a warning)."""
    kind = str(event.get("event", "?"))
    reason = event.get("reason")
    bad = kind == "end" and reason in ("ir_failure", "intervention", "perception_lost")
    text = f"episode {event.get('episode', '?')} {kind}" + (f": {reason}" if reason else "") + f"  {json.dumps(event, default=str)[:400]}"
    return Log(timestamp=timestamp(stamp_ns), level=LogLevel.Warning if bad else LogLevel.Info, message=text, name="episode_manager")

"""What the operator console shows and what it accepts, as plain Python: the node feeds it ROS
messages (already unpacked), the web side reads ``snapshot()`` and hands every message a browser
sends to ``parse_command`` -- which is the only way anything from the page reaches the robot."""

from __future__ import annotations

import json
import math
import time
from collections import deque
from dataclasses import dataclass, field

from ..learning.dataset import decision_source

RECORD_MODES = ("off", "task", "recovery", "failure")
ACTIONS = ("estop", "release", "intervene", "reset")


class CommandError(ValueError):
    """A browser message that is not a command the console accepts (the reason is sent back)."""


@dataclass(frozen=True)
class Command:
    kind: str
    """'estop' | 'release' | 'intervene' | 'reset' | 'teleop_enable' | 'takeover' | 'teleop' | 'record_mode'."""
    on: bool = False
    vx: float = 0.0
    vy: float = 0.0
    mode: str = "off"


def parse_command(text: str, max_bytes: int = 512) -> Command:
    """A browser message -> a :class:`Command`; anything else raises CommandError. Teleop
    velocities are unit-free in [-1, 1] (the node scales them by the task's speed limit)."""
    if not isinstance(text, str) or len(text) > max_bytes:
        raise CommandError("not a short text message")
    try:
        msg = json.loads(text)
    except ValueError:
        raise CommandError("not JSON") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise CommandError("expected an object with a 'type'")
    kind = msg["type"]
    if kind in ACTIONS:
        return Command(kind)
    if kind in ("teleop_enable", "takeover"):
        if not isinstance(msg.get("on"), bool):
            raise CommandError(f"{kind}: 'on' must be true or false")
        return Command(kind, on=msg["on"])
    if kind == "teleop":
        v = [msg.get("vx"), msg.get("vy")]
        numbers = [x for x in v if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)]
        if len(numbers) != 2:
            raise CommandError("teleop: vx and vy must be finite numbers")
        vx, vy = (max(-1.0, min(1.0, float(x))) for x in numbers)
        return Command(kind, vx=vx, vy=vy)
    if kind == "record_mode":
        if msg.get("mode") not in RECORD_MODES:
            raise CommandError(f"record_mode: mode must be one of {RECORD_MODES}")
        return Command(kind, mode=msg["mode"])
    raise CommandError(f"unknown command type {kind[:30]!r}")


@dataclass
class ConsoleState:
    """The dashboard's data, updated from the stack's topics."""

    window_s: float = 30.0
    """Seconds of risk history kept for the scrolling plot."""
    risk: deque = field(default_factory=lambda: deque(maxlen=2000))
    """(time, risk C_H, eps_safe, source name or 'hold') per decision."""
    decision: dict = field(default_factory=dict)
    hold_reason: str = ""
    episode: dict = field(default_factory=dict)
    episodes: list = field(default_factory=list)
    """Per finished episode: number, return, steps, IR failure, success, recovery share."""
    policy: dict = field(default_factory=dict)
    estop: bool | None = None
    arm: str = ""
    record_mode: str = "off"
    teleop_enabled: bool = False
    takeover: bool = False
    last_decision: float = 0.0
    last_frame: float = 0.0

    def on_decision(self, fields: dict, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        hold = fields.get("hold", 1.0) > 0.5
        name = decision_source(fields.get("source", float("nan")), hold)
        risk, eps = fields.get("risk", float("nan")), fields.get("eps_safe", float("nan"))
        self.risk.append((now, risk, eps, name))
        if self.episode.get("running") and not hold:
            self.episode["steps"] = self.episode.get("steps", 0) + 1
        self.decision = {
            "source": name,
            "risk": _num(risk),
            "eps_safe": _num(eps),
            "latency_ms": _num(fields.get("latency_ms")),
            "policy_version": _num(fields.get("policy_version")),
        }
        self.last_decision = now

    def on_safety_status(self, message: str) -> None:
        self.hold_reason = message[len("holding: ") :] if message.startswith("holding: ") else ""

    def on_event(self, event: dict) -> None:
        if event.get("event") == "start":
            self.episode = {
                "number": event.get("episode"),
                "running": True,
                "steps": 0,  # counted live
                "record": event.get("record", "off"),
            }
        elif event.get("event") == "end":
            self.episode = {
                "number": event.get("episode"),
                "running": False,
                "steps": event.get("steps"),
                "reason": event.get("reason"),
                "record": event.get("record", "off"),
            }

    def on_summary(self, summary: dict) -> None:
        steps = summary.get("steps") or 0
        if not isinstance(steps, int) or steps <= 0:
            return
        self.episodes.append(
            {
                "episode": summary.get("episode"),
                "return": _num(summary.get("ret")),
                "steps": steps,
                "ir_failure": bool(summary.get("ir_failure")),
                "success": bool(summary.get("success")),
                "recovery_share": round((summary.get("recovery_steps") or 0) / steps, 3),
            }
        )
        del self.episodes[:-500]

    def on_policy(self, info: dict) -> None:
        self.policy = {
            "version": info.get("version"),
            "resumed": bool(info.get("resumed")),
            "stats": {k: _num(v) for k, v in (info.get("stats") or {}).items() if isinstance(v, (int, float))},
        }

    def snapshot(self, now: float | None = None) -> dict:
        now = time.monotonic() if now is None else now
        recent = [(round(t - now, 2), _num(r), _num(e), s) for t, r, e, s in self.risk if now - t <= self.window_s]
        return {
            "type": "state",
            "decision": self.decision,
            "hold_reason": self.hold_reason,
            "episode": self.episode,
            "episodes": self.episodes,
            "policy": self.policy,
            "estop": self.estop,
            "arm": self.arm,
            "record_mode": self.record_mode,
            "teleop_enabled": self.teleop_enabled,
            "takeover": self.takeover,
            "risk": recent,
            "stack_alive": now - self.last_decision < 2.0,
            "frame_age": round(now - self.last_frame, 2) if self.last_frame else None,
        }


def _num(v) -> float | None:
    """JSON-safe number (NaN/inf -> None)."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None

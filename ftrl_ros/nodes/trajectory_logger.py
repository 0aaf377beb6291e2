"""trajectory_logger: every episode to disk in the learning core's format (one .npz per episode,
written atomically), with the decision source (task / recovery) and the task policy's log-prob
per step; then a summary on /ftrl/episode/summary for the learner and for people watching.

Decisions are buffered per episode and assembled when the episode ends, so the order in which
the end event and the last decision arrive does not matter: the episode is every decision
stamped before its final state, completed by that state.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import String

from ..control.episodes import EpisodeAssembler
from ..learning.dataset import SOURCES, next_episode_path, save_episode
from ..tasks import get_task
from .conversions import named_values
from . import qos
from .params import Param, declare, task_param
from .runner import run_node


PARAMS = [
    task_param("task"),
    Param("run_dir", "runs/ros", "episodes go to <run_dir>/episodes/", read_only=True),
    Param("method", "farl", "recorded in each episode's metadata", read_only=True),
]


_NAMES = {v: k for k, v in SOURCES.items()}


def source_name(fields: dict) -> str:
    """Who produced the executed action of a decision (older decisions have only the flag)."""
    code = fields.get("source", float("nan"))
    if np.isfinite(code) and _NAMES.get(int(code)) in ("task", "recovery", "mppi"):
        return _NAMES[int(code)]
    return "recovery" if fields["recovery"] > 0.5 else "task"


class TrajectoryLogger(Node):
    def __init__(self):
        super().__init__("trajectory_logger")
        p = declare(self, PARAMS)
        self.p = p
        self.spec = get_task(p["task"])
        self.folder = Path(p["run_dir"]) / "episodes"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.decisions: list[tuple[int, dict, np.ndarray]] = []
        self.open = False
        self.pub = self.create_publisher(String, "/ftrl/episode/summary", qos.EVENTS)
        self.create_subscription(JointState, "/ftrl/decision", self._on_decision, qos.EVENTS)
        self.create_subscription(String, "/ftrl/episode/event", self._on_event, qos.EVENTS)
        self.get_logger().info(f"writing episodes to {self.folder}")

    def _on_decision(self, msg: JointState) -> None:
        if self.open:
            fields, state = named_values(msg)
            self.decisions.append((rclpy.time.Time.from_msg(msg.header.stamp).nanoseconds, fields, state))

    def _on_event(self, msg: String) -> None:
        event = json.loads(msg.data)
        if event["event"] == "start":
            self.open, self.decisions = True, []
            return
        if event["event"] != "end" or not self.open:
            return
        self.open = False
        final = np.asarray(event["final_state"] or [np.nan] * self.spec.layout.dim, np.float32)
        steps = sorted((d for d in self.decisions if d[0] < event["final_stamp_ns"]), key=lambda d: d[0])
        asm = EpisodeAssembler(self.spec, {"task": self.p["task"], "layout": list(self.spec.layout.names),
                                           "kind": "online", "method": self.p["method"],
                                           "episode": event["episode"], "end_reason": event["reason"]})
        versions = set()
        for _, fields, state in steps:
            if fields["hold"] > 0.5:
                asm.observe(state)
                continue
            versions.add(int(fields["policy_version"]))
            asm.add(state, [fields["exec_ax"], fields["exec_ay"]], source_name(fields), fields["exec_logp"],
                    fields["risk"], proposal=[fields["task_ax"], fields["task_ay"]],
                    proposal_logp=fields.get("task_logp", float("nan")))
        asm.meta["policy_versions"] = sorted(versions)
        ep = asm.finish(final, event["reason"])
        summary = {"episode": event["episode"], "reason": event["reason"], "steps": 0, "path": None}
        if ep is not None:
            path = next_episode_path(self.folder)
            save_episode(path, ep)
            summary.update(path=str(path.resolve()), steps=len(ep), ret=round(ep.ret, 3),
                           success=bool(ep.success.any()), ir_failure=bool(ep.failed),
                           recovery_steps=int(asm.recovery_steps), policy_versions=sorted(versions))
            self.get_logger().info(f"episode {event['episode']}: {len(ep)} steps, return {ep.ret:.2f}, "
                                   f"{event['reason']}, {asm.recovery_steps} recovery steps -> {path.name}")
        else:
            self.get_logger().warn(f"episode {event['episode']} had no policy step; nothing written")
        self.pub.publish(String(data=json.dumps(summary)))


def main(args=None) -> int:
    return run_node(TrajectoryLogger, args)


if __name__ == "__main__":
    sys.exit(main())

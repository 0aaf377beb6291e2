"""trajectory_logger: every episode to disk in the learning core's format (one .npz per episode,
written atomically), with the decision source (task / recovery) and the task policy's log-prob
per step; then a summary on /ftrl/episode/summary for the learner and for people watching.

Nothing is lost when this node dies: each decision is appended to the episode's journal
(``control.journal``) as it arrives, and on restart the open episode is picked up again. The
decision and event topics are transient-local with a deep history, so the decisions published
while the logger was down (respawn takes ~2 s) are delivered when it comes back; the journal
drops the ones it already has. The episode is every decision stamped between its start and its
final state, completed by that state, so arrival order does not matter: an episode is written
once the decision on its final state is in, or ``end_grace`` after its end event.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import String

from ..control import validate
from ..control.episodes import episode_from_decisions, episode_kind
from ..control.journal import EpisodeJournal, JournalEpisode
from ..learning.dataset import DatasetError, load_episode, next_episode_path, save_episode
from ..tasks import get_task
from .conversions import decision_in
from . import topics
from .params import Param, declare, task_param
from .runner import run_node


PARAMS = [
    task_param("task"),
    Param("run_dir", "runs/ros", "episodes go to <run_dir>/episodes/, the journal to <run_dir>/journal/", read_only=True),
    Param("method", "farl", "recorded in each episode's metadata", read_only=True),
    Param("end_grace", 5.0, "after an episode's end event, wait this long at most for its last decisions, s", range=(0.0, 60.0)),
]


def parse_event(text: str) -> dict:
    """A /ftrl/episode/event message as a dict with the fields the logger uses, or InputError."""
    try:
        event = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise validate.InputError(f"not JSON: {exc}") from None
    if not isinstance(event, dict) or event.get("event") not in ("start", "end"):
        raise validate.InputError("not a start/end event")
    for key in ("episode", "start_stamp_ns") + (("final_stamp_ns",) if event["event"] == "end" else ()):
        v = event.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**63:
            raise validate.InputError(f"{key} must be a non-negative integer, got {v!r}")
    if event["event"] == "end":
        if not isinstance(event.get("reason"), str):
            raise validate.InputError("end event without a reason")
        final = event.get("final_state")
        if not isinstance(final, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in final):
            raise validate.InputError("final_state must be a list of numbers")
    return event


class TrajectoryLogger(Node):
    def __init__(self):
        super().__init__("trajectory_logger")
        p = declare(self, PARAMS)
        self.p = p
        self.spec = get_task(p["task"])
        self.names = list(self.spec.layout.names)
        self.folder = Path(p["run_dir"]) / "episodes"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.journal = EpisodeJournal(Path(p["run_dir"]) / "journal")
        self.pub = topics.publisher(self, topics.EPISODE_SUMMARY)
        for ep in self.journal.recover(time.monotonic()):  # left by a process that died
            self.get_logger().warn(
                f"episode {ep.start.get('episode')} continues from its journal "
                f"({len(ep.decisions)} decisions so far{', ended' if ep.end else ''})"
            )
        topics.subscribe(self, topics.DECISION, self._on_decision)
        topics.subscribe(self, topics.EPISODE_EVENT, self._on_event)
        self.create_timer(0.2, self._write_ready)
        self.get_logger().info(f"writing episodes to {self.folder}")

    def _on_decision(self, msg: JointState) -> None:
        decision = decision_in(self, msg, self.names)
        if decision is None:
            return
        stamp, fields, state = decision
        self.journal.add(stamp, fields, state.tolist())

    def _on_event(self, msg: String) -> None:
        try:
            event = parse_event(msg.data)
        except validate.InputError as exc:
            self.get_logger().error(f"{topics.resolved(self, topics.EPISODE_EVENT)} ignored: {exc}", throttle_duration_sec=5.0)
            return
        if event["event"] == "start":
            ep = self.journal.running()
            if ep is not None and ep.start_stamp < event["start_stamp_ns"]:
                self.get_logger().error(
                    f"episode {ep.start.get('episode')} never got its end event; "
                    f"closing it as 'operator' with {len(ep.decisions)} decisions"
                )
                self.journal.end(
                    {
                        **ep.start,
                        "event": "end",
                        "reason": "operator",
                        "steps": 0,
                        "final_state": [],
                        "final_stamp_ns": event["start_stamp_ns"],
                    },
                    time.monotonic(),
                )
            self.journal.start(event)
            return
        self.journal.end(event, time.monotonic())

    def _write_ready(self) -> None:
        for ep in self.journal.ready(time.monotonic(), self.p["end_grace"]):
            self._finish(ep)

    def _already_written(self, ep: JournalEpisode) -> str | None:
        """The episode file of ``ep`` if it was saved before the process died (the newest one)."""
        files = sorted(self.folder.glob("ep_*.npz"))
        if not files:
            return None
        try:
            meta = load_episode(files[-1]).meta
        except DatasetError:
            return None
        return str(files[-1].resolve()) if meta.get("start_stamp_ns") == ep.start_stamp else None

    def _finish(self, ep: JournalEpisode) -> None:
        end = {**(ep.end or {}), "start_stamp_ns": ep.start_stamp}
        summary = {"episode": end.get("episode"), "reason": end.get("reason"), "steps": 0, "path": None}
        existing = self._already_written(ep)
        if existing:
            self.journal.written(ep, existing)
            return
        meta = {
            "task": self.p["task"],
            "layout": self.names,
            "kind": episode_kind(end),
            "method": self.p["method"],
            "episode": end.get("episode"),
            "end_reason": end.get("reason"),
            "start_stamp_ns": ep.start_stamp,
        }
        try:
            episode, recovery_steps, versions = episode_from_decisions(self.spec, ep.decisions, end, meta)
        except ValueError as exc:  # inconsistent data must not kill the logger
            self.get_logger().error(f"episode {end.get('episode')} could not be assembled: {exc}")
            episode = None
        path = None
        if episode is not None:
            path = next_episode_path(self.folder)
            save_episode(path, episode)
            summary.update(
                path=str(path.resolve()),
                steps=len(episode),
                ret=round(episode.ret, 3),
                success=bool(episode.success.any()),
                ir_failure=bool(episode.failed),
                recovery_steps=int(recovery_steps),
                policy_versions=versions,
            )
            self.get_logger().info(
                f"episode {end.get('episode')}: {len(episode)} steps, return {episode.ret:.2f}, "
                f"{end.get('reason')}, {recovery_steps} recovery steps -> {path.name}"
            )
        else:
            self.get_logger().warn(f"episode {end.get('episode')} had no policy step; nothing written")
        self.journal.written(ep, str(path) if path else None)
        self.pub.publish(String(data=json.dumps(summary)))

    def destroy_node(self):
        self.journal.close()
        return super().destroy_node()


def main(args=None) -> int:
    return run_node(TrajectoryLogger, args)


if __name__ == "__main__":
    sys.exit(main())

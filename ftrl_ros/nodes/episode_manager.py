"""episode_manager: when episodes start and end, and why.

Each /ftrl/decision is one 5 Hz control step. An episode ends on an IR failure seen in the
estimated state (the task's constraint), on /ftrl/intervene (an operator flags an
intervention-requiring failure: the arm stops at once), at the time limit, or when the e-stop is
engaged, or when perception has lost an object for `max_stale` s. In sim the next episode starts by itself
(the world is reset through /ftrl/sim/reset);
on the robot it waits for /ftrl/reset, after the operator has put the objects back.
Publishes /ftrl/episode/running (Bool, latched: the safety filter holds the arm while false) and
/ftrl/episode/event (JSON: start / end with reason, steps, final state).

Boundaries: decisions on states stamped before the episode's start (captured before the reset)
are ignored, at most one step is counted per control period, and a constraint violation seen
before the policy's first step ends the episode as ``failed_before_acting``, not as an IR
failure of the method.
"""

from __future__ import annotations

from typing import Any

import json
import sys
import time

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger

from ..control import validate
from ..control.episodes import RECORD_KINDS, EpisodeClock
from ..tasks import get_task
from .conversions import decision_in
from . import topics
from .params import Param, declare, task_param
from .runner import run_node


PARAMS = [
    task_param("task"),
    Param("use_sim", True, "reset the sim world between episodes by itself; on the robot wait for /ftrl/reset", read_only=True),
    Param("max_episode_steps", 0, "time limit in control steps (0 = the task's own)", range=(0, 100000)),
    Param("max_episodes", 0, "stop after this many episodes and exit (0 = run until stopped)", range=(0, 1000000)),
    Param("reset_delay", 0.5, "pause between an episode's end and the next reset in sim, s", range=(0.0, 60.0)),
    Param("max_stale", 3.0, "end the episode when the state has been incomplete this long, s", range=(0.2, 600.0)),
]


class EpisodeManager(Node):
    def __init__(self):
        super().__init__("episode_manager")
        p = declare(
            self,
            PARAMS,
            {
                "max_episode_steps": lambda v: setattr(self.clock, "max_steps", v or self.clock.spec.max_episode_steps),
                "max_stale": lambda v: setattr(self.clock, "max_stale", v),
            },
        )
        self.p = p
        spec = get_task(p["task"])
        self.clock = EpisodeClock(spec, p["max_episode_steps"] or spec.max_episode_steps, p["max_stale"])
        self.episode = 0
        self.episode_record = "off"
        self.running = False
        self.started = False  # the first decision of the episode (its initial state) has come
        self.latest_state: np.ndarray | None = None
        self.latest_stamp = 0
        self.start_stamp = 0
        self.last_tick = 0
        self.acted = False
        self.min_tick_ns = int(0.5 * spec.control_dt * 1e9)  # half a 5 Hz period
        self.names = list(spec.layout.names)
        self.estop = False
        self.resetting = False
        self.next_reset: float | None = None
        self.pub_running = topics.publisher(self, topics.EPISODE_RUNNING)
        self.pub_event = topics.publisher(self, topics.EPISODE_EVENT)
        topics.subscribe(self, topics.DECISION, self._on_decision)
        topics.subscribe(self, topics.ESTOP_ENGAGED, self._on_estop)
        self.record = "off"
        topics.subscribe(self, topics.RECORD_MODE, self._on_record_mode)
        topics.service(self, topics.INTERVENE, self._on_intervene)
        topics.service(self, topics.RESET, self._on_reset)
        self.sim_reset = topics.client(self, topics.SIM_RESET, callback_group=MutuallyExclusiveCallbackGroup())
        self.create_timer(0.05, self._timer)
        self.pub_running.publish(Bool(data=False))
        if p["use_sim"]:
            self.next_reset = time.monotonic()
        else:
            self.get_logger().info("waiting for /ftrl/reset (ftrl reset) to start the first episode")

    # --- episode lifecycle -------------------------------------------------------------------
    def _start(self) -> None:
        self.episode += 1
        self.clock.start()
        self.running, self.started, self.acted = True, False, False
        self.start_stamp = self.get_clock().now().nanoseconds  # older states belong to the last episode
        self.latest_state = None
        self.pub_running.publish(Bool(data=True))
        self.episode_record = self.record  # a mode change applies from the next episode on
        self._event({"event": "start", "episode": self.episode, "start_stamp_ns": int(self.start_stamp), "record": self.episode_record})
        self.get_logger().info(f"episode {self.episode} started")

    def _end(self, reason: str) -> None:
        if not self.running:
            return
        self.running = False
        self.pub_running.publish(Bool(data=False))  # the filter zeroes the command on this
        state: Any = self.latest_state if self.latest_state is not None else []
        self._event(
            {
                "event": "end",
                "episode": self.episode,
                "reason": reason,
                "steps": self.clock.steps,
                "success": bool(self.clock.success),
                "final_state": [float(v) for v in state],
                "final_stamp_ns": int(self.latest_stamp),
                "start_stamp_ns": int(self.start_stamp),
                "record": self.episode_record,
            }
        )
        self.get_logger().info(
            f"episode {self.episode} ended: {reason} after {self.clock.steps} steps" + (" (success seen)" if self.clock.success else "")
        )
        done = self.p["max_episodes"] and self.episode >= self.p["max_episodes"]
        if done:
            self.get_logger().info(f"{self.episode} episodes done")
            self.next_reset = None
            self.create_timer(1.0, self._exit)  # let the logger write the last episode first
        elif self.p["use_sim"] and reason != "estop":
            self.next_reset = time.monotonic() + self.p["reset_delay"]

    def _on_record_mode(self, msg: String) -> None:
        mode = msg.data.strip().lower()
        if mode not in ("off", *RECORD_KINDS):
            self.get_logger().error(
                f"{topics.resolved(self, topics.RECORD_MODE)} ignored: {msg.data[:40]!r} is not one of off, {', '.join(RECORD_KINDS)}",
                throttle_duration_sec=5.0,
            )
            return
        if mode != self.record:
            self.get_logger().info(f"record mode: {mode} (from the next episode on)")
        self.record = mode

    def _exit(self) -> None:
        raise SystemExit(0)

    def _event(self, data: dict) -> None:
        self.pub_event.publish(String(data=json.dumps(data)))

    def _timer(self) -> None:
        if self.next_reset is None or self.resetting or time.monotonic() < self.next_reset or self.estop:
            return
        if self.running:  # a reset asked for while one was in flight: never restart a running episode
            self.next_reset = None
            return
        if not self.sim_reset.service_is_ready():
            self.get_logger().info("waiting for /ftrl/sim/reset", throttle_duration_sec=5.0)
            return
        self.resetting = True
        self.next_reset = None
        self.sim_reset.call_async(Trigger.Request()).add_done_callback(self._reset_done)

    def _reset_done(self, future) -> None:
        self.resetting = False
        result = future.result()
        if result is None or not result.success:
            self.get_logger().error("sim reset failed; retrying")
            self.next_reset = time.monotonic() + 1.0
            return
        self._start()

    # --- inputs ------------------------------------------------------------------------------
    def _on_decision(self, msg: JointState) -> None:
        decision = decision_in(self, msg, self.names)
        if decision is None:
            return
        stamp, fields, state = decision
        if stamp < self.start_stamp:  # a state captured before this episode's reset
            return
        if stamp < self.last_tick + self.min_tick_ns:  # one step per control period, in order
            return
        self.last_tick = stamp
        if not validate.state_problem(self.clock.spec, state):
            self.latest_state, self.latest_stamp = state, stamp
        if not self.running:
            return
        if not self.started:  # the episode's initial state: no step taken yet
            self.started = True
            return
        reason = self.clock.tick(state, time.monotonic())
        if reason == "ir_failure" and not self.acted:  # seen before the policy's first step
            reason = "failed_before_acting"  # the world started that way: not the method's failure
        self.acted |= fields["hold"] < 0.5 and not validate.state_problem(self.clock.spec, state)
        if reason:
            self._end(reason)

    def _on_estop(self, msg: Bool) -> None:
        self.estop = bool(msg.data)
        if self.estop:
            self._end("estop")
        elif (
            self.p["use_sim"]
            and not self.running
            and not self.resetting
            and self.next_reset is None
            and not (self.p["max_episodes"] and self.episode >= self.p["max_episodes"])
        ):
            self.next_reset = time.monotonic() + self.p["reset_delay"]

    def _on_intervene(self, request, response):
        if not self.running:
            response.success, response.message = False, "no episode running"
            return response
        self._end("intervention")
        response.success, response.message = True, f"episode {self.episode} ended as an intervention"
        return response

    def _on_reset(self, request, response):
        if self.estop:
            response.success, response.message = False, "e-stop engaged: release it first"
            return response
        self._end("operator")
        if self.p["use_sim"]:
            self.next_reset = time.monotonic()
        else:
            self._start()
        response.success, response.message = True, f"episode {self.episode + (1 if self.p['use_sim'] else 0)} starting"
        return response


def main(args=None) -> int:
    return run_node(EpisodeManager, args)


if __name__ == "__main__":
    sys.exit(main())

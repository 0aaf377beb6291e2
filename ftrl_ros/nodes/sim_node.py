"""sim_node: the MuJoCo task world standing in for the RealSense and the Franka.

A wall-clock timer advances physics one IK period (50 ms) at a time with the latest TCP velocity
command (catching up when it was called late, so sim time stays locked to wall time); a second
timer at `camera_rate` renders colour + depth from the D435's pose and publishes them on
realsense-ros's topics (depth 16UC1 in mm, 0 where nothing was hit). Each camera frame starts one
control tick of the graph, as on the robot. The robot side publishes
the TCP pose and velocity and holds still when commands are stale (watchdog). Ground truth (object
positions, contacts that are IR failures) goes to /ftrl/sim/ground_truth, for evaluation only.
"""

from __future__ import annotations

import sys
import time
from collections import deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import PoseStamped, TwistStamped
from sensor_msgs.msg import JointState

from ..control import validate
from ..perception.realsense import depth_to_mm
from ..sim.envs import make_task_env
from .camera_topics import FRAME_ID, CameraPublisher
from .conversions import since_stamp_s
from . import topics
from .diagnostics import StatusPublisher
from .lifecycle import AUTOSTART, ManagedNode
from .params import Param, base_frame_param, declare, task_param
from .runner import run_node


PARAMS = [
    task_param("sim task"),
    base_frame_param(),
    Param("camera_frame", FRAME_ID, "frame of the rendered images (TF name)", read_only=True),
    Param("seed", 0, "seed of the first episode (the n-th reset uses seed + n)", read_only=True, range=(0, 2**31 - 1)),
    Param(
        "start_mode",
        "nominal",
        "episode starts: nominal, or near_failure (an obstacle just ahead)",
        read_only=True,
        check=lambda v: None if v in ("nominal", "near_failure") else "nominal or near_failure",
    ),
    Param("camera_rate", 5.0, "camera frames per second, Hz: the control rate of the whole graph", read_only=True, range=(1.0, 90.0)),
    Param(
        "command_timeout",
        0.3,
        "hold still when the last command is older than this, s (1.5 control "
        "periods: the next one is due after one period, half a period of jitter is allowed)",
        range=(0.05, 5.0),
    ),
    Param("camera_prefix", "camera/camera", "realsense-ros topic prefix (relative: in the node's namespace)", read_only=True),
    AUTOSTART,
]


class SimNode(ManagedNode):
    def __init__(self):
        super().__init__("sim_node")
        self.p = declare(self, PARAMS)

    def configure_node(self) -> None:
        p = self.p
        self.env = make_task_env(p["task"])
        self.spec = self.env.spec_task
        self.episode = 0
        self.command = np.zeros(2)
        self.command_time = -1e9
        self.holding = True
        self.contact = False
        self.chunk = 0
        self._reset_world()
        prefix = p["camera_prefix"].rstrip("/")
        self.camera = CameraPublisher(self, prefix)
        self.pub_pose = topics.publisher(self, topics.TCP_POSE)
        self.pub_twist = topics.publisher(self, topics.TCP_TWIST)
        self.pub_truth = topics.publisher(self, topics.GROUND_TRUTH)
        self.pub_status = StatusPublisher(self, topics.ARM_STATUS)  # + /diagnostics
        topics.subscribe(self, topics.CMD_VEL, self._on_command)
        topics.service(self, topics.SIM_RESET, self._on_reset)
        self.t0, self.slips = time.monotonic(), 0
        self.create_timer(self.env.chunk_dt / 5, self._tick)
        # the camera runs on its own clock, like the real one: frames show the latest physics state
        self.create_timer(1.0 / p["camera_rate"], self._publish_camera)
        self.get_logger().info(
            f"{p['task']}: physics {1 / self.env.chunk_dt:.0f} Hz, camera {p['camera_rate']:g} Hz, "
            f"seed {p['seed']}, starts {p['start_mode']}"
        )

    def _reset_world(self) -> None:
        self.env.reset(seed=self.p["seed"] + self.episode, options={"start": self.p["start_mode"]})
        self.episode += 1
        self.tcp_history = deque([self.env.positions()["ee"].copy()], maxlen=self.env.n_chunks + 1)
        self.contact = False
        self.command = np.zeros(2)

    def _on_reset(self, request, response):
        self._reset_world()
        response.success, response.message = True, f"episode {self.episode} (seed {self.p['seed'] + self.episode - 1})"
        return response  # the next frame comes on the regular 5 Hz grid

    def _on_command(self, msg: TwistStamped) -> None:
        """Only a finite, in-limit, current command moves the arm; anything else holds it."""
        v = np.array([msg.twist.linear.x, msg.twist.linear.y], np.float64)
        age = since_stamp_s(self, msg.header.stamp)
        problem = validate.command_problem(v, self.spec.max_speed) or validate.stamp_problem(age, self.p["command_timeout"], "command")
        if problem:
            self.command = np.zeros(2)
            self.get_logger().error(f"{topics.resolved(self, topics.CMD_VEL)} rejected, holding: {problem}", throttle_duration_sec=2.0)
            return
        self.command = v
        self.command_time = time.monotonic()

    def _tick(self) -> None:
        """Run the physics periods that are due by the wall clock (several if this call came
        late, so a busy CPU delays a frame instead of dropping it), then publish."""
        due = int((time.monotonic() - self.t0) / self.env.chunk_dt)
        behind = due - self.chunk
        if behind > 4:  # more than 200 ms behind: let sim time slip rather than spiral
            self.t0 += (behind - 4) * self.env.chunk_dt
            self.slips += 1
            self.get_logger().warn(f"physics {behind} periods behind real time (slip {self.slips})", throttle_duration_sec=5.0)
            behind = 4
        for _ in range(max(behind, 0)):
            fresh = time.monotonic() - self.command_time <= self.p["command_timeout"]
            if fresh == self.holding:
                self.holding = not fresh
                if self.holding and self.command_time > 0:
                    message = (
                        f"no command on /ftrl/cmd_vel for {self.p['command_timeout']:.2f} s: holding the arm "
                        "still; safety_filter hung or dead?"
                    )
                    self.get_logger().error(message)
                    self.pub_status.publish(
                        DiagnosticStatus(level=DiagnosticStatus.ERROR, name="ftrl/arm", message=message, hardware_id="sim")
                    )
                elif not self.holding:
                    self.pub_status.publish(
                        DiagnosticStatus(level=DiagnosticStatus.OK, name="ftrl/arm", message="commands arriving", hardware_id="sim")
                    )
            # a stale command or an explicit zero (every hold of the safety filter) brakes the arm
            # where it is, as a robot's stop does; None = brake
            velocity = self.command if fresh and self.command.any() else None
            self.contact = self.env.advance(velocity) or self.contact
            self.tcp_history.append(self.env.positions()["ee"].copy())
            self.chunk += 1
        if behind > 0:
            self._publish_robot(self.get_clock().now().to_msg())

    def _publish_robot(self, stamp) -> None:
        tcp = self.env.controller.tcp(self.env.data)
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp, self.p["base_frame"]
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = (float(v) for v in tcp)
        pose.pose.orientation.w = 1.0
        self.pub_pose.publish(pose)
        # velocity over the last control period, as the learning state defines ee_v
        span = (len(self.tcp_history) - 1) * self.env.chunk_dt
        v = (self.tcp_history[-1] - self.tcp_history[0]) / span if span > 0 else np.zeros(2)
        twist = TwistStamped()
        twist.header = pose.header
        twist.twist.linear.x, twist.twist.linear.y = float(v[0]), float(v[1])
        self.pub_twist.publish(twist)

    def _publish_camera(self) -> None:
        stamp = self.get_clock().now().to_msg()
        rgb, depth = self.env.render_rgbd()
        self.camera.publish(rgb, depth_to_mm(depth), self.env.intrinsics, stamp, self.p["camera_frame"])
        truth = JointState()
        truth.header.stamp, truth.header.frame_id = stamp, self.p["base_frame"]
        names, values = [], []
        for key, xyz in self.env.ground_truth().items():
            for axis, value in zip("xyz", xyz):
                names.append(f"{key}_{axis}")
                values.append(float(value))
        truth.name = names + ["ir_failure", "episode"]
        truth.position = values + [float(self.contact), float(self.episode)]
        self.pub_truth.publish(truth)

    def activate_node(self) -> None:
        self.t0, self.chunk = time.monotonic(), 0  # physics paused while inactive: no catching up

    def hold(self) -> None:
        self.command = np.zeros(2)  # (and the physics timer stops with the node)

    def cleanup_node(self) -> None:
        env = getattr(self, "env", None)  # made by configure
        if env is not None:
            env.close()

    def destroy_node(self):
        self.cleanup_node()
        return super().destroy_node()


def main(args=None) -> int:
    return run_node(SimNode, args)


if __name__ == "__main__":
    sys.exit(main())

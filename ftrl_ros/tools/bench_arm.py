"""The arm's control loop against franky-sim: achieved loop rate, period jitter, and command-to-
motion latency through the node the robot runs.

Starts franky-sim (its own venv) and franka_arm_node (realtime off), homes the arm, then publishes
/ftrl/cmd_vel at 5 Hz for --seconds as the safety filter does -- one move command in a new
direction, then zeros until the arm is still, over and over -- and reads the node's /diagnostics
at the end: loop rate and period percentiles over the window, jitter (|period - 1 ms|), and,
for each command that starts the arm from rest, the latency from its TwistStamped stamp to (a)
the robot reporting the new commanded velocity (O_dP_EE_c) and (b) its TCP moving faster than
1 mm/s (O_T_EE; the jerk-limited ramp needs ~7 ms of robot time to reach that).
Run it inside the isolated namespace: ``scripts/isolated.sh .venv/bin/ftrl bench-arm``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import time
from pathlib import Path

from ..utils.atomic import atomic_write_text
from .harness import Probe, node_command, stop_process


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=60.0, help="measurement window")
    p.add_argument("--speed", type=float, default=0.08, help="commanded TCP speed, m/s")
    p.add_argument("--out", type=Path, default=Path("docs/bench_arm"), help="writes <out>.md and <out>.json")


def measure(seconds: float, speed: float, folder: Path) -> dict:
    from geometry_msgs.msg import TwistStamped
    from std_srvs.srv import Trigger
    from tqdm import tqdm

    from ..nodes import topics
    from ..robot.franky_sim import FrankySim

    folder.mkdir(parents=True, exist_ok=True)
    with FrankySim(log=folder / "franky_sim.log") as sim:
        params = {"task": "disturbed_push", "robot_ip": "127.0.0.1", "realtime": False, "autostart": True}
        node_proc = subprocess.Popen(
            node_command("franka_arm_node", params), stdout=open(folder / "franka_arm_node.log", "w"), stderr=subprocess.STDOUT
        )
        probe = Probe("bench_arm_probe")
        node, ex = probe.node, probe.executor
        diag_log = probe.listen(topics.DIAGNOSTICS)
        pub = probe.publisher(topics.CMD_VEL)
        home = probe.client(topics.HOME)
        try:
            if not home.wait_for_service(timeout_sec=60):
                raise RuntimeError(f"franka_arm_node did not come up; see {folder / 'franka_arm_node.log'}")
            homed = probe.call(home, Trigger.Request(), 120)
            if homed is None or not homed.success:
                raise RuntimeError(f"homing failed: {homed.message if homed else 'no answer in 120 s'}")
            t0, k = time.monotonic(), 0
            with tqdm(total=int(seconds), unit="s", desc="commanding the arm at 5 Hz") as bar:
                while time.monotonic() - t0 < seconds + 1.5:
                    msg = TwistStamped()
                    msg.header.stamp = node.get_clock().now().to_msg()
                    msg.header.frame_id = "base"
                    # from rest, a move in a new direction (one command), then zeros until the arm
                    # is still again: every fifth command starts it, a clean latency sample
                    angle = 2 * math.pi * (k // 5) / 7
                    go = k % 5 == 0
                    msg.twist.linear.x = speed * math.cos(angle) if go else 0.0
                    msg.twist.linear.y = speed * math.sin(angle) if go else 0.0
                    pub.publish(msg)
                    k += 1
                    end = t0 + k * 0.2
                    while time.monotonic() < end:
                        ex.spin_once(timeout_sec=0.01)
                    bar.n = min(int(time.monotonic() - t0), int(seconds))
                    bar.refresh()
            values = {kv.key: kv.value for kv in diag_log[-1][1].status[0].values}
        finally:
            probe.close()
            stop_process(node_proc, 15)
    values["franky_sim_startup_s"] = f"{sim.startup_s:.2f}"
    values["commands"] = str(k)
    return values


def run(args: argparse.Namespace) -> int:
    v = measure(args.seconds, args.speed, Path("runs/bench_arm").resolve())
    f = lambda key: v.get(key, "n/a")  # noqa: E731
    text = (
        "\n".join(
            [
                f"Arm control loop (`ftrl bench-arm`): franka_arm_node -> franky-sim over libfranka's protocol, "
                f"{args.seconds:g} s of /ftrl/cmd_vel at 5 Hz ({f('commands')} commands; every fifth starts the arm from "
                f"rest, the latency samples), realtime off",
                "",
                "| loop rate | cycles | period p50 / p99 / max | jitter p50 / p99 | command stamp -> node (p50 / p99) | "
                "-> robot reports it (p50 / p99) | -> TCP moves (p50 / p99) | robot time / wall time |",
                "|---|---|---|---|---|---|---|---|",
                f"| {f('loop_rate_hz')} Hz | {f('loop_cycles')} | {f('loop_period_p50_ms')} / {f('loop_period_p99_ms')} / "
                f"{f('loop_period_max_ms')} ms | {f('loop_jitter_p50_ms')} / {f('loop_jitter_p99_ms')} ms | "
                f"{f('cmd_to_receive_p50_ms')} / {f('cmd_to_receive_p99_ms')} ms | "
                f"{f('cmd_to_ack_p50_ms')} / {f('cmd_to_ack_p99_ms')} ms (n = {f('cmd_to_ack_n')}) | "
                f"{f('cmd_to_motion_p50_ms')} / {f('cmd_to_motion_p99_ms')} ms (n = {f('cmd_to_motion_n')}) | "
                f"{f('robot_time_factor')} |",
                "",
                f"franky-sim started in {f('franky_sim_startup_s')} s.",
            ]
        )
        + "\n"
    )
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out.with_suffix(".md"), text)
    atomic_write_text(args.out.with_suffix(".json"), json.dumps(v, indent=2) + "\n")
    return 0

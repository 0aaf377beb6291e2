"""Write a RealSense recording (.db3, what a D435 recording holds) from a sim rollout.

One colour + aligned-depth frame per control step of the scripted expert, stamped at the control
period, written through pyrealsense2's software device so that playback (`camera_node` with
`playback_file`) runs the real library. A sidecar <out>.json holds the ground truth per frame
(object centres, TCP position and velocity, camera pose) for tests and for checking perception.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


from ..perception.realsense import depth_to_mm, write_recording
from ..scripted.experts import EXPERTS
from ..utils.atomic import atomic_write_text
from ..tasks import TASK_NAMES

TASKS = TASK_NAMES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", choices=TASKS, default="disturbed_push")
    p.add_argument("--steps", type=int, default=30, help="control steps (frames) to record")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="default data/recordings/<task>.db3")
    p.add_argument(
        "--fps",
        type=float,
        default=0.0,
        help="frame spacing of the recording (0 = the control period, 5 Hz: real speed; higher "
        "replays the same frames faster, e.g. 30 to feed the graph at a D435's rate)",
    )


def record(task: str, steps: int, seed: int, out: Path, fps: float = 0.0) -> dict:
    from ..sim.camera import CameraPose
    from ..sim.envs import make_task_env

    env = make_task_env(task, render_mode="rgbd_array")
    policy = EXPERTS[task]()
    period_ms = 1000.0 / fps if fps > 0 else env.spec_task.control_dt * 1000.0
    truth = []

    def frames():
        state, _ = env.reset(seed=seed)
        for i in range(steps):
            rgb, depth = env.render_rgbd()
            gt = env.ground_truth()
            t_ms = i * period_ms
            truth.append(
                {
                    "frame": i,
                    "timestamp_ms": t_ms,
                    "objects": {k: v.tolist() for k, v in gt.items() if k != "ee"},
                    "ee": gt["ee"].tolist(),
                    "ee_v": env.spec_task.layout.get(state, "ee_v").tolist(),
                }
            )
            yield rgb, depth_to_mm(depth), t_ms
            state, _, terminated, truncated, _ = env.step(policy(state))
            if terminated or truncated:
                state, _ = env.reset()

    try:
        n = write_recording(out, frames(), env.intrinsics, fps=int(round(1000 / period_ms)))
    finally:
        env.close()
    pose = CameraPose()
    meta = {
        "task": task,
        "seed": seed,
        "frames": n,
        "period_ms": period_ms,
        "camera": {"position": list(pose.position), "look_at": list(pose.look_at)},
        "truth": truth,
    }
    atomic_write_text(out.with_suffix(".json"), json.dumps(meta) + "\n")
    return meta


def run(args: argparse.Namespace) -> int:
    out = args.out or Path("data/recordings") / f"{args.task}.db3"
    meta = record(args.task, args.steps, args.seed, out, args.fps)
    print(f"wrote {meta['frames']} frames to {out} ({out.stat().st_size / 1e6:.1f} MB) and ground truth to {out.with_suffix('.json')}")
    return 0

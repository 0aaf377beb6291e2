"""Camera-to-robot calibration: find a ChArUco board lying at a known pose on the table in the
RealSense colour + depth stream and write the camera's pose into the params file that
state_estimator_node reads (camera_position, camera_look_at, camera_roll).

    ftrl calibrate-camera --task disturbed_push --print-board board.png     # print it at 100 %
    ftrl calibrate-camera --task disturbed_push --write                     # live D435, 30 frames
    ftrl calibrate-camera --task disturbed_push --playback rec.db3 --write  # a recording
    ftrl calibrate-camera --task disturbed_push --sim                       # rendered in MuJoCo

Lay the board flat with its top-left corner (as printed: the corner next to the first black
square) at --board-origin and its columns along --board-yaw (defaults per task in
BOARD_PLACEMENT: columns along +y, rows away from the robot), clear the table, keep the arm out
of view. Measure the printed square
and marker sizes and pass them if they differ from the defaults.
"""

from __future__ import annotations

from typing import Any

import argparse
import math
from pathlib import Path

import numpy as np

from ..perception.calibration import ChArUcoTarget, calibrate, pose_error, update_params_text
from ..perception.camera_model import CameraPose, Intrinsics
from ..utils.atomic import atomic_write_text
from ..utils.paths import package_dir
from ..tasks import TASK_NAMES

TASKS = TASK_NAMES
DEFAULT = ChArUcoTarget()
BOARD_PLACEMENT = {
    "disturbed_push": ((0.42, -0.16, 0.001), 90.0),
    "fragile_push_wall": ((0.30, -0.16, 0.001), 90.0),  # in front of the wall, which would hide its far rows
    "bounded_soccer": ((0.42, -0.16, 0.005), 90.0),  # lying on the turf's bumps
}
"""Where the board goes in each task's scene by default: (top-left corner x, y, z in m; yaw in
deg). The board is 32 x 24 cm; z is its surface."""


def target_for(task: str, **overrides) -> ChArUcoTarget:
    origin, yaw = BOARD_PLACEMENT[task]
    values: dict[str, Any] = dict(origin=origin, yaw=math.radians(yaw))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ChArUcoTarget(**values)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", choices=TASKS, default="disturbed_push")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--playback", type=Path, default=None, help="a RealSense recording instead of the live camera")
    src.add_argument("--sim", action="store_true", help="render the board in the task's MuJoCo scene")
    p.add_argument("--serial", default="", help="live camera serial number ('' = the first one)")
    p.add_argument("--frames", type=int, default=30, help="frames to use")
    p.add_argument("--squares", type=int, nargs=2, default=list(DEFAULT.squares), metavar=("X", "Y"))
    p.add_argument("--square", type=float, default=DEFAULT.square, help="square side, m")
    p.add_argument("--marker", type=float, default=DEFAULT.marker, help="marker side, m")
    p.add_argument("--dictionary", default=DEFAULT.dictionary)
    p.add_argument(
        "--board-origin",
        type=float,
        nargs=3,
        default=None,
        metavar=("X", "Y", "Z"),
        help="the board's top-left corner in the robot base frame, m (z: its surface; default: BOARD_PLACEMENT of the task)",
    )
    p.add_argument(
        "--board-yaw",
        type=float,
        default=None,
        help="direction of the board's columns (its x axis) in the base frame, deg (default 90: along +y)",
    )
    p.add_argument(
        "--sim-camera",
        type=float,
        nargs=7,
        default=None,
        metavar=("PX", "PY", "PZ", "LX", "LY", "LZ", "ROLL_DEG"),
        help="--sim: where the rendered camera really is (default: the params file's pose)",
    )
    p.add_argument("--params", type=Path, default=None, help="params file (default config/ftrl.yaml, shared by every task)")
    p.add_argument("--write", action="store_true", help="write the result into the params file")
    p.add_argument("--print-board", type=Path, default=None, help="write the board image (PNG) and stop")


def read_frames(args, target: ChArUcoTarget, truth: CameraPose) -> tuple[list, Intrinsics]:
    """(rgb, depth in m) frames and the colour intrinsics, from the sim, a recording or the camera."""
    if args.sim:
        from ..sim.calibration_scene import render_board

        return [render_board(args.task, target, truth)], Intrinsics()
    from ..perception.realsense import RealSenseSource

    source = RealSenseSource(serial=args.serial, playback_file=str(args.playback or ""), realtime=False)
    frames = []
    try:
        for _ in range(args.frames):
            frame = source.read()
            if frame is None:
                break
            frames.append((frame.rgb, frame.depth_mm.astype(np.float32) / 1000.0))  # published in mm
    finally:
        source.close()
    return frames, source.intrinsics


def run(args: argparse.Namespace) -> int:
    import yaml

    target = target_for(
        args.task,
        squares=tuple(args.squares),
        square=args.square,
        marker=args.marker,
        dictionary=args.dictionary,
        origin=tuple(args.board_origin) if args.board_origin else None,
        yaw=math.radians(args.board_yaw) if args.board_yaw is not None else None,
    )
    if problems := target.problems():
        raise SystemExit("board: " + "; ".join(problems))
    if args.print_board:
        import cv2

        cv2.imwrite(str(args.print_board), target.image(px_per_square=236))  # 600 dpi for a 4 cm square
        print(
            f"wrote {args.print_board}: {target.squares[0]}x{target.squares[1]} squares; print it so a square "
            f"measures {args.square * 100:g} cm and a marker {args.marker * 100:g} cm"
        )
        return 0
    params = args.params or package_dir("config") / "ftrl.yaml"  # the camera is the same for every task
    text = params.read_text()
    current = yaml.safe_load(text)["state_estimator_node"]["ros__parameters"]
    before = CameraPose(tuple(current["camera_position"]), tuple(current["camera_look_at"]), float(current.get("camera_roll", 0.0)))
    truth = before
    if args.sim_camera:
        v = args.sim_camera
        truth = CameraPose(tuple(v[:3]), tuple(v[3:6]), math.radians(v[6]))
    frames, intr = read_frames(args, target, truth)
    if not frames:
        raise SystemExit("no frames from the camera")
    try:
        cal = calibrate(target, frames, intr)
    except ValueError as exc:
        raise SystemExit(f"calibration failed: {exc}") from None
    p = cal.pose
    print(
        f"board found in {cal.frames} of {len(frames)} frames, {cal.corners} corners; reprojection RMS "
        f"{cal.reprojection_px:.2f} px; depth vs solved geometry at the corners: median {cal.depth_error_mm:.1f} mm"
    )
    print(f"camera_position: [{', '.join(f'{v:.4f}' for v in p.position)}]   (m, base frame)")
    print(f"camera_look_at:  [{', '.join(f'{v:.4f}' for v in p.look_at)}]")
    print(f"camera_roll:     {p.roll:.5f} rad ({math.degrees(p.roll):.2f} deg)")
    dp, da = pose_error(p, before)
    print(f"change from {params}: {dp * 1000:.1f} mm, {da:.2f} deg")
    if args.sim:
        dp, da = pose_error(p, truth)
        print(f"error against the rendered camera: {dp * 1000:.2f} mm, {da:.3f} deg (targets 5 mm, 0.5 deg)")
    if args.write:
        atomic_write_text(params, update_params_text(text, p))
        print(f"wrote the camera pose into {params} (state_estimator_node)")
    return 0

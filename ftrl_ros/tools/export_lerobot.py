"""Runs and recorded bags -> a LeRobotDataset (v3.0) per task, with our failure labels per step
(``ir_failure``, ``cost``, ``constraint``, ``risk``, ``eps_safe``, ``source``) and per episode
(success, IR failure, interventions): see ``ftrl_ros.interop.lerobot``.

    ftrl export-lerobot runs/ros/disturbed_push_*/episodes runs/ros/*/bags/* --out datasets/push

A source is a folder of episode files (``*.npz``: a run's ``episodes/``, ``ftrl collect`` or
``train-offline`` demos; searched recursively) or a rosbag2 folder (``metadata.yaml``; assembled
as ``ftrl bag-to-dataset`` does). Several tasks give one dataset each, under ``--out/<task>``.
Load it with LeRobot: ``LeRobotDataset("local/<task>", root="<out>")``.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..control.bag_episodes import episode_frames, episodes_from_bag, read_bag_images
from ..interop.lerobot import LeRobotError, write_dataset
from ..learning.dataset import DatasetError, Episode, load_episode


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", nargs="+", type=Path, help="episode folders (*.npz, recursive) or rosbag2 folders")
    p.add_argument("--out", type=Path, required=True, help="dataset folder (one task) or parent of one per task")
    p.add_argument("--task", default=None, help="a bag's task (default: the one whose state layout it carries)")
    p.add_argument("--kinds", default="", help="keep only these episode kinds (comma list: task_demo,online,...)")
    p.add_argument("--robot-type", default="franka_panda", help="info.json's robot_type")
    p.add_argument("--check", action="store_true", help="load the result with LeRobot's LeRobotDataset (.venv-lerobot)")


def read_source(path: Path, task: str | None) -> list[tuple[Episode, np.ndarray | None]]:
    """The episodes of one source, in order, each with its camera frames (bags that recorded the
    colour image; else None)."""
    if (path / "metadata.yaml").is_file() or path.suffix in (".mcap", ".db3"):
        images = read_bag_images(path)
        return [(ep, episode_frames(ep, images)) for ep in episodes_from_bag(path, task)]
    if path.is_file():
        return [(load_episode(path), None)]
    files = sorted(path.rglob("*.npz"))
    if not files:
        raise FileNotFoundError(f"{path}: neither a bag (metadata.yaml) nor a folder with episode files (*.npz)")
    return [(load_episode(f), None) for f in files]


def run(args: argparse.Namespace) -> int:
    kinds = {k for k in args.kinds.split(",") if k}
    by_task: dict[str, list[tuple[Episode, np.ndarray | None]]] = defaultdict(list)
    for src in args.sources:
        try:
            found = read_source(src, args.task)
        except (FileNotFoundError, ValueError, DatasetError) as exc:
            raise SystemExit(f"{src}: {exc}") from None
        kept = [(ep, frames) for ep, frames in found if not kinds or ep.meta.get("kind") in kinds]
        for ep, frames in kept:
            by_task[str(ep.meta.get("task"))].append((ep, frames))
        print(f"{src}: {len(kept)} episodes")
    if not by_task:
        print("no episodes to export")
        return 1
    for task, pairs in sorted(by_task.items()):
        dest = args.out if len(by_task) == 1 else args.out / task
        chosen = [ep for ep, _ in pairs]
        with_frames = sum(frames is not None for _, frames in pairs)
        videos = [frames for _, frames in pairs if frames is not None] if with_frames == len(pairs) else None
        if 0 < with_frames < len(pairs):
            print(f"{task}: only {with_frames} of {len(pairs)} episodes have camera frames: no video written")
        try:
            info = write_dataset(chosen, dest, robot_type=args.robot_type, videos=videos)
        except LeRobotError as exc:
            raise SystemExit(f"{task}: {exc}") from None
        failed = sum(ep.failed for ep in chosen)
        print(
            f"{task}: {info['total_episodes']} episodes, {info['total_frames']} frames at {info['fps']} fps "
            f"({failed} with an IR failure){', camera as video' if videos else ''} -> {dest}"
        )
        if args.check:
            from ..interop.lerobot_check import differences, load_with_lerobot, video_psnr

            decoded = dest / ".decoded.npy" if videos else None
            seen = load_with_lerobot(dest, frames=True, decode_video=decoded)
            print(f"  LeRobot {seen['lerobot']} loads it: {seen['num_episodes']} episodes, {seen['num_frames']} frames")
            bad = differences(chosen, seen, task)
            if bad:
                print("  LeRobot sees other values than were written:\n    " + "\n    ".join(bad))
                return 1
            print("  every feature of every frame equals the source")
            if videos and decoded is not None:
                psnr = video_psnr(np.load(decoded), np.concatenate(videos))
                decoded.unlink()
                print(
                    f"  video ({seen['video']['frames']} frames) decoded with PyAV: PSNR vs the bag's images "
                    f"min {psnr.min():.1f} dB, mean {psnr.mean():.1f} dB"
                )
                if psnr.min() < 30.0:
                    return 1
    return 0

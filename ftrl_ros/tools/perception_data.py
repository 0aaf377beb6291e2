"""Render the synthetic YOLO training set: labelled frames of every task with domain randomisation.

Writes an ultralytics dataset (images/, labels/ in YOLO txt format, data.yaml) to --out. Frames
are rendered at 640x480 like the RealSense colour stream; labels are visible boxes from MuJoCo's
segmentation render. See ftrl_ros/perception_training/synth.py for what is randomised.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import yaml
from tqdm import tqdm

from ..perception.objects import load_catalogue
from ..perception_training.synth import frames
from ..utils.atomic import atomic_write_text
from ..tasks import TASK_NAMES

TASKS = TASK_NAMES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("data/yolo"), help="dataset folder")
    p.add_argument("--frames", type=int, default=450, help="training frames per task")
    p.add_argument("--val-frames", type=int, default=60, help="validation frames per task (other seeds)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--catalogue", type=Path, default=None, help="object catalogue (default config/perception.yaml)")


def yolo_line(class_id: int, box: tuple[int, int, int, int], width: int, height: int) -> str:
    x, y, w, h = box
    return f"{class_id} {(x + w / 2) / width:.6f} {(y + h / 2) / height:.6f} {w / width:.6f} {h / height:.6f}"


def run(args: argparse.Namespace) -> int:
    cat = load_catalogue(args.catalogue)
    out = args.out.resolve()
    counts: dict[str, int] = {}
    for split, n, seed in (("train", args.frames, args.seed), ("val", args.val_frames, args.seed + 7919)):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        for task in TASKS:
            for i, f in enumerate(tqdm(frames(task, cat, n, seed), total=n, desc=f"{split} {task}", unit="frame")):
                stem = f"{task}_{seed}_{i:05d}"
                h, w = f.rgb.shape[:2]
                cv2.imwrite(
                    str(out / "images" / split / f"{stem}.jpg"), cv2.cvtColor(f.rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92]
                )
                atomic_write_text(
                    out / "labels" / split / f"{stem}.txt", "".join(yolo_line(lab.class_id, lab.box, w, h) + "\n" for lab in f.labels)
                )
                for lab in f.labels:
                    counts[f"{split}/{lab.name}"] = counts.get(f"{split}/{lab.name}", 0) + 1
    atomic_write_text(
        out / "data.yaml",
        yaml.safe_dump(
            {"path": str(out), "train": "images/train", "val": "images/val", "names": dict(enumerate(cat.class_names))}, sort_keys=False
        ),
    )
    print(f"dataset in {out}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0

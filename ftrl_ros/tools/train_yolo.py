"""Train YOLOv8n from its yaml (random initialisation, no downloaded weights) on the synthetic set
and export it to ONNX for onnxruntime inference.

Writes models/yolo_objects.pt (trained weights), models/yolo_objects.onnx (what the state
estimator runs, weights stored as float16) and models/yolo_objects.json (classes, input size, validation mAP, how it was
made). Nothing touches the network (see ftrl_ros/perception_training/yolo_offline.py). On 2 CPU cores the
default settings take about half an hour; a CUDA machine uses its GPU with --device 0.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from ..perception_training.onnx_compact import compact_onnx
from ..utils.atomic import atomic_path, atomic_write_text

INPUT_HW = (224, 288)
"""Network input (height, width) at run time: a 640x480 frame scaled to 288x216, padded to a
multiple of 32. Training runs at 320; at 224x288 accuracy was the same and the estimator 3 ms
faster (p50 17 vs 20 ms per frame, `ftrl bench-perception`)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=Path("data/yolo/data.yaml"), help="from `ftrl perception-data`")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--workers", type=int, default=2, help="data-loader processes")
    p.add_argument("--device", default="cpu", help="'cpu' or a CUDA index")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--run-dir", type=Path, default=Path("runs/yolo"), help="ultralytics logs and plots")
    p.add_argument("--models", type=Path, default=Path("models"), help="where the shipped files go")
    p.add_argument("--name", default="yolo_objects", help="base name of the shipped files")


def run(args: argparse.Namespace) -> int:
    from ..perception_training.yolo_offline import prepare_offline_ultralytics

    if not args.data.is_file():
        print(f"no dataset at {args.data}: run `ftrl perception-data` first", file=sys.stderr)
        return 2
    run_dir = args.run_dir.resolve()
    tv_mode = prepare_offline_ultralytics(run_dir / "config")
    import ultralytics
    from ultralytics import YOLO

    t0 = time.time()
    model = YOLO("yolov8n.yaml")  # architecture only
    model.train(
        data=str(args.data.resolve()),
        epochs=args.epochs,
        imgsz=320,
        batch=args.batch,
        device=args.device,
        workers=args.workers,
        project=str(run_dir),
        name="train",
        exist_ok=True,
        seed=args.seed,
        deterministic=True,
        pretrained=False,
        amp=False,
        plots=True,
        close_mosaic=5,
        verbose=False,
    )
    train_s = time.time() - t0
    best = run_dir / "train" / "weights" / "best.pt"
    trained = YOLO(str(best))
    metrics = trained.val(
        data=str(args.data.resolve()),
        imgsz=320,
        batch=args.batch,
        device=args.device,
        plots=False,
        verbose=False,
        project=str(run_dir),
        name="val",
        exist_ok=True,
    )
    onnx_path = Path(trained.export(format="onnx", imgsz=list(INPUT_HW), simplify=True, dynamic=False, device=args.device))
    args.models.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.models / f"{args.name}.pt") as tmp:
        shutil.copyfile(best, tmp)
    with atomic_path(args.models / f"{args.name}.onnx") as tmp:
        compact_onnx(onnx_path, tmp)  # float16 weights: 6 MB instead of 12, float32 inference
    per_class = {trained.names[c]: round(float(metrics.box.maps[c]), 4) for c in range(len(trained.names))}
    info = {
        "classes": [trained.names[i] for i in range(len(trained.names))],
        "input_hw": list(INPUT_HW),
        "val_map50": round(float(metrics.box.map50), 4),
        "val_map50_95": round(float(metrics.box.map), 4),
        "val_map50_95_per_class": per_class,
        "epochs": args.epochs,
        "batch": args.batch,
        "seed": args.seed,
        "device": args.device,
        "train_minutes": round(train_s / 60, 1),
        "ultralytics": ultralytics.__version__,
        "torchvision_ops": tv_mode,
        "made_by": "ftrl perception-data && ftrl train-yolo",
    }
    atomic_write_text(args.models / f"{args.name}.json", json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))
    return 0

"""Benchmark the state estimator on freshly rendered, randomised frames (seeds never trained on).

Per task: detection rate and 3-D position error against MuJoCo's ground truth for every object at
least half visible (the arm hides the rest), for YOLO + colour fusion and, as an ablation, the
colour filter alone; and the estimator's latency per 640x480 frame (colour + depth in, state
out) with onnxruntime on --threads threads. Each frame is measured on its own (tracks reset), and
the estimator is given the camera pose the frame was rendered from (a calibrated camera).
Targets (issue 4): detection >= 99 %, median error <= 1 cm, p95 <= 3 cm, latency p50 <= 20 ms.
"""

from __future__ import annotations

from typing import Any

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..perception.camera_model import Intrinsics
from ..perception.detector import OnnxDetector
from ..perception.estimator import StateEstimator
from ..perception.objects import load_catalogue
from ..perception_training.synth import frames
from ..utils.atomic import atomic_write_text
from ..utils.paths import package_dir
from ..tasks import TASK_NAMES

TASKS = TASK_NAMES
MIN_VISIBILITY = 0.5


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frames", type=int, default=200, help="frames per task")
    p.add_argument("--seed", type=int, default=123456, help="rendering seed (training used 0 and 7919)")
    p.add_argument("--threads", type=int, default=2, help="onnxruntime threads")
    p.add_argument("--model", type=Path, default=None, help="ONNX detector (default models/yolo_objects.onnx)")
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    p.add_argument("--out", type=Path, default=Path("docs/bench_perception"), help="writes .md and .json here")


def evaluate_task(task: str, n: int, seed: int, detector: OnnxDetector, catalogue) -> dict:
    fused = StateEstimator(task, catalogue, Intrinsics(), None, detector)
    colour = StateEstimator(task, catalogue, Intrinsics(), None, None)
    rows: dict[str, list] = {"fusion": [], "colour": []}  # (object, found, error or nan, source)
    latency = []
    for f in tqdm(frames(task, catalogue, n, seed), total=n, desc=task, unit="frame", leave=False):
        for name, est in (("fusion", fused), ("colour", colour)):
            est.reset()
            est.set_camera(Intrinsics(), f.camera)
            t0 = time.perf_counter()
            found = est.observe(f.rgb, f.depth, 0.0)
            est.state(0.0, f.ground_truth["ee"][:2], np.zeros(2))
            if name == "fusion":
                latency.append(time.perf_counter() - t0)
            for label in f.labels:
                if label.name not in found or label.visibility < MIN_VISIBILITY:
                    continue
                e = found[label.name]
                err = float(np.linalg.norm(e.xyz[:2] - label.center[:2])) if e.xyz is not None else float("nan")
                rows[name].append((label.name, e.xyz is not None, err, e.source))
    out: dict[str, Any] = {"frames": n}
    for name, r in rows.items():
        hit = np.array([x[1] for x in r])
        errs = np.array([x[2] for x in r if x[1]])
        out[name] = {
            "objects": len(r),
            "detection_rate": float(hit.mean()) if len(r) else float("nan"),
            "median_cm": float(np.median(errs) * 100) if errs.size else float("nan"),
            "p95_cm": float(np.percentile(errs, 95) * 100) if errs.size else float("nan"),
            "sources": {s: sum(1 for x in r if x[3] == s) for s in sorted({x[3] for x in r})},
            "per_object": {
                o: {
                    "rate": float(np.mean([x[1] for x in r if x[0] == o])),
                    "median_cm": float(np.nanmedian([x[2] for x in r if x[0] == o]) * 100),
                }
                for o in sorted({x[0] for x in r})
            },
        }
    lat = np.array(latency) * 1000
    out["latency_ms"] = {"p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)), "mean": float(lat.mean())}
    return out


def run(args: argparse.Namespace) -> int:
    catalogue = load_catalogue()
    model = args.model or package_dir("models") / "yolo_objects.onnx"
    detector = OnnxDetector(model, threads=args.threads)
    results = {t: evaluate_task(t, args.frames, args.seed, detector, catalogue) for t in args.tasks}
    lines = [
        f"Perception benchmark: {args.frames} randomised frames per task, objects >= "
        f"{MIN_VISIBILITY:.0%} visible, onnxruntime {args.threads} thread(s), `ftrl bench-perception`",
        "",
        "| task | method | objects | detection | median error | p95 error | latency p50 / p99 |",
        "|---|---|---|---|---|---|---|",
    ]
    ok = True
    for task, r in results.items():
        for name in ("fusion", "colour"):
            m = r[name]
            lat = f"{r['latency_ms']['p50']:.1f} / {r['latency_ms']['p99']:.1f} ms" if name == "fusion" else ""
            lines.append(
                f"| {task} | {'YOLO + colour' if name == 'fusion' else 'colour only'} | {m['objects']} | "
                f"{m['detection_rate']:.1%} | {m['median_cm']:.2f} cm | {m['p95_cm']:.2f} cm | {lat} |"
            )
        f = r["fusion"]
        ok &= f["detection_rate"] >= 0.99 and f["median_cm"] <= 1.0 and f["p95_cm"] <= 3.0 and r["latency_ms"]["p50"] <= 20
    lines += [
        "",
        "Per object (YOLO + colour): "
        + "; ".join(
            f"{task}/{o}: {v['rate']:.1%}, {v['median_cm']:.2f} cm"
            for task, r in results.items()
            for o, v in r["fusion"]["per_object"].items()
        ),
        "",
        "Sources (YOLO + colour): " + "; ".join(f"{task}: {r['fusion']['sources']}" for task, r in results.items()),
        "",
        f"Targets (detection >= 99 %, median <= 1 cm, p95 <= 3 cm, p50 <= 20 ms): {'met' if ok else 'NOT met'}",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out.with_suffix(".md"), text)
    atomic_write_text(args.out.with_suffix(".json"), json.dumps(results, indent=2) + "\n")
    return 0 if ok else 1

"""Load a LeRobotDataset with LeRobot's own ``LeRobotDataset`` class and print what it holds as
JSON: info, tasks, episode rows, stats and every frame (``dataset[i]`` for all i). Runs in the
LeRobot venv (``.venv-lerobot``, ``scripts/bootstrap.sh --test``), not in ours:

    .venv-lerobot/bin/python scripts/lerobot_dump.py DATASET_DIR [--frames]
"""

import importlib.util
import json
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded: the dataset is local
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# the PyPI torchvision is a CUDA build: next to the CPU torch its operators need a stand-in
_ops = Path(__file__).resolve().parents[1] / "ftrl_ros" / "perception_training" / "torchvision_ops.py"
_spec = importlib.util.spec_from_file_location("torchvision_ops", _ops)
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
_mod.ensure_torchvision()

from lerobot.datasets.lerobot_dataset import LeRobotDataset  # noqa: E402


def plain(v):
    if hasattr(v, "tolist"):
        v = v.tolist()
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else str(v)
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def main() -> int:
    root = Path(sys.argv[1])
    ds = LeRobotDataset(f"local/{root.name}", root=root)
    out = {
        "lerobot": __import__("lerobot").__version__,
        "num_episodes": ds.num_episodes,
        "num_frames": ds.num_frames,
        "fps": ds.fps,
        "features": ds.meta.features,
        "tasks": list(ds.meta.tasks.index),
        "episodes": [{k: plain(v) for k, v in ds.meta.episodes[i].items()} for i in range(ds.num_episodes)],
        "stats": {k: {s: plain(v) for s, v in d.items()} for k, d in (ds.meta.stats or {}).items()},
    }
    if "--frames" in sys.argv:
        out["frames"] = [{k: plain(v) for k, v in ds[i].items()} for i in range(len(ds))]
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

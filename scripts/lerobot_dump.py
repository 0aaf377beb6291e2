"""Load a LeRobotDataset with LeRobot's own ``LeRobotDataset`` class and print what it holds as
JSON: info, tasks, episode rows, stats and every frame (``dataset[i]`` for all i). Runs in the
LeRobot venv (``.venv-lerobot``, ``scripts/bootstrap.sh --test``), not in ours:

    .venv-lerobot/bin/python scripts/lerobot_dump.py DATASET_DIR [--frames] [--decode-video OUT.npy]

LeRobot 0.4.4 decodes videos with torchcodec (its PyPI wheel is a CUDA build: it does not load
next to the CPU torch) or torchvision's VideoReader (gone from torchvision 0.28). So for a dataset
with a video, frames come from the parquet rows LeRobot loaded (``dataset.hf_dataset``, what
``dataset[i]`` returns besides the video), and ``--decode-video`` decodes the video file LeRobot's
metadata points to with PyAV (the library LeRobot's own "pyav" backend uses) into an .npy file.
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
    out["video_keys"] = list(ds.meta.video_keys)
    if "--frames" in sys.argv:
        if ds.meta.video_keys:
            names = list(ds.meta.tasks.index)
            rows = ds.hf_dataset.with_format(None)
            out["frames"] = [{**{k: plain(v) for k, v in r.items()}, "task": names[int(r["task_index"])]} for r in rows]
        else:
            out["frames"] = [{k: plain(v) for k, v in ds[i].items()} for i in range(len(ds))]
    if "--decode-video" in sys.argv:
        import av
        import numpy as np

        dest = sys.argv[sys.argv.index("--decode-video") + 1]
        key = ds.meta.video_keys[0]
        path = ds.root / ds.meta.get_video_file_path(0, key)
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        np.save(dest, np.stack(frames))
        out["video"] = {"key": key, "path": str(path), "frames": len(frames)}
        rows = [ds.meta.episodes[i] for i in range(ds.num_episodes)]
        out["video_ranges"] = [[r[f"videos/{key}/from_timestamp"], r[f"videos/{key}/to_timestamp"]] for r in rows]
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Load a dataset with LeRobot's own ``LeRobotDataset`` (in its venv, ``.venv-lerobot``) and get back
what it sees: the check that our v3.0 files are what LeRobot reads, not only what we read."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np

from ..learning.dataset import Episode
from ..tasks import get_task
from .lerobot import STEP_FEATURES, episode_row, frame_columns

ROOT = Path(__file__).resolve().parents[2]


def venv() -> Path:
    """``.venv-lerobot`` (``scripts/bootstrap.sh --lerobot`` or ``--test``); ``FTRL_LEROBOT_VENV`` overrides."""
    return Path(os.environ.get("FTRL_LEROBOT_VENV", ROOT / ".venv-lerobot"))


def load_with_lerobot(dataset: str | Path, frames: bool = False, timeout: float = 600.0, decode_video: str | Path | None = None) -> dict:
    """``scripts/lerobot_dump.py``'s JSON: info, tasks, episode rows, stats (and every frame);
    ``decode_video``: an .npy path the dataset's video is decoded into (PyAV, in LeRobot's venv)."""
    python = venv() / "bin" / "python"
    if not python.is_file():
        raise FileNotFoundError(f"LeRobot's venv not found at {venv()}: run scripts/bootstrap.sh --lerobot")
    import tempfile

    cache = tempfile.TemporaryDirectory(prefix="ftrl-hf-")  # datasets' arrow cache: thrown away after
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.setdefault("HF_HOME", cache.name)
    cmd = [str(python), str(ROOT / "scripts" / "lerobot_dump.py"), str(dataset)] + (["--frames"] if frames else [])
    cmd += ["--decode-video", str(decode_video)] if decode_video else []
    with cache:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"LeRobot could not load {dataset}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


def _equal(got, want) -> bool:
    g = np.asarray([np.nan if v is None else v for v in np.atleast_1d(np.asarray(got, dtype=object))], np.float64)
    return g.shape == np.atleast_1d(want).shape and bool(np.array_equal(g, np.atleast_1d(want).astype(np.float64), equal_nan=True))


def differences(episodes: list[Episode], seen: dict, task: str, limit: int = 20) -> list[str]:
    """Where what LeRobot loaded (:func:`load_with_lerobot` with frames) differs from the source
    episodes: counts, task, fps, state names, and every feature of every frame (float32 as written,
    NaN where the source has NaN), episode outcome rows. Empty: LeRobot sees exactly our data."""
    spec = get_task(task)
    out: list[str] = []
    want = {
        "num_episodes": len(episodes),
        "num_frames": sum(len(e) for e in episodes),
        "tasks": [task],
        "fps": round(1 / spec.control_dt),
    }
    out += [f"{k}: LeRobot {seen.get(k)!r}, written {v!r}" for k, v in want.items() if seen.get(k) != v]
    if seen["features"]["observation.state"]["names"] != list(spec.layout.names):
        out.append("observation.state names differ from the task's layout")
    frames = iter(seen.get("frames", []))
    for i, ep in enumerate(episodes):
        cols = frame_columns(ep, task)
        for t in range(len(ep)):
            f = next(frames, None)
            if f is None:
                return out + [f"episode {i}: LeRobot has no frame {t}"]
            if (f["episode_index"], f["frame_index"], f["task"]) != (i, t, task):
                out.append(f"episode {i} frame {t}: LeRobot's is episode {f['episode_index']} frame {f['frame_index']} ({f['task']})")
            if abs(f["timestamp"] - t * spec.control_dt) > 1e-5:
                out.append(f"episode {i} frame {t}: timestamp {f['timestamp']}")
            for key in ("observation.state", *STEP_FEATURES):
                value = np.asarray(cols[key][t], np.float32 if cols[key].dtype.kind == "f" else np.float64)
                if not _equal(f[key], value):
                    out.append(f"episode {i} frame {t}: {key} LeRobot {f[key]}, source {value.tolist()}")
            if len(out) >= limit:
                return out
        row, mine = seen["episodes"][i], episode_row(ep)
        out += [f"episode {i}: {k} LeRobot {row.get(k)!r}, source {v!r}" for k, v in mine.items() if k != "return" and row.get(k) != v]
        if row.get("length") != len(ep):
            out.append(f"episode {i}: length {row.get('length')} vs {len(ep)}")
    return out[:limit]


def video_psnr(decoded: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Per frame PSNR (dB) of the decoded video against the frames written (MPEG-4 is lossy)."""
    if decoded.shape != source.shape:
        raise ValueError(f"decoded video {decoded.shape} vs source frames {source.shape}")
    mse = ((decoded.astype(np.float64) - source.astype(np.float64)) ** 2).reshape(len(source), -1).mean(1)
    return 10 * np.log10(255.0**2 / np.maximum(mse, 1e-12))

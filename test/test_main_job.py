"""The README's main job (ftrl sim-batch) end to end: per-episode lines, a GIF and a summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio

ROOT = Path(__file__).resolve().parents[1]


def test_sim_batch_writes_video_and_summary(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "ftrl_ros.cli", "sim-batch", "--episodes", "2", "--runs-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "IR failure" in out.stdout and "success" in out.stdout
    (run_dir,) = list(tmp_path.iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["episodes"] == 2 and len(summary["episodes_detail"]) == 2
    frames = iio.imread(run_dir / "episode_0.gif")
    # one frame per step (the GIF encoder merges identical consecutive frames, e.g. while waiting)
    assert 10 <= frames.shape[0] <= summary["episodes_detail"][0]["steps"] + 1
    assert frames.shape[1:3] == (240, 320)
    assert frames.std() > 5  # not a blank video


def test_sim_batch_rejects_bad_arguments():
    out = subprocess.run([sys.executable, "-m", "ftrl_ros.cli", "sim-batch", "--episodes", "0"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode != 0 and "--episodes" in out.stderr

"""The package builds with colcon as an ament_python package and installs what ROS expects."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_colcon_build_installs_package(tmp_path):
    colcon = Path(sys.executable).with_name("colcon")
    src = tmp_path / "src" / "ftrl_ros"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "runs", "__pycache__", "*.egg-info", "build", "install", "log"))
    out = subprocess.run([str(colcon), "build", "--base-paths", str(tmp_path / "src"),
                          "--build-base", str(tmp_path / "build"), "--install-base", str(tmp_path / "install")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    share = tmp_path / "install" / "ftrl_ros" / "share"
    assert (share / "ament_index" / "resource_index" / "packages" / "ftrl_ros").is_file()
    assert (share / "ftrl_ros" / "package.xml").is_file()
    for scene in ("table", "disturbed_push", "fragile_push_wall", "bounded_soccer"):
        assert (share / "ftrl_ros" / "sim" / f"{scene}.xml").is_file()
    assert (tmp_path / "install" / "ftrl_ros" / "lib" / "ftrl_ros" / "ftrl").is_file()


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "ftrl_ros.cli", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    assert "sim-batch" in out.stdout and "bench-sim" in out.stdout

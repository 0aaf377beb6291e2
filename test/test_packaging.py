"""The package builds with colcon as an ament_python package and installs what ROS expects."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ftrl_ros.tasks import TASK_NAMES

ROOT = Path(__file__).resolve().parents[1]


def test_colcon_build_installs_package(tmp_path):
    colcon = Path(sys.executable).with_name("colcon")
    src = tmp_path / "src" / "ftrl_ros"
    shutil.copytree(
        ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "runs", "__pycache__", "*.egg-info", "build", "install", "log")
    )
    out = subprocess.run(
        [
            str(colcon),
            "build",
            "--base-paths",
            str(tmp_path / "src"),
            "--build-base",
            str(tmp_path / "build"),
            "--install-base",
            str(tmp_path / "install"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    share = tmp_path / "install" / "ftrl_ros" / "share"
    assert (share / "ament_index" / "resource_index" / "packages" / "ftrl_ros").is_file()
    assert (share / "ftrl_ros" / "package.xml").is_file()
    for scene in ("table", *TASK_NAMES):
        assert (share / "ftrl_ros" / "sim" / f"{scene}.xml").is_file()
    assert (tmp_path / "install" / "ftrl_ros" / "lib" / "ftrl_ros" / "ftrl").is_file()


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "ftrl_ros.cli", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    assert "sim-batch" in out.stdout and "bench-sim" in out.stdout


ROS_PACKAGES = {"rclpy", "launch", "launch_ros", "ament_index_python"}
ROSDEP_KEYS = {"numpy": "python3-numpy", "yaml": "python3-yaml", "matplotlib": "python3-matplotlib"}


def _imports() -> set[str]:
    import ast

    names: set[str] = set()
    for path in [*ROOT.joinpath("ftrl_ros").rglob("*.py"), *ROOT.joinpath("launch").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_package_xml_depends_on_what_the_code_imports():
    import xml.etree.ElementTree as ET

    root = ET.parse(ROOT / "package.xml").getroot()
    deps = {e.text for e in root.iter("exec_depend")}
    imported = _imports()
    ros = {n for n in imported if n in ROS_PACKAGES or n.endswith(("_msgs", "_srvs", "_interfaces"))}
    assert ros <= deps, f"imported but not in package.xml: {sorted(ros - deps)}"
    assert {k for n, k in ROSDEP_KEYS.items() if n in imported} <= deps
    ros_deps = {d for d in deps if not d.startswith("python3-")}
    assert ros_deps <= ros, f"in package.xml but never imported: {sorted(ros_deps - ros)}"
    assert "python3-opencv" not in deps  # the code uses pip's opencv-python-headless


def test_one_version():
    import xml.etree.ElementTree as ET
    import ftrl_ros

    version = ET.parse(ROOT / "package.xml").getroot().findtext("version")
    assert ftrl_ros.__version__ == version
    assert f"## {version}" in (ROOT / "CHANGELOG.md").read_text()

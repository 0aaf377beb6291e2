"""Which ROS 2 distribution this process runs (for bag metadata): $ROS_DISTRO where a ROS install
set it, else the distro of the installed rclpy wheel."""

from __future__ import annotations

import os
from importlib import metadata

_RCLPY_MAJOR = {3: "humble", 7: "jazzy", 9: "kilted"}


def ros_distro() -> str:
    if os.environ.get("ROS_DISTRO"):
        return os.environ["ROS_DISTRO"]
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name.startswith("ros-") and name.endswith("-rclpy") and name.count("-") == 2:
            return name.split("-")[1]
    try:
        return _RCLPY_MAJOR.get(int(metadata.version("rclpy").split(".")[0]), "unknown")
    except metadata.PackageNotFoundError:
        return "unknown"

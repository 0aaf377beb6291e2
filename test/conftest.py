"""Shared fixtures. ROS tests rely on test.sh having put pytest inside an isolated network
namespace (scripts/isolated.sh); the env vars below keep DDS on localhost in any case."""

from __future__ import annotations

import os
import random

import pytest

from ftrl_ros.tasks import TASK_NAMES

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")

TASKS = TASK_NAMES


@pytest.fixture(params=TASKS)
def task(request) -> str:
    return request.param

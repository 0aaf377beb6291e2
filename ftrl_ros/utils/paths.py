"""Where the package's data folders (sim/, config/, models/) are: the repo checkout when running
from source or an editable install, the ament share directory once installed with colcon."""

from __future__ import annotations

from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]


def package_dir(name: str, marker: str | None = None) -> Path:
    """``name`` is one of the folders setup.py installs; ``marker`` a file that must be in it."""
    here = _ROOT / name
    if here.is_dir() and (marker is None or (here / marker).exists()):
        return here
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("ftrl_ros")) / name
    except Exception as exc:  # only without a checkout and without ament
        raise FileNotFoundError(f"cannot find the ftrl_ros {name}/ folder") from exc

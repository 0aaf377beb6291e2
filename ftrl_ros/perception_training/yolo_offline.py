"""Run ultralytics with no network access at all (training and export only).

Ultralytics reaches out in three places: an online check at import (``YOLO_OFFLINE=1`` stops it),
auto-installing missing requirements (``YOLO_AUTOINSTALL=False``) and fetching Arial.ttf for plot
labels during dataset checks, even with plots off. The font is satisfied from a local copy of
matplotlib's DejaVuSans placed in a project-local ``YOLO_CONFIG_DIR`` (which also keeps its
settings file out of the user's home). The torchvision fallback is applied only where
torchvision's own operators fail to load.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .torchvision_ops import ensure_torchvision

FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")


def prepare_offline_ultralytics(config_dir: Path) -> str:
    """Set the environment before ``import ultralytics``; returns the torchvision mode used."""
    import matplotlib

    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "False"
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    fonts = Path(config_dir) / "Ultralytics"
    fonts.mkdir(parents=True, exist_ok=True)
    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in FONT_NAMES:
        if not (fonts / name).exists():
            shutil.copyfile(dejavu, fonts / name)
    return ensure_torchvision()

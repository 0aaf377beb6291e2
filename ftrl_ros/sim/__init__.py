"""MuJoCo stand-in for the Franka + RealSense: scenes, controller, camera, envs.

Rendering is headless by default (``MUJOCO_GL=egl``; set ``MUJOCO_GL=osmesa`` where EGL is
missing). The variable must be set before mujoco is first imported, hence here.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

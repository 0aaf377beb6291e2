"""Start and stop franky-sim: a MuJoCo server that speaks libfranka's network protocol, so the
arm node, its tests and ``ftrl bench-arm`` talk to it exactly as to a real control unit.

It needs mujoco 4 (the project pins 3.3.0 for Meta-World), so it lives in its own venv,
``.venv-franka-sim`` (``scripts/bootstrap.sh --test``; ``FTRL_FRANKA_SIM_VENV`` overrides).
It binds 127.0.0.1 only: ports 1337 (robot) and 1338 (gripper).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROBOT_PORT = 1337


def venv() -> Path:
    default = Path(__file__).resolve().parents[2] / ".venv-franka-sim"
    return Path(os.environ.get("FTRL_FRANKA_SIM_VENV", default))


def executable() -> Path:
    exe = venv() / "bin" / "franky-sim"
    if not exe.is_file():
        raise FileNotFoundError(f"franky-sim not found at {exe}: run scripts/bootstrap.sh --test")
    return exe


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


class FrankySim:
    """``with FrankySim() as sim:`` -- a simulated FR3 at 127.0.0.1, started at the default
    pose (q = [0, 0, 0, -pi/2, 0, pi/2, pi/4]); ``restart()`` starts a fresh one (what a test
    needs after killing it to force a communication error)."""

    def __init__(self, host: str = "127.0.0.1", log: Path | None = None, timeout: float = 60.0):
        self.host, self.log, self.timeout = host, log, timeout
        self.proc: subprocess.Popen | None = None
        self.startup_s = float("nan")

    def start(self) -> "FrankySim":
        if _port_open(self.host, ROBOT_PORT):
            raise RuntimeError(f"something already listens on {self.host}:{ROBOT_PORT} (another franky-sim?)")
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        t0 = time.monotonic()
        env = dict(os.environ, MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
        self.proc = subprocess.Popen(
            [str(executable()), "-s", "mujoco", "--hostname", self.host],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
        while not _port_open(self.host, ROBOT_PORT):
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"franky-sim exited with code {self.proc.returncode} at start-up" + (f" (log: {self.log})" if self.log else "")
                )
            if time.monotonic() - t0 > self.timeout:
                self.stop()
                raise RuntimeError(f"franky-sim did not open {self.host}:{ROBOT_PORT} within {self.timeout:g} s")
            time.sleep(0.1)
        self.startup_s = time.monotonic() - t0
        return self

    def kill(self) -> None:
        """SIGKILL: the robot vanishes mid-motion (a communication error for the client)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
        end = time.monotonic() + 5
        while _port_open(self.host, ROBOT_PORT) and time.monotonic() < end:
            time.sleep(0.1)

    def restart(self) -> "FrankySim":
        self.stop()
        return self.start()

    def __enter__(self) -> "FrankySim":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

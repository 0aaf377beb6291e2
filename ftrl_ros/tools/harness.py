"""Start the stack, attach a probe, wait for a condition: the one way tests and bench tools do it.

    with Stack(run_dir, sets={"policy_server.mode": "eval"}) as stack, Probe() as probe:
        decisions = probe.listen(topics.DECISION)
        assert probe.spin_until(lambda: len(decisions) >= 10, 120), stack.tail()

``Stack`` runs ``ftrl launch`` (the launch files' graph, ``graph.py``) as a subprocess and stops it
with SIGINT like Ctrl-C; ``Probe`` is a node on its own rclpy context that listens, publishes and
calls services by the entries of ``nodes/topics.py``, resolved in its namespace -- so a probe made
with ``namespace="robot2"`` talks to the stack started with ``namespace="robot2"``. DDS stays on
loopback (the callers run under ``scripts/isolated.sh`` or ``test.sh``).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rclpy is imported only when a probe is made: `ftrl --help` stays fast
    from ..nodes.topics import Service, Topic


def launch_command(
    task: str = "disturbed_push", run_dir: str | Path | None = None, sets: Mapping[str, Any] | None = None, **flags: Any
) -> list[str]:
    """The ``ftrl launch`` command line: ``sets`` are ``node.param`` overrides (``--set``), ``flags``
    its options by name (``mode="eval"``, ``record=True``, ``use_sim=False``, ``namespace="a"``,
    ``layout="composed"``, ``quiet=False``); booleans are written as true / false."""
    cmd = [sys.executable, "-m", "ftrl_ros.cli", "launch", task]
    flags = {"quiet": True, **flags}
    if run_dir is not None:
        cmd += ["--run-dir", str(run_dir)]
    for name, value in flags.items():
        option = "--" + name.replace("_", "-")
        if name == "quiet":
            cmd += [option] if value else []
        else:
            cmd += [option, ("true" if value else "false") if isinstance(value, bool) else str(value)]
    for key, value in (sets or {}).items():
        cmd += ["--set", f"{key}={value}"]
    return cmd


def node_command(executable: str, params: Mapping[str, Any] | None = None, namespace: str = "") -> list[str]:
    """One node on its own (``ftrl_ros.nodes.<executable>``), with ``-p name:=value`` parameters
    (booleans as true / false) and, if given, a namespace."""
    cmd = [sys.executable, "-m", f"ftrl_ros.nodes.{executable}", "--ros-args"]
    if namespace:
        cmd += ["-r", f"__ns:={namespace}"]
    for name, value in (params or {}).items():
        cmd += ["-p", f"{name}:={('true' if value else 'false') if isinstance(value, bool) else value}"]
    return cmd


def stop_process(proc: subprocess.Popen, timeout: float = 30.0, sig: int = signal.SIGINT) -> int:
    """``sig`` (SIGINT, as Ctrl-C: nodes hold the arm and flush), then kill after ``timeout`` s."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class Stack:
    """``ftrl launch`` as a subprocess; its output goes to a pipe (read by ``tail`` once it ended)
    or, with ``output=False``, nowhere (the nodes still log to ``<run_dir>/logs``)."""

    def __init__(
        self, run_dir: str | Path, task: str = "disturbed_push", sets: Mapping[str, Any] | None = None, output: bool = True, **flags: Any
    ):
        self.run_dir = Path(run_dir)
        self.cmd = launch_command(task, self.run_dir, sets, **flags)
        self.output = output
        self.proc: subprocess.Popen | None = None

    def start(self) -> Stack:
        out = subprocess.PIPE if self.output else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT if self.output else subprocess.DEVNULL, text=True)
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGINT (as Ctrl-C), then kill after ``timeout`` s (``stop_process``)."""
        return None if self.proc is None else stop_process(self.proc, timeout)

    def tail(self, chars: int = 3000) -> str:
        """The end of the launcher's output once it has exited (else where the node logs are)."""
        if self.proc is not None and self.proc.poll() is not None and self.proc.stdout is not None:
            return self.proc.stdout.read()[-chars:]
        return f"(launcher running: {self.alive}); node logs in {self.run_dir / 'logs'}"

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def listen_qos(topic: Topic):
    """A probe hears everything a stack node would: reliable, a deep queue; on a latched status
    topic it also gets the value published before it joined."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    from ..nodes import qos as qos_profiles

    latched = topic.qos is qos_profiles.LATCHED
    durability = DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE
    return QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE, durability=durability)


class Probe:
    """A test-side node on its own context: listens to the stack, publishes into it, calls its services."""

    def __init__(self, name: str = "probe", namespace: str = "", clock: Callable[[], float] = time.monotonic):
        """``clock`` stamps each message's arrival (``time.time`` to compare with wall-clock stamps)."""
        import rclpy
        import rclpy.executors

        self.rclpy = rclpy
        self.clock = clock
        self._thread: threading.Thread | None = None
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.node = rclpy.create_node(name, namespace=namespace, context=self.ctx)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)

    def listen(self, topic: Topic, qos=None, log: list | None = None) -> list[tuple[float, Any]]:
        """Every message on ``topic`` from now on, as (arrival time by ``clock``, msg), appended to
        the list returned (or to ``log``)."""
        out: list[tuple[float, Any]] = [] if log is None else log
        self.node.create_subscription(topic.type, topic.name, lambda m: out.append((self.clock(), m)), qos or listen_qos(topic))
        return out

    def publisher(self, topic: Topic, qos=None):
        return self.node.create_publisher(topic.type, topic.name, qos or topic.qos)

    def client(self, service: Service):
        return self.node.create_client(service.type, service.name)

    def name_of(self, entry: Topic | Service) -> str:
        """``entry``'s full name in this probe's namespace."""
        from ..nodes.topics import Service

        if isinstance(entry, Service):
            return self.node.resolve_service_name(entry.name)
        return self.node.resolve_topic_name(entry.name)

    def call(self, client, request, timeout: float = 10.0):
        """The response of one service call, or None when the service did not answer in time."""
        if not client.wait_for_service(timeout_sec=timeout):
            return None
        future = client.call_async(request)
        return future.result() if self.spin_until(future.done, timeout) else None

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.01)

    def spin_until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Spin until ``done()`` (checked after every callback) or ``timeout`` s; whether it came."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.01)
            if done():
                return True
        return bool(done())

    def spin_in_background(self) -> None:
        """Spin from a thread of its own (callers then only read the logs: a browser test, a benchmark)."""
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self._thread is not None:
            self.executor.spin_once(timeout_sec=0.01)

    def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=2)
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.shutdown(context=self.ctx)

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def finished_bags(run_dir: str | Path) -> list[Path]:
    """The bag folders a run's bag_recorder closed (``<run_dir>/bags/``; ``.partial`` ones are still open)."""
    return sorted(p for p in (Path(run_dir) / "bags").iterdir() if p.is_dir() and not p.name.endswith(".partial"))


def wait_for(condition: Callable[..., Any], timeout: float, poll: float = 0.02) -> bool:
    """Poll ``condition`` (something outside this process: a file, a web page) until true or ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(poll)
    return bool(condition())

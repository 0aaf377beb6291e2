"""lifecycle_manager: brings the managed nodes up in order and takes them down together, as
nav2's lifecycle manager does.

Start-up: configure every node in ``node_names`` in order (models load, devices open), then
activate them in the same order (the robot side before perception, the safety filter last: the
arm holds until commands come). If a node fails a transition (or does not answer within
``transition_timeout``), bring-up stops, the manager says which node and why (its /diagnostics
and log), deactivates and cleans up the nodes it had brought up, and exits with code 1 -- it is a
critical node, so the launch takes the stack down naming it.

Services (std_srvs/Trigger, under the manager's name): ``~/pause`` deactivates every node in
reverse order (the arm held still, learning and logging keep running), ``~/resume`` activates
them again.
"""

from __future__ import annotations

import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticStatus
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from std_srvs.srv import Trigger

from .diagnostics import diagnostics
from .params import Param, declare

PARAMS = [
    Param(
        "node_names",
        [""],
        "managed nodes, in bring-up order (names relative to the manager's namespace)",
        read_only=True,
        check=lambda v: None if all(isinstance(n, str) and n for n in v) else "non-empty names",
    ),
    Param("autostart", True, "configure and activate the nodes at start-up", read_only=True),
    Param(
        "transition_timeout", 120.0, "longest a node may take for one transition (loading models), s", read_only=True, range=(1.0, 3600.0)
    ),
    Param("service_timeout", 60.0, "longest to wait for a node's lifecycle services to appear, s", read_only=True, range=(1.0, 3600.0)),
]

TRANSITION_NAMES = {
    Transition.TRANSITION_CONFIGURE: "configure",
    Transition.TRANSITION_ACTIVATE: "activate",
    Transition.TRANSITION_DEACTIVATE: "deactivate",
    Transition.TRANSITION_CLEANUP: "cleanup",
}


class BringUpError(RuntimeError):
    pass


class LifecycleManager(Node):
    def __init__(self):
        super().__init__("lifecycle_manager")
        self.p = declare(self, PARAMS)
        self.names: list[str] = list(self.p["node_names"])
        # reentrant: a pause/resume service callback waits on client answers from the same executor
        group = ReentrantCallbackGroup()
        self.change = {n: self.create_client(ChangeState, f"{n}/change_state", callback_group=group) for n in self.names}
        self.diag = diagnostics(self)
        self.failed: str | None = None
        self.done = threading.Event()
        self._lock = threading.Lock()  # one sequence of transitions at a time
        self.create_service(Trigger, "~/pause", self._on_pause, callback_group=group)
        self.create_service(Trigger, "~/resume", self._on_resume, callback_group=group)
        self._report(DiagnosticStatus.WARN, f"waiting for {', '.join(self.names)}")
        if self.p["autostart"]:
            threading.Thread(target=self._startup, name="bring-up", daemon=True).start()

    # --- transitions ---------------------------------------------------------------------------
    def _report(self, level: bytes, message: str) -> None:
        self.diag.update(DiagnosticStatus(level=level, message=message))

    def _wait(self, future, timeout: float):
        end = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > end:
                return None
            time.sleep(0.01)
        return future.result()

    def transition(self, name: str, transition: int) -> None:
        what = TRANSITION_NAMES[transition]
        req = ChangeState.Request()
        req.transition.id = transition
        t0 = time.monotonic()
        res = self._wait(self.change[name].call_async(req), self.p["transition_timeout"])
        if res is None:
            raise BringUpError(f"{name} did not {what} within {self.p['transition_timeout']:g} s")
        if not res.success:
            raise BringUpError(f"{name} failed to {what} (its log and /diagnostics say why)")
        self.get_logger().info(f"{name}: {what} ({time.monotonic() - t0:.1f} s)")

    def _startup(self) -> None:
        with self._lock:
            brought: list[tuple[str, str]] = []  # (node, state reached)
            try:
                for name in self.names:
                    if not self.change[name].wait_for_service(timeout_sec=self.p["service_timeout"]):
                        raise BringUpError(
                            f"{name} did not come up within {self.p['service_timeout']:g} s (not started, or not a managed node)"
                        )
                for name in self.names:
                    self._report(DiagnosticStatus.WARN, f"configuring {name}")
                    self.transition(name, Transition.TRANSITION_CONFIGURE)
                    brought.append((name, "inactive"))
                for i, name in enumerate(self.names):
                    self._report(DiagnosticStatus.WARN, f"activating {name}")
                    self.transition(name, Transition.TRANSITION_ACTIVATE)
                    brought[i] = (name, "active")
            except BringUpError as exc:
                self.failed = str(exc)
                self.get_logger().fatal(f"bring-up stopped: {exc}; taking the managed nodes down")
                self._report(DiagnosticStatus.ERROR, f"bring-up stopped: {exc}")
                self._take_down(brought)
            else:
                self.get_logger().info(f"all {len(self.names)} managed nodes active: {', '.join(self.names)}")
                self._report(DiagnosticStatus.OK, f"active: {', '.join(self.names)}")
            finally:
                self.done.set()

    def _take_down(self, brought: list[tuple[str, str]]) -> None:
        for name, reached in reversed(brought):
            try:
                if reached == "active":
                    self.transition(name, Transition.TRANSITION_DEACTIVATE)
                self.transition(name, Transition.TRANSITION_CLEANUP)
            except BringUpError as exc:
                self.get_logger().error(f"taking down: {exc}")

    # --- operator services -----------------------------------------------------------------------
    def _all(self, transition: int, order: list[str], response):
        if not self._lock.acquire(timeout=1.0):
            response.success, response.message = False, "a bring-up is in progress"
            return response
        try:
            for name in order:
                self.transition(name, transition)
        except BringUpError as exc:
            response.success, response.message = False, str(exc)
        else:
            response.success, response.message = True, f"{TRANSITION_NAMES[transition]}d: {', '.join(order)}"
        finally:
            self._lock.release()
        return response

    def _on_pause(self, request, response):
        response = self._all(Transition.TRANSITION_DEACTIVATE, list(reversed(self.names)), response)
        if response.success:
            self._report(DiagnosticStatus.WARN, "paused: managed nodes inactive, the arm held still")
        return response

    def _on_resume(self, request, response):
        response = self._all(Transition.TRANSITION_ACTIVATE, self.names, response)
        if response.success:
            self._report(DiagnosticStatus.OK, f"active: {', '.join(self.names)}")
        return response


def main(args=None) -> int:
    """Multi-threaded: the bring-up thread waits on service answers the executor delivers, and a
    failed bring-up ends the process (exit code 1) once the nodes are down."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

    rclpy.init(args=args)
    try:
        node = LifecycleManager()
    except (ValueError, KeyError) as exc:
        print(f"[lifecycle_manager] start-up failed: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(node)
    try:
        while rclpy.ok() and not (node.done.is_set() and node.failed):
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        failed = node.failed
        node.destroy_node()
        rclpy.try_shutdown()
    if failed:
        print(f"[lifecycle_manager] bring-up stopped: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Managed (lifecycle) nodes: the nodes that hold models or hardware -- camera, sim, arm,
estimator, policy server, safety filter -- follow the ROS 2 node life cycle, as nav2's do.

- constructed (``unconfigured``): parameters declared and validated, nothing loaded;
- ``configure``: models loaded, devices opened, topics and timers created (``configure_node``);
- ``activate``: subscriptions and timers start acting, outputs flow (``activate_node``);
- ``deactivate``: inputs ignored again and the arm held still (``hold``);
- ``cleanup``: everything ``configure`` made is released (``cleanup_node``), back to unconfigured.

Every subscription and timer created while configuring is gated on the active state (its
callback does nothing while inactive; latched topics, which carry state rather than events, are
always followed) and destroyed at cleanup, so a subclass moves its old
``__init__`` body into ``configure_node`` and gets the life cycle without touching its callbacks.
Services stay callable in every state (an e-stop must be heard even by an inactive filter); a
service that moves hardware checks ``self.active`` itself.

``lifecycle_manager`` brings a stack up in order; a node started on its own (a test, ``ftrl
bench-arm``) with ``autostart:=true`` configures and activates itself (``runner.run_node``).
"""

from __future__ import annotations

import contextlib
import functools
import traceback
from typing import Any, Callable, Iterator

from rclpy._rclpy_pybind11 import RCLError
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.qos import DurabilityPolicy

from .diagnostics import diagnostics

from .params import Param

AUTOSTART = Param("autostart", False, "configure and activate at once, without a lifecycle_manager (a node run on its own)", read_only=True)
"""Every managed node declares this (add it to the node's PARAMS)."""

STARTUP_ERRORS = (ValueError, FileNotFoundError, KeyError, RuntimeError, OSError)
"""What a failing ``configure`` raises: reported as a failed transition, not a crash."""


class ManagedNode(LifecycleNode):
    """A LifecycleNode whose configure/activate/deactivate/cleanup call the four hooks below."""

    def __init__(self, name: str, **kwargs: Any):
        super().__init__(name, **kwargs)
        self.active = False
        self.configure_error = ""
        """Why the last configure failed ('' if it did not)."""
        self._configuring = False
        self._owned: list[tuple[Callable[[Any], Any], Any]] = []
        # rclpy raises out of the change_state service on a transition id the state machine does
        # not know (any process can send one), which ends the node -- and a critical node ends the
        # stack: refuse it instead, nothing changes
        service = self._service_change_state
        inner = service.callback

        def change_state(request, response):
            try:
                return inner(request, response)
            except RCLError as exc:
                self.get_logger().error(f"change_state refused: {str(exc).splitlines()[0]}", throttle_duration_sec=5.0)
                response.success = False
                return response

        service.callback = change_state

    # --- hooks for subclasses ------------------------------------------------------------------
    def configure_node(self) -> None:
        """Load models, open devices, create topics and timers. Raise (ValueError, ...) to fail."""

    def activate_node(self) -> None:
        """Start what does not run from a gated callback (a capture thread, a control loop)."""

    def hold(self) -> None:
        """Stop acting: the arm held still, threads paused. Called on deactivate and shutdown."""

    def cleanup_node(self) -> None:
        """Release what ``configure_node`` opened besides topics and timers (devices, threads)."""

    # --- entities made while configuring: gated and owned ---------------------------------------
    @contextlib.contextmanager
    def ungated(self) -> Iterator[None]:
        """Subscriptions and timers made inside run in every state (still released at cleanup):
        e.g. a driver's health report that must go on while the node is inactive."""
        self._ungated = True
        try:
            yield
        finally:
            self._ungated = False

    def _gate(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        if getattr(self, "_ungated", False):
            return callback

        @functools.wraps(callback)
        def gated(*args: Any) -> Any:
            if self.active:
                return callback(*args)
            return None

        return gated

    def create_subscription(self, msg_type, topic, callback, qos_profile, **kwargs):
        if not getattr(self, "_configuring", False):
            return super().create_subscription(msg_type, topic, callback, qos_profile, **kwargs)
        # latched topics carry state (e-stop engaged, policy version, record mode), not events: kept
        # up to date while inactive, or a message delivered once before activation would be lost
        latched = getattr(qos_profile, "durability", None) == DurabilityPolicy.TRANSIENT_LOCAL
        sub = super().create_subscription(msg_type, topic, callback if latched else self._gate(callback), qos_profile, **kwargs)
        self._owned.append((self.destroy_subscription, sub))
        return sub

    def create_timer(self, timer_period_sec, callback, *args, **kwargs):
        if not getattr(self, "_configuring", False):
            return super().create_timer(timer_period_sec, callback, *args, **kwargs)
        timer = super().create_timer(timer_period_sec, self._gate(callback), *args, **kwargs)
        self._owned.append((self.destroy_timer, timer))
        return timer

    def create_publisher(self, *args, **kwargs):
        pub = super().create_publisher(*args, **kwargs)
        if getattr(self, "_configuring", False):
            self._owned.append((self.destroy_publisher, pub))
        return pub

    def create_service(self, *args, **kwargs):
        srv = super().create_service(*args, **kwargs)
        if getattr(self, "_configuring", False):
            self._owned.append((self.destroy_service, srv))
        return srv

    def create_client(self, *args, **kwargs):
        client = super().create_client(*args, **kwargs)
        if getattr(self, "_configuring", False):
            self._owned.append((self.destroy_client, client))
        return client

    def _release(self) -> None:
        while self._owned:
            destroy, entity = self._owned.pop()
            try:
                destroy(entity)
            except Exception:  # noqa: BLE001 - already gone with a shutting-down context
                pass

    # --- transitions ------------------------------------------------------------------------------
    def _report(self, level: bytes, message: str) -> None:
        if not getattr(self, "publishes_diagnostics", False):
            diagnostics(self).update(DiagnosticStatus(level=level, message=message))

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        # /diagnostics exists in every state (made before, so not released at cleanup)
        self._report(DiagnosticStatus.WARN, "configuring")
        self._configuring, self.configure_error = True, ""
        try:
            self.configure_node()
        except Exception as exc:
            bad_input = isinstance(exc, STARTUP_ERRORS)
            # bad input fails the transition; anything else is a bug: say so loudly (rclpy would swallow it)
            self.configure_error = str(exc) if bad_input else f"{type(exc).__name__}: {exc}"
            self.get_logger().error(f"configure failed: {exc}" if bad_input else f"configure raised:\n{traceback.format_exc()}")
            self._configuring = False
            self._release()
            self._report(DiagnosticStatus.ERROR, f"configure failed: {self.configure_error}")
            return TransitionCallbackReturn.FAILURE if bad_input else TransitionCallbackReturn.ERROR
        finally:
            self._configuring = False
        self.get_logger().info("configured")
        self._report(DiagnosticStatus.WARN, "inactive (configured)")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = True
        try:
            self.activate_node()
        except STARTUP_ERRORS as exc:
            self.active = False
            self.get_logger().error(f"activate failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info("active")
        self._report(DiagnosticStatus.OK, "active")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = False
        self.hold()
        self.get_logger().info("inactive: holding")
        self._report(DiagnosticStatus.WARN, "inactive: holding")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.cleanup_node()
        self._release()
        self.get_logger().info("cleaned up: unconfigured")
        self._report(DiagnosticStatus.WARN, "unconfigured")
        return TransitionCallbackReturn.SUCCESS

    def stop_acting(self) -> None:
        """Hold if active (an unconfigured node has nothing to hold with)."""
        if self.active:
            self.active = False
            self.hold()

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.stop_acting()
        self.cleanup_node()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.stop_acting()
        return TransitionCallbackReturn.SUCCESS

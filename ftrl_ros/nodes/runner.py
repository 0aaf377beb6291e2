"""Start, spin and shut down a node the same way for every console script: a bad parameter or a
missing file at start-up is a one-line error and exit code 2 (not a traceback); Ctrl-C / SIGTERM
end it cleanly. A managed node waits for lifecycle_manager unless started with autostart:=true.
``run_nodes`` does the same for several nodes sharing one process and one executor."""

from __future__ import annotations

import sys

import rclpy
from rclpy.executors import ExternalShutdownException


def run_node(factory, args=None, threads: int = 1) -> int:
    """``threads`` > 1: a multi-threaded executor, for nodes whose services block (homing)."""
    return run_nodes([factory], args, threads)


def run_nodes(factories: list, args=None, threads: int = 1) -> int:
    from .lifecycle import ManagedNode

    rclpy.init(args=args)
    nodes: list = []

    def give_up(message: str) -> int:
        print(message, file=sys.stderr)
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
        return 2

    for factory in factories:
        try:
            nodes.append(factory())
        except (ValueError, FileNotFoundError, KeyError) as exc:
            return give_up(f"[{getattr(factory, '__name__', 'node')}] start-up failed: {exc}")
    for node in nodes:
        if isinstance(node, ManagedNode) and node.get_parameter("autostart").value:
            from rclpy.lifecycle import TransitionCallbackReturn

            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                return give_up(f"[{node.get_name()}] start-up failed: {node.configure_error or 'configure failed'}")
            node.trigger_activate()
        if not getattr(node, "publishes_diagnostics", False):
            from .diagnostics import diagnostics

            diagnostics(node)  # every node reports on /diagnostics (at least "running")
    if threads > 1:
        from rclpy.executors import MultiThreadedExecutor

        executor: rclpy.executors.Executor = MultiThreadedExecutor(num_threads=threads)
    else:
        executor = rclpy.executors.SingleThreadedExecutor()
    for node in nodes:
        executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # shut down while a callback was publishing: the context went away under it; not an error
    finally:
        for node in nodes:
            if isinstance(node, ManagedNode):
                # hold the arm still on the way out (the context may be gone already with Ctrl-C:
                # no lifecycle transition, only the node's own hold)
                try:
                    node.stop_acting()
                except Exception:  # noqa: BLE001 - publishing into a shut-down context
                    pass
            node.destroy_node()
        rclpy.try_shutdown()
    return 0

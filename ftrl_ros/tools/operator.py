"""Operator commands next to the arm, for machines without ros2cli: they call the same services
as `ros2 service call` -- through the running operator console when there is one (its service
clients are connected already: milliseconds; a fresh DDS client needs ~2 s to get its first
answer), else directly.

    ftrl estop       # /ftrl/estop true: zero command at once, stays until released; learning pauses
    ftrl release     # /ftrl/estop false
    ftrl intervene   # /ftrl/intervene: this episode is an intervention-requiring failure; arm stops
    ftrl reset       # /ftrl/reset: start the next episode (on the robot, after putting things back)
"""

from __future__ import annotations

import argparse
import os

ACTIONS = {  # the service (an attribute of nodes/topics.py, imported only for a direct call) and its value
    "estop": ("ESTOP", True),
    "release": ("ESTOP", False),
    "intervene": ("INTERVENE", None),
    "reset": ("RESET", None),
}


def via_console(action: str, url: str, token: str = "", timeout: float = 2.0) -> tuple[bool, str] | None:
    """(success, message) from the operator console's API; None when no console answers."""
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    query = f"?{urllib.parse.urlencode({'token': token})}" if token else ""
    request = urllib.request.Request(f"{url.rstrip('/')}/api/{action}{query}", data=b"", method="POST", headers={"X-FTRL-Operator": "1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            reply = json.loads(response.read(4096))
    except urllib.error.HTTPError as exc:
        try:
            reply = json.loads(exc.read(4096))
        except ValueError:
            return False, f"console refused: HTTP {exc.code}"
    except (OSError, ValueError):
        return None
    return bool(reply.get("ok")), str(reply.get("message", ""))


def call(action: str, timeout: float = 5.0, namespace: str = "") -> tuple[bool, str]:
    """Call the service behind ``action`` directly over DDS; (success, message)."""
    import rclpy

    from ..nodes import topics

    attr, value = ACTIONS[action]
    srv = getattr(topics, attr)
    service = "/" + "/".join(part for part in (namespace.strip("/"), srv.name) if part)
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node(f"ftrl_operator_{action}", context=ctx)
    try:
        srv_type = srv.type
        client = node.create_client(srv_type, service)
        if not client.wait_for_service(timeout_sec=timeout):
            return False, f"{service} not available (is the stack running?)"
        request = srv_type.Request()
        if value is not None:
            request.data = value
        future = client.call_async(request)
        executor = rclpy.executors.SingleThreadedExecutor(context=ctx)
        executor.add_node(node)
        executor.spin_until_future_complete(future, timeout_sec=timeout)
        if not future.done():
            return False, f"{service} did not answer within {timeout:g} s"
        res = future.result()
        return bool(res.success), res.message
    finally:
        node.destroy_node()
        rclpy.shutdown(context=ctx)


def make_command(action: str):
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the service")
        p.add_argument(
            "--console",
            default=os.environ.get("FTRL_CONSOLE", "http://127.0.0.1:8080"),
            help="operator console to go through ('' = always call the service directly)",
        )
        p.add_argument("--token", default=os.environ.get("FTRL_CONSOLE_TOKEN", ""), help="the console's token, if it has one")
        p.add_argument(
            "--namespace",
            default=os.environ.get("FTRL_NAMESPACE", ""),
            help="the stack's namespace (ftrl launch --namespace) for the direct service call",
        )

    def run(args: argparse.Namespace) -> int:
        answer = via_console(action, args.console, args.token) if args.console else None
        ok, message = answer if answer is not None else call(action, args.timeout, args.namespace)
        print(("ok: " if ok else "FAILED: ") + message)
        return 0 if ok else 1

    return add_arguments, run


class Command:
    """What ftrl_ros/cli.py expects of a sub-command module, for one operator action."""

    def __init__(self, action: str):
        self.__doc__ = __doc__
        self.add_arguments, self.run = make_command(action)

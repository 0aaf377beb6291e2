"""Declaring node parameters with descriptors (description, range, read-only) and failing at
start-up, naming the parameter, when a value is out of range or the wrong type.

Writable parameters take effect at run time: ``declare`` returns a live dict that a successful
``ros2 param set`` updates (nodes read ``self.p[...]`` where they use a value), and ``on_change``
hooks apply values that were copied into objects at start-up. A parameter that can do neither is
declared read-only, so a set is refused instead of reporting success and changing nothing."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Callable

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    description: str
    read_only: bool = False
    range: tuple[float, float] | None = None
    check: Callable[[Any], str | None] | None = None
    """Extra validation: returns an error text, or None when the value is fine."""


def declare(node: Node, params: list[Param], on_change: dict[str, Callable[[Any], None]] | None = None) -> dict[str, Any]:
    """Declare ``params`` on ``node`` and return their live values; raises ValueError on a bad value.

    ``on_change[name](value)`` runs after a successful run-time set of ``name``.

    The validation callback is registered *before* declaring, so values from a params file are
    checked too (they bypass validation otherwise).
    """
    by_name = {p.name: p for p in params}

    def validate(changes) -> SetParametersResult:
        for change in changes:
            p = by_name.get(change.name)
            if p is None:
                continue
            error = _error(p, change.value)
            if error:
                return SetParametersResult(successful=False, reason=f"parameter '{p.name}': {error}")
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(validate)
    values = {}
    for p in params:
        # dynamic typing so that `camera_rate: 30` is accepted for a float parameter; the type is
        # checked (and ints widened to floats) below instead
        desc = ParameterDescriptor(description=p.description, read_only=p.read_only, dynamic_typing=True)
        if p.range is not None and isinstance(p.default, bool) is False:
            if isinstance(p.default, int):
                desc.integer_range = [IntegerRange(from_value=int(p.range[0]), to_value=int(p.range[1]), step=1)]
            elif isinstance(p.default, float):
                desc.floating_point_range = [FloatingPointRange(from_value=float(p.range[0]), to_value=float(p.range[1]))]
        try:
            values[p.name] = node.declare_parameter(p.name, p.default, desc).value
        except Exception as exc:  # InvalidParameterValueException, ParameterTypeMismatch...
            raise ValueError(f"{node.get_name()}: parameter '{p.name}': {exc}") from None
        error = _error(p, values[p.name])
        if error:
            raise ValueError(f"{node.get_name()}: parameter '{p.name}': {error}")
        values[p.name] = _widen(p, values[p.name])

    def applied(changes) -> None:
        for change in changes:
            p = by_name.get(change.name)
            if p is None or p.read_only:
                continue
            values[p.name] = _widen(p, change.value)
            if on_change and p.name in on_change:
                on_change[p.name](values[p.name])
            node.get_logger().info(f"parameter {p.name} set to {values[p.name]!r}")

    node.add_post_set_parameters_callback(applied)
    return values


def _widen(p: Param, value: Any) -> Any:
    if isinstance(p.default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(p.default, list):
        return list(value)
    return value


def _type_error(p: Param, value: Any) -> str | None:
    d = p.default
    if isinstance(d, bool):
        ok = isinstance(value, bool)
    elif isinstance(d, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(d, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(d, str):
        ok = isinstance(value, str)
    else:  # lists
        ok = isinstance(value, (list, tuple)) or hasattr(value, "__len__") and not isinstance(value, str)
    return None if ok else f"expected {type(d).__name__}, got {value!r}"


def _error(p: Param, value: Any) -> str | None:
    type_error = _type_error(p, value)
    if type_error:
        return type_error
    if p.range is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not p.range[0] <= value <= p.range[1]:
            return f"{value} outside [{p.range[0]}, {p.range[1]}]"
    if p.check is not None:
        return p.check(value)
    return None


def vector3(value) -> str | None:
    return None if len(value) == 3 else f"expected 3 numbers [x, y, z], got {list(value)}"


def _frame_name(value) -> str | None:
    ok = isinstance(value, str) and value and not value.startswith("/") and " " not in value
    return None if ok else f"expected a TF frame name (no leading '/', no spaces), got {value!r}"


def base_frame_param() -> Param:
    """The robot base frame (TF name) of every pose, state and command a node publishes."""
    return Param("base_frame", "base", "robot base frame of poses, states and commands (TF name)", read_only=True, check=_frame_name)


def task_param(description: str = "task") -> Param:
    """The read-only ``task`` parameter every task-specific node has."""
    from ..tasks import TASKS

    return Param(
        "task",
        "",
        description + " (required: a node never guesses its task)",
        read_only=True,
        check=lambda v: None if v in TASKS else f"{'not set' if v == '' else f'unknown task {v!r}'}; known: {sorted(TASKS)}",
    )


def method_param(description: str) -> Param:
    """The read-only ``method`` parameter (a row of ``learning.methods.TABLE``, or ``none`` = uni_o4)
    of the two nodes that must agree on it: safety_filter and ppo_learner."""
    from ..learning.methods import METHODS, UNFILTERED_ALIAS, method_problem

    return Param(
        "method",
        "farl",
        f"one of {', '.join(METHODS)} ({UNFILTERED_ALIAS} = uni_o4): {description}",
        read_only=True,
        check=lambda v: method_problem(v, alias=True),
    )


def learn_from_param() -> Param:
    """What PPO stores for a step (``learning.methods.LEARN_FROM``); safety_filter records it, ppo_learner reads it."""
    from ..learning.methods import LEARN_FROM

    return Param(
        "learn_from",
        LEARN_FROM[0],
        "what PPO stores: proposed (the task policy's sample, on-policy) or executed (the paper's variant)",
        read_only=True,
        check=lambda v: None if v in LEARN_FROM else f"one of {', '.join(LEARN_FROM)}",
    )


def port_param(default: int, what: str) -> Param:
    """The read-only TCP ``port`` of a server a node runs (0: any free one, which the node logs)."""
    return Param(
        "port",
        default,
        f"TCP port of {what} (0: any free one, logged)",
        read_only=True,
        check=lambda v: None if v == 0 or 1024 <= v <= 65535 else "0 or 1024-65535",
    )


def is_loopback(host: str) -> bool:
    """A bind address only this machine reaches (servers that must not face the network by default)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

"""Every node's status on /diagnostics, as ROS tools expect it (rqt_robot_monitor, the
diagnostic aggregator): a DiagnosticArray once a second and at once on a change, one status
named after the node. Nodes that had a private status topic keep it (the console and tools
read it latched) through :class:`StatusPublisher`, which feeds both.
"""

from __future__ import annotations

import copy

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node

from . import topics

PERIOD_S = 1.0


class NodeDiagnostics:
    def __init__(self, node: Node):
        self.node = node
        self.pub = topics.publisher(node, topics.DIAGNOSTICS)
        self.status = DiagnosticStatus(
            level=DiagnosticStatus.OK, name=node.get_name(), message="running", hardware_id=node.get_fully_qualified_name()
        )
        node.create_timer(PERIOD_S, self.publish)

    def update(self, status: DiagnosticStatus) -> None:
        """Report ``status`` (its name becomes '<node>: <name>') now and every second after."""
        s = copy.deepcopy(status)
        s.name = f"{self.node.get_name()}: {status.name}" if status.name else self.node.get_name()
        s.hardware_id = s.hardware_id or self.node.get_fully_qualified_name()
        self.status = s
        self.publish()

    def publish(self) -> None:
        array = DiagnosticArray(status=[self.status])
        array.header.stamp = self.node.get_clock().now().to_msg()
        self.pub.publish(array)


def diagnostics(node: Node) -> NodeDiagnostics:
    """The node's one NodeDiagnostics (made on first use)."""
    made = getattr(node, "_ftrl_diagnostics", None)
    if made is None:
        made = NodeDiagnostics(node)
        setattr(node, "_ftrl_diagnostics", made)  # noqa: B010 - an attribute Node does not declare
    return made


class StatusPublisher:
    """A node's latched private status topic (e.g. /ftrl/safety/status) that also reports on
    /diagnostics."""

    def __init__(self, node: Node, topic: topics.Topic):
        self.node = node
        self.pub = topics.publisher(node, topic)
        self.diag = diagnostics(node)

    def publish(self, status: DiagnosticStatus) -> None:
        self.pub.publish(status)
        self.diag.update(status)

"""perception_control: the control path's three nodes -- state_estimator_node, policy_server,
safety_filter -- in one process and one executor (``ftrl launch --layout composed``,
``layout:=composed``). Each keeps its name, parameters, topics and life cycle; what changes is
that a frame's state, proposal and decision are handled by one thread instead of being
scheduled across three processes on the same cores."""

from __future__ import annotations

import sys

from .policy_server import PolicyServer
from .runner import run_nodes
from .safety_filter import SafetyFilterNode
from .state_estimator_node import StateEstimatorNode


def main(args=None) -> int:
    return run_nodes([StateEstimatorNode, PolicyServer, SafetyFilterNode], args)


if __name__ == "__main__":
    sys.exit(main())

"""The named fields of proposals and decisions: JointState messages used as stamped named
vectors (standard types only: custom .msg packages cannot be built from the PyPI wheels). The
fields come first, then the state they were computed from as ``s.<field>``. Plain Python, so
bag readers and tools share them with the nodes without importing ROS."""
from __future__ import annotations

PROPOSAL_FIELDS = ("task_ax", "task_ay", "task_logp", "policy_version")
DECISION_FIELDS = ("risk", "eps_safe", "recovery", "hold", "latency_ms", "task_ax", "task_ay",
                   "exec_ax", "exec_ay", "exec_logp", "policy_version", "task_logp", "source")
"""``recovery``: 1 when the filter replaced the proposal; ``source``: the ``dataset.SOURCES`` code
of what ran (task, recovery, mppi, operator); ``task_*``: the proposal as sampled, with its log-prob."""

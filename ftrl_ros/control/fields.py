"""The named fields of proposals and decisions: JointState messages used as stamped named
vectors (standard types only: custom .msg packages cannot be built from the PyPI wheels). The
fields come first, then the state they were computed from as ``s.<field>``. Plain Python, so
bag readers and tools share them with the nodes without importing ROS."""

from __future__ import annotations

PROPOSAL_FIELDS = ("task_ax", "task_ay", "task_logp", "policy_version")
DECISION_FIELDS = (
    "risk",
    "eps_safe",
    "recovery",
    "hold",
    "latency_ms",
    "task_ax",
    "task_ay",
    "exec_ax",
    "exec_ay",
    "exec_logp",
    "policy_version",
    "task_logp",
    "source",
)
"""``recovery``: 1 when the filter replaced the proposal; ``source``: the ``dataset.SOURCES`` code
of what ran (task, recovery, mppi, operator); ``task_*``: the proposal as sampled, with its log-prob."""

HOPS = ("t.estimated_ms", "t.proposed_ms", "t.decided_ms")
"""Per-hop timing, carried along the control path after the state: milliseconds from the camera
frame's stamp (the header of state, proposal and decision) to when the state estimator published
the state, the policy server its proposal, the safety filter its command (wall clock, as the
stamps; the command's own stamp is the camera stamp + t.decided_ms, which pairs it with its
decision). Each node copies the earlier ones and adds its own; readers that do not know them ignore
them (fields are looked up by name)."""


def hops_of(names, values) -> dict[str, float]:
    """The timing fields present in a named-vector message (missing ones are left out)."""
    return {n: float(v) for n, v in zip(names, values) if n in HOPS}

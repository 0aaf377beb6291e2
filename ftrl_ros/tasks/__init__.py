"""Task definitions shared by the simulator, the real-robot stack and the learners."""

from __future__ import annotations

from .bounded_soccer import BoundedSoccerSpec
from .disturbed_push import DisturbedPushSpec
from .fragile_push_wall import FragilePushWallSpec
from .spec import StateLayout, TaskSpec, Workspace

TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in (DisturbedPushSpec(), FragilePushWallSpec(), BoundedSoccerSpec())}
"""The task registry: every list of robot tasks (launch files, tools, sim envs, tests) derives from
it. A new task is a spec here plus the pieces ``test/test_task_registry.py`` names when missing."""
TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def get_task(name: str) -> TaskSpec:
    """The robot tasks by name; ``fb_<task>`` gives a FailureBench task's spec (Meta-World; not a
    robot task, so not in ``TASKS``, which the nodes accept)."""
    if name.startswith("fb_"):
        from .failurebench import spec_for

        return spec_for(name)  # type: ignore[return-value]
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known: {sorted(TASKS)}") from None


__all__ = [
    "TASKS",
    "TASK_NAMES",
    "get_task",
    "TaskSpec",
    "StateLayout",
    "Workspace",
    "DisturbedPushSpec",
    "FragilePushWallSpec",
    "BoundedSoccerSpec",
]

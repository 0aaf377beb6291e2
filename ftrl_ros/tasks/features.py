"""How a learned policy may look at a task's state besides the raw vector: plain data, defined
by the task (``FailureBenchSpec.policy_features``) and applied by ``learning.nets.Normalizer``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StateFeatures:
    """What a policy sees of a state besides the state itself: differences of index ranges
    (object - hand, goal - object, ...) and raw dimensions it ignores.

    Why: Meta-World places puck and goal anew at every reset, and 20 demos show 20 layouts. An
    MLP fed absolute positions has to learn "the puck relative to the hand" from those 20 and
    does not (behaviour cloning of push-v3 reached the puck in few of 10 new layouts); handed
    the differences it generalises. The puck's quaternion flips sign as it turns and carries
    nothing the expert uses. Robot tasks use none (their states are already relative)."""

    diffs: tuple[tuple[int, int, int], ...] = ()
    """(a, b, n): the feature x[a:a+n] - x[b:b+n] is appended."""
    drop: tuple[int, ...] = ()
    """Raw dimensions zeroed after normalisation."""
    shift_xy: tuple[int, ...] = ()
    """Starts of the (x, y) pairs that move together when the whole scene is shifted on the
    table: hand, object, goal, ... (used by :func:`shift_scene` for augmentation)."""

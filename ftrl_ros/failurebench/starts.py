"""Near-failure starts: the object a few centimetres from its hazard with the hand pushing it
there or carrying it there in its grasp (or, in soccer, the ball rolling towards the boundary).
Recovery demos start here, and the tests check that the scripted recovery controller gets out of >= 90 % of them."""

from __future__ import annotations

import numpy as np

from ..tasks.failurebench import GOAL

PUSH_Z = 0.05
"""Hand height that pushes a 2 cm puck with the fingers, m."""


DRAWS = 50
"""Near-failure scenes drawn at most per reset before giving up."""


CARRIED_SHARE = 0.5
"""Share of the pushing tasks' near-failure starts taken from a noisy expert carrying the grasped
object towards its hazard (the rest are placed scenes): the recovery must learn to hold on."""
CARRIED_GAP = 0.025
"""A carried start is the first step the held object is this close (m) to its hazard."""
CARRY_STEPS = 400
"""Steps (5 s at Meta-World's 80 Hz) the noisy expert gets to bring the object that close before the draw falls back to a
placed scene."""


def wants_carried(task, rng: np.random.Generator) -> bool:
    """Whether this near-failure start is a carried one (pushing tasks, CARRIED_SHARE of them)."""
    return task.grasps and bool(rng.random() < CARRIED_SHARE)


def carried(env, rng: np.random.Generator) -> np.ndarray | None:
    """Run the scripted expert with bursts of heading noise from the layout just drawn until it
    holds the object within CARRIED_GAP of the hazard (not yet inside the constraint's margin);
    None if it fails, succeeds or runs out of CARRY_STEPS first."""
    from ..utils.noise import BurstNoise, BurstNoisePolicy
    from .scripted import Expert

    noisy = BurstNoisePolicy(Expert(env.task.name), rng, BurstNoise(p=0.05, length=24, sigma=0.3, planar_only=True))
    noisy.reset()
    obs = env._obs
    for _ in range(CARRY_STEPS):
        obs, _, failed, _, info = env.step(noisy(obs))
        if failed or info["success"] or info["constraint"]:
            return None
        if env.task.holding(obs) and env.task.hazard_gap(obs, env.vase) < CARRIED_GAP and env.start_fault() is None:
            return obs
    return None


def placed(env, rng: np.random.Generator) -> None:
    """Place a near-failure scene, drawn again while the placed scene is no fair start (the
    hazard already touched, or the fingers inside the object: the hand cannot always reach
    where a draw puts it, e.g. next to the vase at the table's far edge)."""
    fault = None
    for _ in range(DRAWS):
        _draw(env, rng)
        fault = env.start_fault()
        if fault is None:
            return
    raise RuntimeError(f"{env.task.name}: no fair near-failure start in {DRAWS} draws (last: {fault})")


def _draw(env, rng: np.random.Generator) -> None:
    task = env.task
    if task.failure == "leaves_region":
        r = task.region
        side = rng.integers(4)
        gap = rng.uniform(0.07, 0.11) if task.name == "bounded_soccer" else rng.uniform(0.015, 0.035)
        outward = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]][side], float)
        along_x, along_y = rng.uniform(r.x[0] + 0.05, r.x[1] - 0.05), rng.uniform(r.y[0] + 0.08, r.y[1] - 0.08)
        obj = np.array([[r.x[0] + gap, along_y], [r.x[1] - gap, along_y], [along_x, r.y[0] + gap], [along_x, r.y[1] - gap]][side])
        if task.name == "bounded_soccer":  # rolling out, the hand some way behind
            # the ball rolling out by itself (kicked a moment ago); the hand up and to one side
            side = np.array([-outward[1], outward[0]]) * rng.choice([-1.0, 1.0])
            hand = np.array([*(obj - outward * rng.uniform(0.0, 0.04) + side * rng.uniform(0.06, 0.1)), 0.09])
            env.place(obj, hand, outward * rng.uniform(0.06, 0.14) + side * rng.normal(0, 0.01))
            return
    elif task.failure == "touches_wall":
        (cx, cy), (hx, hy) = task.wall
        obj = np.array([rng.uniform(cx - hx + 0.02, cx + hx - 0.02), cy - hy - task.object_radius - rng.uniform(0.012, 0.03)])
        outward = np.array([0.0, 1.0])
    else:
        vase, goal = env.vase, env._obs[GOAL][:2]
        for _ in range(50):  # on the table, and not already on the goal (Meta-World's reward needs that)
            angle = rng.uniform(0, 2 * np.pi)
            outward = -np.array([np.cos(angle), np.sin(angle)])  # from the object towards the vase
            obj = vase - outward * (task.vase_radius + task.object_radius + rng.uniform(0.015, 0.03))
            if -0.25 < obj[0] < 0.25 and 0.45 < obj[1] < 0.95 and np.linalg.norm(obj - goal) > task.success_radius + 0.02:
                break
    behind = task.object_radius + 0.012
    if task.failure == "touches_vase":  # the open gripper reaches ~5 cm: keep it off the vase itself
        while np.linalg.norm(obj - outward * behind - env.vase) < task.vase_radius + 0.085 and behind < 0.08:
            behind += 0.005
    hand = np.array([*(obj - outward * behind), PUSH_Z])
    env.place(obj, hand)

"""Forward and inverse kinematics of the Franka Panda / FR3 arm (numpy only).

The arm node needs joint angles for the task's start pose (homing is a joint-space motion) and
nothing heavier: a MuJoCo or Pinocchio model at run time would pull a physics engine onto the
robot PC for one IK solve. The parameters are Franka's published modified-DH (Craig) table; the
end effector is Franka's default for the hand (``F_T_EE``: 0.1034 m along the flange z axis,
rotated -45 deg about it), the same TCP that libfranka reports as ``O_T_EE`` and that the sim's
``tcp`` site uses. The test compares ``forward`` with franky-sim's ``O_T_EE``.
"""

from __future__ import annotations

import numpy as np

# a (m), d (m), alpha (rad) of joints 1-7 and the flange, modified DH
DH = np.array(
    [
        [0.0, 0.333, 0.0],
        [0.0, 0.0, -np.pi / 2],
        [0.0, 0.316, np.pi / 2],
        [0.0825, 0.0, np.pi / 2],
        [-0.0825, 0.384, -np.pi / 2],
        [0.0, 0.0, np.pi / 2],
        [0.088, 0.0, np.pi / 2],
    ]
)
FLANGE_D = 0.107
EE_OFFSET = 0.1034
"""Flange to the fingertip centre (m): Franka's default TCP for the hand."""
EE_YAW = -np.pi / 4

# Joint limits (rad) valid on both arms: the intersection of the Panda's and the FR3's datasheet
# ranges (the FR3 is tighter on joints 1, 4, 5 and the lower end of 6)
Q_MIN = np.array([-2.7437, -1.7628, -2.8973, -3.0421, -2.8065, 0.5445, -2.8973])
Q_MAX = np.array([2.7437, 1.7628, 2.8973, -0.1518, 2.8065, 3.7525, 2.8973])
DQ_MAX = np.array([2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61])
"""Joint velocity limits, rad/s (the Panda's; the FR3's are higher)."""
Q_READY = np.array([0.0, -np.pi / 4, 0.0, -3 * np.pi / 4, 0.0, np.pi / 2, np.pi / 4])
"""Franka's usual 'ready' pose: the IK's starting point and nullspace pull."""

DOWN = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
"""Hand pointing down with the fingers' closing axis along base y (what franky-sim and a
freshly homed Panda report at joint 7 = pi/4): the orientation the stack pushes with."""


def _link(a: float, d: float, alpha: float, theta: float) -> np.ndarray:
    ca, sa, ct, st = np.cos(alpha), np.sin(alpha), np.cos(theta), np.sin(theta)
    return np.array([[ct, -st, 0.0, a], [st * ca, ct * ca, -sa, -d * sa], [st * sa, ct * sa, ca, d * ca], [0.0, 0.0, 0.0, 1.0]])


def _ee() -> np.ndarray:
    t = _link(0.0, FLANGE_D + EE_OFFSET, 0.0, 0.0)
    t[:3, :3] = _link(0.0, 0.0, 0.0, EE_YAW)[:3, :3]
    return t


_F_T_EE = _ee()


def frames(q: np.ndarray) -> list[np.ndarray]:
    """Base-frame transforms of joint frames 1-7 and of the end effector (8 matrices)."""
    out, t = [], np.eye(4)
    for (a, d, alpha), theta in zip(DH, np.asarray(q, float)):
        t = t @ _link(a, d, alpha, theta)
        out.append(t)
    out.append(t @ _F_T_EE)
    return out


def forward(q: np.ndarray) -> np.ndarray:
    """4x4 pose of the end effector (TCP) in the base frame: libfranka's ``O_T_EE``."""
    return frames(q)[-1]


def jacobian(q: np.ndarray) -> np.ndarray:
    """6x7 geometric Jacobian of the TCP (linear rows first), base frame."""
    fs = frames(q)
    p = fs[-1][:3, 3]
    jac = np.zeros((6, 7))
    for i in range(7):
        z, o = fs[i][:3, 2], fs[i][:3, 3]
        jac[:3, i] = np.cross(z, p - o)
        jac[3:, i] = z
    return jac


def quaternion(rot: np.ndarray) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a rotation matrix (Shepperd's method: stable near every angle)."""
    m = np.asarray(rot, float)
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        v = np.zeros(3)
        v[i], v[j], v[k] = 0.25 * s, (m[j, i] + m[i, j]) / s, (m[k, i] + m[i, k]) / s
        q = v[0], v[1], v[2], (m[k, j] - m[j, k]) / s
    n = float(np.linalg.norm(q))
    return tuple(float(x) / n for x in q)  # type: ignore[return-value]


def orientation_error(rot: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotation vector (small-angle) taking ``rot`` to ``target``, base frame."""
    r = target @ rot.T
    return 0.5 * np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])


def inverse(
    position: np.ndarray, rotation: np.ndarray = DOWN, q0: np.ndarray = Q_READY, iterations: int = 200, tol: float = 2e-4
) -> np.ndarray:
    """Joint angles putting the TCP at ``position`` (within ``tol`` m, and 0.1 deg) with
    ``rotation``: damped least squares from ``q0``, pulled towards ``q0`` in the nullspace so the
    elbow stays where it started.

    Raises ValueError when the pose is out of reach or only reachable past a joint limit.
    """
    q = np.clip(np.asarray(q0, float).copy(), Q_MIN, Q_MAX)
    target = np.asarray(position, float)

    def error(q: np.ndarray) -> np.ndarray:
        t = forward(q)
        return np.concatenate([target - t[:3, 3], orientation_error(t[:3, :3], rotation)])

    for k in range(iterations):
        err = error(q)
        jac = jacobian(q)
        jjt = jac @ jac.T + 1e-4 * np.eye(6)
        dq = jac.T @ np.linalg.solve(jjt, err)
        if k < iterations * 3 // 4:  # the last quarter polishes the task without the pull
            null = np.eye(7) - jac.T @ np.linalg.solve(jjt, jac)
            dq += 0.05 * null @ (q0 - q)
        q = np.clip(q + np.clip(dq, -0.2, 0.2), Q_MIN, Q_MAX)
    err = error(q)
    if np.linalg.norm(err[:3]) > tol or np.linalg.norm(err[3:]) > np.radians(0.1):
        raise ValueError(
            f"no joint solution within limits for TCP position {np.round(target, 4).tolist()} "
            f"(residual {np.linalg.norm(err[:3]) * 1000:.1f} mm, "
            f"{np.degrees(np.linalg.norm(err[3:])):.2f} deg)"
        )
    return q

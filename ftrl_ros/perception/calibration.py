"""Camera-to-robot calibration from a ChArUco board lying at a known pose on the table.

The board's frame (OpenCV's: origin at the printed image's top-left corner, x along its columns,
y along its rows, z into the board) is placed in the robot base frame by ``origin`` (that corner,
on the table) and ``yaw`` (the direction of the board's x axis); lying face up, its y axis is x
turned by -90 deg and its z axis points down. Every frame's ChArUco corners go into one
perspective-n-point solve (the camera does not move), which gives camera-from-board; with the
board's placement that is the camera's pose in the base frame. The aligned depth at the corners
is compared with the solved geometry as a check (a D435 whose depth disagrees by centimetres is
miscalibrated itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .camera_model import CameraPose, Intrinsics


@dataclass(frozen=True)
class ChArUcoTarget:
    squares: tuple[int, int] = (8, 6)
    """Squares along the board's x (image columns) and y (rows)."""
    square: float = 0.04
    """Square side, m (measure the print)."""
    marker: float = 0.03
    """ArUco marker side, m."""
    dictionary: str = "DICT_4X4_50"
    origin: tuple[float, float, float] = (0.42, -0.16, 0.001)
    """The board's top-left corner in the base frame, m (z: its printed surface, the table top
    plus the board's thickness)."""
    yaw: float = np.pi / 2
    """Direction of the board's x axis in the base frame, rad (pi/2: along +y; its rows then run
    along +x, away from the robot): by default the board covers x 0.42-0.66, y -0.16-0.16 m."""

    def problems(self) -> list[str]:
        out = []
        if len(self.squares) != 2 or min(self.squares) < 3:
            out.append(f"squares must be two counts >= 3, got {self.squares}")
        if not 0 < self.marker < self.square < 0.5:
            out.append(f"need 0 < marker ({self.marker}) < square ({self.square}) < 0.5 m")
        if not hasattr(cv2.aruco, self.dictionary):
            out.append(f"unknown ArUco dictionary {self.dictionary!r}")
        return out

    def board(self) -> "cv2.aruco.CharucoBoard":
        d = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        return cv2.aruco.CharucoBoard(tuple(self.squares), self.square, self.marker, d)

    @property
    def size(self) -> tuple[float, float]:
        """Board width (along x) and height (along y), m."""
        return self.squares[0] * self.square, self.squares[1] * self.square

    def image(self, px_per_square: int = 100) -> np.ndarray:
        """The board to print (grey uint8), squares exactly ``px_per_square`` pixels."""
        return self.board().generateImage((self.squares[0] * px_per_square, self.squares[1] * px_per_square), marginSize=0)

    def base_from_board(self) -> np.ndarray:
        """4x4 pose of the board frame in the robot base frame."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        t = np.eye(4)
        t[:3, :3] = np.array([[c, s, 0.0], [s, -c, 0.0], [0.0, 0.0, -1.0]])  # columns: x, y, z (face up)
        t[:3, 3] = self.origin
        return t


@dataclass
class Calibration:
    pose: CameraPose
    frames: int
    """Frames in which the board was found."""
    corners: int
    """Corner observations used (all frames)."""
    reprojection_px: float
    """RMS reprojection error of the solved pose, pixels."""
    depth_error_mm: float = float("nan")
    """Median |aligned depth - solved depth| at the corners, mm (nan without depth)."""
    base_from_camera: np.ndarray = field(default_factory=lambda: np.eye(4))


def detect(target: ChArUcoTarget, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ChArUco corners (N, 2) pixels and their ids (N,) in an RGB image; empty when not found."""
    detector = cv2.aruco.CharucoDetector(target.board())
    corners, ids, _, _ = detector.detectBoard(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    if ids is None or len(ids) == 0:
        return np.zeros((0, 2), np.float32), np.zeros(0, int)
    return corners.reshape(-1, 2).astype(np.float32), ids.reshape(-1).astype(int)


def calibrate(target: ChArUcoTarget, frames, intrinsics: Intrinsics, dist: np.ndarray | None = None, min_corners: int = 8) -> Calibration:
    """Camera pose in the base frame from frames of a static camera looking at the board.

    ``frames``: iterable of (rgb, depth in metres or None). Raises ValueError when the board was
    not seen well enough (fewer than ``min_corners`` corners in every frame)."""
    problems = target.problems()
    if problems:
        raise ValueError("; ".join(problems))
    board_points = np.asarray(target.board().getChessboardCorners(), np.float64)
    k = intrinsics.matrix()
    dist = np.zeros(5) if dist is None else np.asarray(dist, float)
    obj, img, depths, used = [], [], [], 0
    for rgb, depth in frames:
        px, ids = detect(target, rgb)
        if len(ids) < min_corners:
            continue
        used += 1
        obj.append(board_points[ids])
        img.append(px.astype(np.float64))
        depths.append((px, depth))
    if not used:
        raise ValueError(
            f"the ChArUco board ({target.squares[0]}x{target.squares[1]} squares of "
            f"{target.square * 100:g} cm, {target.dictionary}) was not found with >= {min_corners} "
            "corners in any frame: check the print, its size and the lighting"
        )
    obj_all, img_all = np.concatenate(obj), np.concatenate(img)
    ok, rvec, tvec = cv2.solvePnP(obj_all, img_all, k, dist, flags=cv2.SOLVEPNP_IPPE)
    if not ok:
        raise ValueError("solvePnP failed on the detected corners")
    rvec, tvec = cv2.solvePnPRefineLM(obj_all, img_all, k, dist, rvec, tvec)
    proj, _ = cv2.projectPoints(obj_all, rvec, tvec, k, dist)
    rms = float(np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - img_all) ** 2, axis=1))))
    cam_from_board = np.eye(4)
    cam_from_board[:3, :3] = cv2.Rodrigues(rvec)[0]
    cam_from_board[:3, 3] = tvec.reshape(3)
    base_from_cam = target.base_from_board() @ np.linalg.inv(cam_from_board)
    pose = CameraPose.from_rotation(base_from_cam[:3, 3], base_from_cam[:3, :3], table_z=target.origin[2])
    # depth check: each corner's distance along the optical axis, solved vs measured
    errors = []
    for (px, depth), o in zip(depths, obj):
        if depth is None:
            continue
        z_solved = (cam_from_board[:3, :3] @ o.T + cam_from_board[:3, 3:4])[2]
        u = np.clip(np.round(px[:, 0]).astype(int), 0, depth.shape[1] - 1)
        v = np.clip(np.round(px[:, 1]).astype(int), 0, depth.shape[0] - 1)
        z_meas = depth[v, u]
        good = z_meas > 0
        errors.extend(np.abs(z_meas[good] - z_solved[good]) * 1000)
    return Calibration(pose, used, len(obj_all), rms, float(np.median(errors)) if errors else float("nan"), base_from_cam)


def pose_error(estimate: CameraPose, truth: CameraPose) -> tuple[float, float]:
    """(position error m, rotation error deg) between two camera poses."""
    dp = float(np.linalg.norm(np.asarray(estimate.position) - np.asarray(truth.position)))
    r = estimate.rotation().T @ truth.rotation()
    angle = float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0))))
    return dp, angle


def update_params_text(text: str, pose: CameraPose, section: str = "state_estimator_node") -> str:
    """The params file with ``section``'s camera_position / camera_look_at / camera_roll replaced
    (comments and everything else kept as they are). Raises ValueError if a key is missing."""
    values = {
        "camera_position": "[" + ", ".join(f"{v:.4f}" for v in pose.position) + "]",
        "camera_look_at": "[" + ", ".join(f"{v:.4f}" for v in pose.look_at) + "]",
        "camera_roll": f"{pose.roll:.5f}",
    }
    lines, inside, done = text.splitlines(keepends=True), False, set()
    for i, line in enumerate(lines):
        if line and not line[0].isspace() and line.strip():
            inside = line.rstrip().rstrip(":") == section
            continue
        key = line.strip().split(":", 1)[0]
        if inside and key in values:
            indent = line[: len(line) - len(line.lstrip())]
            comment = line[line.index("#") :].rstrip("\n") if "#" in line else ""
            body = f"{indent}{key}: {values[key]}"
            lines[i] = (body.ljust(37) + " " + comment if comment else body) + "\n"
            done.add(key)
    missing = set(values) - done
    if missing:
        raise ValueError(f"the params file has no {sorted(missing)} under {section}")
    return "".join(lines)

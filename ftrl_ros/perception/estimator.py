"""Colour + depth frames in, the task's state vector out: YOLO and the colour filter fused.

Per object and frame:
1. the best YOLO box of its class, widened a little; the object's colour mask *inside the box*
   gives the centre (a box is loose, the mask is tight). Colour blobs of the same hue outside
   the box (tape, clothing, a second red thing) are ignored: YOLO vetoes what is not an object;
2. if YOLO misses it, the colour filter alone over the whole image: the blob closest to where
   the tracker expects the object, among blobs big enough to be it;
3. mask pixels + aligned depth -> base frame, centre of the object's top surface
   (``geometry.locate_top``; table-plane prior when depth is missing or occluded);
4. the object's tracker filters the position, estimates its velocity and rejects jumps.
The robot's own TCP position/velocity come from the robot, not the camera.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..tasks import get_task
from .camera_model import CameraPose, Intrinsics
from .color_filter import band_mask, blobs
from .detector import Detection, OnnxDetector
from .geometry import base_to_pixel, locate_top
from .objects import Catalogue, ObjectSpec
from .tracker import Track, TrackerConfig


@dataclass(frozen=True)
class EstimatorConfig:
    box_margin: int = 4
    """Pixels added around a YOLO box before colour filtering inside it."""
    min_mask_pixels: int = 12
    """Fewer colour pixels inside a box than this: use the box centre instead."""
    depth_radius: int = 2
    """Half-size (px) of the depth window at a box centre when the box holds no colour."""
    fallback_gate_px: float = 60.0
    """Colour-only fallback: blobs further than this from the predicted pixel are not the object."""
    detect_interval: float = 0.0
    """Run YOLO at most this often, s (0 = every frame). In between, each object is followed by
    its colour inside its last YOLO box moved by the tracker; an object that cannot be followed is
    found by colour alone until YOLO is due again."""
    follow_margin: int = 8
    """Pixels added around a followed box."""
    closest_distance: float = 0.6
    """Nearest the camera gets to an object, m: bounds how wide (px) an object can look."""
    tracker: TrackerConfig = TrackerConfig()


class ObjectEstimate(NamedTuple):
    name: str
    xyz: np.ndarray | None
    """Measured centre this frame (base frame, m), before tracking; None if not found."""
    pixel: tuple[float, float] | None
    source: str
    """'yolo+colour', 'yolo' (box centre), 'track+colour' (between detections), 'colour'
    (fallback) or 'none'."""
    score: float
    used_prior: bool
    box: tuple[float, float, float, float] | None


class StateEstimate(NamedTuple):
    state: np.ndarray
    """The task's state vector (float32); NaN for objects not seen recently (stale): nothing
    downstream may act on an old position, the robot holds still instead."""
    stale: tuple[str, ...]
    """Objects (or 'robot') without a fresh measurement: the state must not be acted on."""


class StateEstimator:
    def __init__(
        self,
        task: str,
        catalogue: Catalogue,
        intrinsics: Intrinsics | None,
        pose: CameraPose | None,
        detector: OnnxDetector | None,
        cfg: EstimatorConfig = EstimatorConfig(),
    ):
        self.spec = get_task(task)
        self.objects: tuple[ObjectSpec, ...] = catalogue.for_task(task)
        self.intr, self.pose, self.detector, self.cfg = intrinsics, pose, detector, cfg
        layout = self.spec.layout
        for obj in self.objects:
            layout.columns(obj.name)  # the catalogue and the task layout must agree
        self.velocity_objects = [o.name for o in self.objects if f"{o.name}_v" in _groups(layout)]
        self.tracks = {o.name: Track(cfg.tracker) for o in self.objects}
        self.last_detections: list[Detection] = []
        self._t_last: float | None = None
        self._t_detect = -np.inf
        self._boxes: dict[str, tuple[tuple, tuple[float, float] | None] | None] = {}

    def reset(self) -> None:
        """Forget all tracks (new episode, or frames that are not a sequence)."""
        self.tracks = {o.name: Track(self.cfg.tracker) for o in self.objects}
        self._t_last = None
        self._t_detect = -np.inf
        self._boxes = {}

    def set_camera(self, intrinsics: Intrinsics, pose: CameraPose | None = None) -> None:
        self.intr = intrinsics
        if pose is not None:
            self.pose = pose

    # --- per frame -------------------------------------------------------------------------
    def observe(self, rgb: np.ndarray, depth: np.ndarray, t: float) -> dict[str, ObjectEstimate]:
        """Process one frame taken at time ``t`` (s). ``depth`` in metres, aligned to colour,
        0 or NaN where invalid. YOLO runs when ``detect_interval`` has passed since its last run
        and not in between, also while an object is lost: on 2 cores a run costs 15-30 ms, and
        running it on every frame while the hand hides the puck overloaded a 30 Hz graph
        (stretches of seconds at 100-250 ms camera -> command)."""
        if rgb.shape[:2] != depth.shape[:2]:
            raise ValueError(f"colour {rgb.shape[:2]} and depth {depth.shape[:2]} are not aligned")
        if self.pose is None or self.intr is None:
            raise ValueError("no camera model: pass intrinsics and pose or call set_camera() before observe()")
        if self._t_last is not None and t < self._t_last:
            self.reset()  # time went backwards: a recording looped or the clock was reset
        self._t_last = t
        dets: list[Detection] = []
        follow = self.detector is not None
        if self.detector is not None and t - self._t_detect >= self.cfg.detect_interval:
            dets, follow = self.detector.detect(rgb), False
            self._t_detect, self.last_detections = t, dets
        out = {}
        for obj in self.objects:
            # without a detection this frame: follow what can be followed; the rest by colour
            # alone until YOLO is due again (YOLO never runs more often than detect_interval)
            est = self._follow(obj, rgb, depth, t) if follow else None
            if est is None or est.xyz is None:
                est = self._find(obj, rgb, depth, dets, t)
            if est.xyz is not None:
                self.tracks[obj.name].update(t, est.xyz[:2])
                pos = self.tracks[obj.name].pos
                if est.source.startswith(("yolo", "track")) and est.box is not None and pos is not None:
                    # remember the box with where the track put the object then (in pixels)
                    self._boxes[obj.name] = (est.box, self._project(obj, pos))
            if not est.source.startswith(("yolo", "track")):
                self._boxes[obj.name] = None  # only boxes YOLO vouched for are followed
            out[obj.name] = est
        return out

    def _follow(self, obj: ObjectSpec, rgb, depth, t: float) -> ObjectEstimate | None:
        """Between detections: the object's colour inside its last YOLO-confirmed box, moved by
        the tracker's predicted motion (cheap; YOLO runs again every ``detect_interval``)."""
        remembered = self._boxes.get(obj.name)
        if remembered is None:
            return None
        box, then = remembered
        expect = self._expected_pixel(obj, t)
        if expect is None or then is None:
            return None
        dx, dy = expect[0] - then[0], expect[1] - then[1]
        m = self.cfg.follow_margin
        x, y, w, h = box
        est = self._measure(obj, rgb, depth, (x + dx - m, y + dy - m, w + 2 * m, h + 2 * m), "track", 0.0)
        return est._replace(box=(x + dx, y + dy, w, h)) if est.source == "track+colour" else None

    def _project(self, obj: ObjectSpec, xy: np.ndarray) -> tuple[float, float]:
        assert self.pose is not None and self.intr is not None
        u, v, _ = base_to_pixel(np.array([xy[0], xy[1], obj.center_height]), self.intr, self.pose)
        return u, v

    def state(self, t: float, ee_xy: np.ndarray, ee_v: np.ndarray, robot_stale: bool = False) -> StateEstimate:
        values: dict[str, np.ndarray] = {"ee": np.asarray(ee_xy, float), "ee_v": np.asarray(ee_v, float)}
        stale = ["robot"] if robot_stale else []
        for obj in self.objects:
            track = self.tracks[obj.name]
            fresh = track.pos is not None and not track.stale(t)
            values[obj.name] = track.pos if fresh and track.pos is not None else np.full(2, np.nan)
            if obj.name in self.velocity_objects:
                values[f"{obj.name}_v"] = track.vel if fresh else np.full(2, np.nan)
            if not fresh:
                stale.append(obj.name)
        layout = self.spec.layout
        state = np.full(layout.dim, np.nan, np.float32)
        for prefix, v in values.items():
            state[layout.columns(prefix)] = v
        return StateEstimate(state, tuple(stale))

    # --- internals -------------------------------------------------------------------------
    def _find(self, obj: ObjectSpec, rgb, depth, dets: list[Detection], t: float) -> ObjectEstimate:
        mine = [d for d in dets if d.class_id == obj.class_id]
        if mine:
            det = self._pick(obj, mine, t)
            return self._measure(obj, rgb, depth, det.box, "yolo", det.score)
        # colour only: blobs on a half-size image (4x cheaper), then the full-size mask in its box
        small = rgb[::2, ::2]
        assert self.intr is not None
        widest = 1.5 * obj.size * self.intr.fx / self.cfg.closest_distance / 2  # px on the half-size image
        found = [
            b
            for b in blobs(band_mask(small, obj.band, open_px=1, close_px=1), max(obj.min_area // 4, 1))
            if max(b.box[2], b.box[3]) <= widest
        ]
        expect = self._expected_pixel(obj, t)
        if expect is not None:
            dist = lambda b: np.hypot(2 * b.cx - expect[0], 2 * b.cy - expect[1])  # noqa: E731
            found = sorted((b for b in found if dist(b) < self.cfg.fallback_gate_px), key=dist)
        if not found:
            return ObjectEstimate(obj.name, None, None, "none", 0.0, False, None)
        x, y, w, h = (2 * v for v in found[0].box)
        return self._measure(obj, rgb, depth, (x, y, w, h), "colour", 0.0)

    def _pick(self, obj: ObjectSpec, dets: list[Detection], t: float) -> Detection:
        """The best-scoring box near where the tracker expects the object (any box if none is)."""
        expect = self._expected_pixel(obj, t)
        if expect is not None:
            near = [d for d in dets if np.hypot(d.center[0] - expect[0], d.center[1] - expect[1]) < self.cfg.fallback_gate_px]
            dets = near or dets
        return max(dets, key=lambda d: d.score)

    def _expected_pixel(self, obj: ObjectSpec, t: float) -> tuple[float, float] | None:
        track = self.tracks[obj.name]
        pred = track.predict(t)
        if pred is None or track.stale(t):
            return None
        return self._project(obj, pred)

    def _measure(self, obj: ObjectSpec, rgb, depth, box, source: str, score: float) -> ObjectEstimate:
        """The object's colour mask inside ``box`` (widened by a margin) -> pixel centre and 3-D centre."""
        x, y, w, h = box
        m = self.cfg.box_margin
        height, width = rgb.shape[:2]
        x0, y0 = min(max(int(x) - m, 0), width), min(max(int(y) - m, 0), height)
        x1, y1 = max(min(int(np.ceil(x + w)) + m, width), x0), max(min(int(np.ceil(y + h)) + m, height), y0)
        if x1 - x0 < 2 or y1 - y0 < 2:  # the box left the image
            return ObjectEstimate(obj.name, None, None, "none", 0.0, False, None)
        mask = band_mask(rgb[y0:y1, x0:x1], obj.band, open_px=1, close_px=1)
        ys, xs = np.nonzero(mask)
        if len(xs) >= self.cfg.min_mask_pixels:
            us, vs, tag = xs + x0, ys + y0, "+colour" if source in ("yolo", "track") else ""
        else:  # no colour inside the box (lighting, occlusion): the box centre, depth from its middle
            if source in ("colour", "track"):
                return ObjectEstimate(obj.name, None, None, "none", 0.0, False, None)
            cu, cv = (x0 + x1) // 2, (y0 + y1) // 2
            r = self.cfg.depth_radius
            vs, us = np.mgrid[max(cv - r, 0) : min(cv + r + 1, height), max(cu - r, 0) : min(cu + r + 1, width)].reshape(2, -1)
            tag = ""
        assert self.pose is not None and self.intr is not None  # observe() refuses to run without them
        loc = locate_top(us, vs, depth[vs, us], self.intr, self.pose, obj.center_height, obj.top_height)
        pixel = (float(np.mean(us)), float(np.mean(vs)))
        if loc is None:
            return ObjectEstimate(obj.name, None, pixel, "none", score, False, box)
        return ObjectEstimate(obj.name, loc.xyz, pixel, source + tag, score, loc.used_prior, box)


def _groups(layout) -> set[str]:
    return {n[:-1].rstrip("_") for n in layout.names}

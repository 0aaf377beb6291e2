"""RealSense capture and recordings through pyrealsense2: live cameras, playback of recording
files, and writing recordings from any RGB-D frames (sim renders) with a software device.

Frames come out as realsense-ros publishes them: colour RGB8 and depth aligned to colour as
uint16 millimetres (0 = no depth), with the colour stream's intrinsics.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterable, NamedTuple

import numpy as np

from .camera_model import Intrinsics

DEPTH_UNITS = 0.001
"""Metres per depth count, as realsense-ros publishes (16UC1 in millimetres)."""


class RGBDFrame(NamedTuple):
    rgb: np.ndarray
    """HxWx3 uint8."""
    depth_mm: np.ndarray
    """HxW uint16, aligned to colour; 0 where there is no depth."""
    timestamp_ms: float
    """The frame's own timestamp (device or recorded time), milliseconds."""
    frame_number: int


def depth_to_mm(depth_m: np.ndarray, max_range: float = 10.0) -> np.ndarray:
    """Metres (float) -> RealSense uint16 millimetres; NaN, <= 0 or beyond ``max_range`` -> 0."""
    d = np.asarray(depth_m, np.float64)
    ok = np.isfinite(d) & (d > 0) & (d <= max_range)
    return np.where(ok, np.round(d / DEPTH_UNITS), 0).astype(np.uint16)


def _rs_intrinsics(rs, intr: Intrinsics):
    out = rs.intrinsics()
    out.width, out.height, out.ppx, out.ppy, out.fx, out.fy = intr.width, intr.height, intr.cx, intr.cy, intr.fx, intr.fy
    out.model, out.coeffs = rs.distortion.none, [0.0] * 5
    return out


def write_recording(
    path: str | Path, frames: Iterable[tuple[np.ndarray, np.ndarray, float]], intr: Intrinsics, fps: int = 30, pace: bool = True
) -> int:
    """Write (rgb uint8, depth_mm uint16, timestamp_ms) frames to a RealSense recording (rosbag2
    .db3 with librealsense 2.58+) through a software device and ``rs.recorder``: exactly what a
    D435 recording holds, so playback goes through the real library. Atomic: the file appears
    only when complete. Returns the number of frames written.

    librealsense stamps what it records with its own clock and replays that clock in real-time
    playback, so with ``pace`` frames are handed over at their timestamps' spacing (writing takes
    as long as the recording lasts) and play back at the right rate."""
    import pyrealsense2 as rs

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    tmp.unlink(missing_ok=True)
    dev = rs.software_device()
    sensors, profiles = [], []
    for name, stream, fmt, bpp, uid in (("Depth", rs.stream.depth, rs.format.z16, 2, 0), ("Color", rs.stream.color, rs.format.rgb8, 3, 1)):
        sensor = dev.add_sensor(name)
        vs = rs.video_stream()
        vs.type, vs.index, vs.uid, vs.fmt, vs.bpp = stream, 0, uid, fmt, bpp
        vs.width, vs.height, vs.fps, vs.intrinsics = intr.width, intr.height, fps, _rs_intrinsics(rs, intr)
        profiles.append(sensor.add_video_stream(vs))
        sensors.append(sensor)
    sensors[0].add_read_only_option(rs.option.depth_units, DEPTH_UNITS)
    identity = rs.extrinsics()
    identity.rotation, identity.translation = [1, 0, 0, 0, 1, 0, 0, 0, 1], [0, 0, 0]
    profiles[0].register_extrinsics_to(profiles[1], identity)  # depth is rendered from the colour camera
    recorder = rs.recorder(str(tmp), dev)
    sync = rs.syncer()
    n = 0
    try:
        for sensor, profile in zip(sensors, profiles):
            sensor.open(profile)
            sensor.start(sync)
        t_wall0: float | None = None
        t_ms0 = 0.0
        for rgb, depth_mm, t_ms in frames:
            if pace:
                if t_wall0 is None:
                    t_wall0, t_ms0 = time.monotonic(), t_ms
                time.sleep(max(0.0, t_wall0 + (t_ms - t_ms0) / 1000.0 - time.monotonic()))
            if rgb.shape != (intr.height, intr.width, 3) or depth_mm.shape != (intr.height, intr.width):
                raise ValueError(f"frame {n}: expected {intr.width}x{intr.height}, got {rgb.shape} / {depth_mm.shape}")
            for sensor, profile, arr, bpp in (
                (sensors[0], profiles[0], np.ascontiguousarray(depth_mm, np.uint16), 2),
                (sensors[1], profiles[1], np.ascontiguousarray(rgb, np.uint8), 3),
            ):
                f = rs.software_video_frame()
                f.pixels, f.stride, f.bpp = arr, intr.width * bpp, bpp
                f.timestamp, f.domain, f.frame_number = float(t_ms), rs.timestamp_domain.hardware_clock, n
                f.profile = profile.as_video_stream_profile()
                sensor.on_video_frame(f)
            sync.wait_for_frames(2000)
            n += 1
        for sensor in sensors:
            sensor.stop()
            sensor.close()
        del recorder  # closes the file
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return n


MAX_BROKEN_SETS = 60
"""Consecutive framesets ``RealSenseSource.read`` skips (2 s at 30 f/s) before it reports none."""
PLAYBACK_QUEUE = 256
"""Framesets a playback may run ahead of its reader (a 5 Hz recording: ~50 s)."""


class RealSenseSource:
    """Colour + aligned depth from a live camera (by serial number, '' = first found) or from a
    recording file (at the pace it was recorded with ``realtime``; librealsense may drop a
    playback's first frame). ``read`` blocks up to ``timeout_ms`` and returns None when nothing came
    (camera unplugged, or a recording played to its end without ``repeat``)."""

    def __init__(
        self,
        serial: str = "",
        playback_file: str = "",
        width: int = 640,
        height: int = 480,
        fps: int = 30,
        repeat: bool = False,
        realtime: bool = True,
    ):
        import pyrealsense2 as rs

        self.rs = rs
        cfg = rs.config()
        if playback_file:
            if not Path(playback_file).is_file():
                raise FileNotFoundError(f"RealSense recording not found: {playback_file}")
            cfg.enable_device_from_file(str(playback_file), repeat_playback=repeat)
        else:
            if serial:
                cfg.enable_device(serial)
            cfg.enable_stream(rs.stream.color, width, height, rs.format.rgb8, fps)
            cfg.enable_stream(rs.stream.depth, width, height, rs.format.z16, fps)
        self.pipeline = rs.pipeline()
        # a playback goes through a deep queue so a busy reader loses no frame (the pipeline's
        # own single-slot hand-over dropped frames a loaded reader was late for); a live camera
        # keeps the pipeline's newest-frame behaviour: late frames are worth nothing there
        self.queue = rs.frame_queue(PLAYBACK_QUEUE, keep_frames=True) if playback_file else None
        profile = self.pipeline.start(cfg, self.queue) if self.queue is not None else self.pipeline.start(cfg)
        self.device = profile.get_device()

        if playback_file:
            # real time: frames come at the pace they were recorded (librealsense replays the
            # recording's own clock); otherwise as fast as the pipeline delivers them
            self.device.as_playback().set_real_time(realtime)
        depth_sensor = self.device.first_depth_sensor()
        self.depth_scale = depth_sensor.get_depth_scale() if depth_sensor else DEPTH_UNITS
        color = profile.get_stream(rs.stream.color).as_video_stream_profile().get_intrinsics()
        self.intrinsics = Intrinsics(color.width, color.height, color.fx, color.fy, color.ppx, color.ppy)
        self.align = rs.align(rs.stream.color)
        fps_actual = profile.get_stream(rs.stream.color).fps() or fps
        self.max_skew_ms = 500.0 / fps_actual
        """Colour and depth further apart than half a frame period are not one frame."""
        self._last: tuple[int, float] | None = None
        self.skipped = 0

    def read(self, timeout_ms: int = 1000) -> RGBDFrame | None:
        for _ in range(MAX_BROKEN_SETS):
            if self.queue is not None:
                ok, frame = self.queue.try_wait_for_frame(timeout_ms)
                frames = frame.as_frameset() if ok else None
            else:
                ok, frames = self.pipeline.try_wait_for_frames(timeout_ms)
            if not ok:
                return None
            frames = self.align.process(frames)
            color, depth = frames.get_color_frame(), frames.get_depth_frame()
            # skipped: a set without one of the streams (the syncer's, on a busy machine: not
            # the end of the stream), a frame handed out twice, or colour and depth from
            # different moments (a playback looping pairs the last colour with the first depth)
            if color and depth:
                t_ms = float(color.get_timestamp())
                key = (int(color.get_frame_number()), t_ms)
                if key != self._last and abs(float(depth.get_timestamp()) - t_ms) <= self.max_skew_ms:
                    break
            self.skipped += 1
        else:  # nothing but broken sets: as if none came (a live camera missing a stream)
            return None
        self._last = key
        rgb = np.asanyarray(color.get_data()).copy()
        depth_raw = np.asanyarray(depth.get_data())
        if abs(self.depth_scale - DEPTH_UNITS) > 1e-9:  # some models count in other units: publish mm
            depth_raw = depth_to_mm(depth_raw * self.depth_scale)
        return RGBDFrame(rgb, depth_raw.copy(), t_ms, int(color.get_frame_number()))

    def close(self) -> None:
        try:
            self.pipeline.stop()
        except RuntimeError:
            pass

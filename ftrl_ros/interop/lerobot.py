"""Our episodes as a LeRobotDataset (v3.0) and back.

LeRobot's ``lerobot`` package cannot share our venv (it pins torch < 2.11, we pin 2.13), so this
module writes the published v3.0 layout itself with pyarrow, and the tests load what it writes with
LeRobot's own ``LeRobotDataset`` from a venv of its own (``.venv-lerobot``)::

    meta/info.json                            codebase_version v3.0, fps, features (dtype, shape, names)
    meta/stats.json                           per feature: min, max, mean, std, count, q01..q99
    meta/tasks.parquet                        task string (pandas index) -> task_index
    meta/episodes/chunk-000/file-000.parquet  one row per episode: length, frame range, file, + ours
    data/chunk-000/file-000.parquet           one row per frame (control step)

A frame is one control step t of an episode: ``observation.state`` = states[t] (named by the task's
layout), ``action`` = the executed action, ``action.proposed`` = the task policy's own proposal (NaN
where none ran), ``next.reward`` / ``next.success`` / ``next.done`` as LeRobot's RL datasets name them,
and what only a failure-aware stack records: ``ir_failure``, ``cost``, ``constraint`` (the task's
constraint holds in ``observation.state``), ``risk`` (C_H of the proposal), ``eps_safe`` (the threshold
it was compared with), ``source`` (who acted: ``SOURCE_NAMES[source]``). Hold ticks (stale input,
e-stop) are not steps of our episodes, so no frame has them. Each episode row adds success, IR failure,
the operator's interventions, end reason, kind, return, and the final state (``final.observation.state``)
with our episode metadata (``ftrl.meta``), so :func:`read_dataset` gives back the very episodes.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..learning.dataset import FALLBACK_SOURCES, SOURCE_NAMES as _NAMES, SOURCES, Episode, EpisodeRecorder
from ..tasks import get_task
from ..utils.atomic import atomic_write_folder

CODEBASE_VERSION = "v3.0"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
VIDEO_KEY = "observation.images.color"
"""The camera (colour) frames a bag recorded, one per step, as an MPEG-4 video (all episodes in one file)."""
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"
SOURCE_NAMES = [_NAMES[code] for code in range(len(_NAMES))]
"""``source`` codes -> names, as the ``names`` list of the ``source`` feature (codes are 0..n-1)."""
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)


class LeRobotError(ValueError):
    """A dataset that is not a LeRobotDataset v3.0 this module can read (names the file and field)."""


@dataclass(frozen=True)
class Step:
    """One per-frame feature: its LeRobot dtype, and where its value comes from in an Episode."""

    dtype: str
    attr: str
    doc: str


STEP_FEATURES: dict[str, Step] = {
    "action": Step("float32", "actions", "executed action, normalised to [-1, 1]"),
    "action.proposed": Step("float32", "proposals", "the task policy's own proposal (NaN: no task policy ran)"),
    "action.logp": Step("float32", "logp", "task policy's log-prob of the executed action"),
    "action.proposed_logp": Step("float32", "proposal_logp", "task policy's log-prob of its proposal"),
    "next.reward": Step("float32", "rewards", "reward of the step"),
    "next.success": Step("bool", "success", "success test after the step"),
    "next.done": Step("bool", "", "the episode ended after this step (terminated or truncated)"),
    "next.terminated": Step("bool", "terminated", "ended by an IR failure: do not bootstrap"),
    "next.truncated": Step("bool", "truncated", "cut by the time limit or the operator: bootstrap"),
    "ir_failure": Step("bool", "ir_failure", "an intervention-requiring failure during the step"),
    "cost": Step("float32", "costs", "c_t of the step"),
    "constraint": Step("bool", "", "the task's constraint holds in observation.state"),
    "risk": Step("float32", "risk", "C_H the safety filter computed for the proposal (NaN: none)"),
    "eps_safe": Step("float32", "", "the threshold C_H was compared with (NaN: unknown)"),
    "source": Step("int64", "source", "who produced the executed action (names: SOURCE_NAMES)"),
}
INDEX_FEATURES = {
    "timestamp": "float32",
    "frame_index": "int64",
    "episode_index": "int64",
    "index": "int64",
    "task_index": "int64",
}


def features(task: str, video: tuple[int, int] | None = None) -> dict[str, dict[str, Any]]:
    """``info.json``'s features of ``task``'s episodes (``video``: the camera frames' (H, W))."""
    spec = get_task(task)
    names, actions = list(spec.layout.names), list(spec.action_names)
    out: dict[str, dict[str, Any]] = {"observation.state": {"dtype": "float32", "shape": [len(names)], "names": names}}
    for key, step in STEP_FEATURES.items():
        vector = step.attr in ("actions", "proposals")
        out[key] = {
            "dtype": step.dtype,
            "shape": [len(actions)] if vector else [1],
            "names": actions if vector else SOURCE_NAMES if key == "source" else None,
        }
    if video is not None:
        h, w = video
        out[VIDEO_KEY] = {
            "dtype": "video",
            "shape": [h, w, 3],
            "names": ["height", "width", "channels"],
            "info": {
                "video.height": h,
                "video.width": w,
                "video.codec": "mpeg4",
                "video.pix_fmt": "yuv420p",
                "video.is_depth_map": False,
                "video.fps": round(1.0 / get_task(task).control_dt),
                "video.channels": 3,
                "has_audio": False,
            },
        }
    out |= {k: {"dtype": d, "shape": [1], "names": None} for k, d in INDEX_FEATURES.items()}
    return out


def encode_video(frames: np.ndarray, fps: int) -> bytes:
    """(N, H, W, 3) uint8 RGB -> MPEG-4 part 2 in MP4 (OpenCV's bundled FFmpeg; PyAV decodes it)."""
    import tempfile

    import cv2

    n, h, w, _ = frames.shape
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "v.mp4")
        fourcc = cv2.VideoWriter_fourcc(*"mp4v")  # type: ignore[attr-defined]
        writer = cv2.VideoWriter(path, fourcc, fps, (w, h))
        if not writer.isOpened():
            raise LeRobotError("OpenCV cannot write MPEG-4 video here")
        for f in frames:
            writer.write(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2BGR))
        writer.release()
        return Path(path).read_bytes()


def _image_stats(frames: np.ndarray) -> dict[str, list]:
    """LeRobot's image statistics: per channel, pixels scaled to [0, 1], shaped (3, 1, 1)."""
    x = frames[:: max(1, len(frames) // 100)].reshape(-1, 3).astype(np.float64) / 255.0
    per = {"min": x.min(0), "max": x.max(0), "mean": x.mean(0), "std": x.std(0)}
    per |= {f"q{round(q * 100):02d}": np.quantile(x, q, axis=0) for q in QUANTILES}
    out: dict[str, list] = {k: [[[float(c)]] for c in v] for k, v in per.items()}
    out["count"] = [len(frames)]
    return out


def eps_safe_per_step(ep: Episode) -> np.ndarray:
    """The episode's eps_safe at each step: from ``meta['eps_safe']`` (a list, one per step, as the
    logger records it from the decisions; or one number for the whole episode), else NaN."""
    value = ep.meta.get("eps_safe")
    out = np.full(len(ep), np.nan, np.float32)
    if isinstance(value, (int, float)):
        out[:] = value
    elif isinstance(value, list) and len(value) == len(ep):
        out[:] = np.asarray([v if isinstance(v, (int, float)) else np.nan for v in value], np.float32)
    return out


def frame_columns(ep: Episode, task: str) -> dict[str, np.ndarray]:
    """The per-frame values of one episode (T rows each), by feature name."""
    spec = get_task(task)
    cols: dict[str, np.ndarray] = {"observation.state": ep.states[:-1]}
    for key, step in STEP_FEATURES.items():
        if step.attr:
            cols[key] = getattr(ep, step.attr)
    cols["next.done"] = ep.terminated | ep.truncated
    cols["constraint"] = np.array([bool(spec.constraint(s)) for s in ep.states[:-1]])
    cols["eps_safe"] = eps_safe_per_step(ep)
    cols["source"] = ep.source.astype(np.int64)
    return cols


def episode_row(ep: Episode) -> dict[str, Any]:
    """What LeRobot users want per episode besides the frames: outcome and who intervened."""
    operator = ep.source == SOURCES["operator"]
    takeovers = int(operator[0]) + int(np.sum(operator[1:] & ~operator[:-1])) if len(ep) else 0
    end_reason = str(ep.meta.get("end_reason") or ("ir_failure" if ep.failed else "time_limit"))
    return {
        "success": bool(ep.success.any()),
        "ir_failure": bool(ep.failed),
        "interventions": takeovers + int(end_reason == "intervention"),
        "operator_steps": int(operator.sum()),
        "recovery_steps": int(np.isin(ep.source, [SOURCES[s] for s in FALLBACK_SOURCES]).sum()),
        "end_reason": end_reason,
        "kind": str(ep.meta.get("kind", "online")),
        "return": float(ep.ret),
    }


def _stats(values: np.ndarray) -> dict[str, list]:
    """LeRobot's per-feature statistics (over frames, per column); NaN entries are left out."""
    v = np.asarray(values, np.float64).reshape(len(values), -1)
    finite = np.where(np.isfinite(v), v, np.nan)
    with warnings.catch_warnings():  # all-NaN columns (expert demos' action.proposed) give NaN stats, written as null
        warnings.simplefilter("ignore", RuntimeWarning)
        out = {
            "min": np.nanmin(finite, axis=0),
            "max": np.nanmax(finite, axis=0),
            "mean": np.nanmean(finite, axis=0),
            "std": np.nanstd(finite, axis=0),
        }
        out |= {f"q{round(q * 100):02d}": np.nanquantile(finite, q, axis=0) for q in QUANTILES}
    res: dict[str, list] = {k: [None if not np.isfinite(x) else float(x) for x in a] for k, a in out.items()}
    res["count"] = [len(values)]
    return res


def _arrow_column(values: np.ndarray, dtype: str):
    import pyarrow as pa

    arrow = {"float32": pa.float32(), "int64": pa.int64(), "bool": pa.bool_()}[dtype]
    arr = np.asarray(values)
    if arr.ndim == 2:
        flat = pa.array(arr.astype(np.dtype(dtype) if dtype != "bool" else bool).ravel(), type=arrow)
        return pa.FixedSizeListArray.from_arrays(flat, arr.shape[1])
    return pa.array(arr.astype(np.dtype(dtype) if dtype != "bool" else bool), type=arrow)


def _hf_features(feats: dict[str, dict]) -> dict:
    """The ``huggingface`` schema metadata ``datasets`` writes, so the parquet file describes itself."""
    out = {}
    for key, ft in feats.items():
        value = {"dtype": ft["dtype"], "_type": "Value"}
        out[key] = value if ft["shape"] == [1] else {"feature": value, "length": ft["shape"][0], "_type": "List"}
    return {"info": {"features": out}}


def _parquet(table) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def write_dataset(
    episodes: list[Episode], out: str | Path, robot_type: str = "franka_panda", videos: list[np.ndarray] | None = None
) -> dict[str, Any]:
    """Write ``episodes`` (one task) as a LeRobotDataset v3.0 at ``out``, atomically (a crash leaves
    the old folder or the new one). ``videos``: each episode's camera frames, (T, H, W, 3) uint8
    RGB, one per step (as ``VIDEO_KEY``). Returns the ``info.json`` written."""
    import pyarrow as pa

    if not episodes:
        raise LeRobotError("no episodes to write")
    tasks = sorted({str(ep.meta.get("task")) for ep in episodes})
    if len(tasks) != 1 or tasks[0] == "None":
        raise LeRobotError(f"episodes of one task (meta.task) per dataset, got {tasks}")
    task = tasks[0]
    spec = get_task(task)
    fps = round(1.0 / spec.control_dt)
    if videos is not None:
        shapes = {v.shape[1:] for v in videos}
        if len(videos) != len(episodes) or any(len(v) != len(e) for v, e in zip(videos, episodes)) or len(shapes) != 1:
            raise LeRobotError("videos: one (T, H, W, 3) array per episode, T its steps, one frame size for all")
        (h, w, c) = shapes.pop()
        if c != 3:
            raise LeRobotError(f"videos: RGB frames expected, got {c} channels")
    feats = features(task, None if videos is None else (h, w))
    step_feats = {k: v for k, v in feats.items() if v["dtype"] != "video"}
    columns: dict[str, list[np.ndarray]] = {k: [] for k in step_feats}
    rows: list[dict[str, Any]] = []
    start = 0
    for i, ep in enumerate(episodes):
        ep.validate(f"episode {i}")
        if list(ep.meta.get("layout") or spec.layout.names) != list(spec.layout.names):
            raise LeRobotError(f"episode {i}: state layout differs from {task}'s")
        t = len(ep)
        cols = frame_columns(ep, task)
        cols |= {
            "timestamp": (np.arange(t) * spec.control_dt).astype(np.float32),
            "frame_index": np.arange(t),
            "episode_index": np.full(t, i),
            "index": np.arange(start, start + t),
            "task_index": np.zeros(t, np.int64),
        }
        for k in step_feats:
            columns[k].append(cols[k])
        rows.append(
            {
                "episode_index": i,
                "tasks": [task],
                "length": t,
                "data/chunk_index": 0,
                "data/file_index": 0,
                "dataset_from_index": start,
                "dataset_to_index": start + t,
                "meta/episodes/chunk_index": 0,
                "meta/episodes/file_index": 0,
                **(
                    {}
                    if videos is None
                    else {
                        f"videos/{VIDEO_KEY}/chunk_index": 0,
                        f"videos/{VIDEO_KEY}/file_index": 0,
                        f"videos/{VIDEO_KEY}/from_timestamp": start / fps,
                        f"videos/{VIDEO_KEY}/to_timestamp": (start + t) / fps,
                    }
                ),
                **episode_row(ep),
                "final.observation.state": ep.states[-1].astype(np.float64).tolist(),
                "ftrl.meta": json.dumps(ep.meta),
            }
        )
        start += t
    merged = {k: np.concatenate(v) for k, v in columns.items()}
    data = pa.table({k: _arrow_column(merged[k], step_feats[k]["dtype"]) for k in step_feats})
    data = data.replace_schema_metadata({"huggingface": json.dumps(_hf_features(step_feats))})
    info = {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": robot_type,
        "total_episodes": len(episodes),
        "total_frames": start,
        "total_tasks": 1,
        "chunks_size": 1000,
        "data_files_size_in_mb": 100,
        "video_files_size_in_mb": 200,
        "fps": fps,
        "splits": {"train": f"0:{len(episodes)}"},
        "data_path": DATA_PATH,
        "video_path": None if videos is None else VIDEO_PATH,
        "features": feats,
    }
    tasks_table = pa.table({"task_index": pa.array([0], pa.int64()), "__index_level_0__": pa.array([task], pa.large_string())})
    tasks_table = tasks_table.replace_schema_metadata({"pandas": json.dumps(_pandas_index_metadata())})
    stats = {k: _stats(merged[k]) for k in step_feats}
    files: dict[str, bytes] = {}
    if videos is not None:
        frames = np.concatenate(videos)
        stats[VIDEO_KEY] = _image_stats(frames)
        files[VIDEO_PATH.format(video_key=VIDEO_KEY, chunk_index=0, file_index=0)] = encode_video(frames, fps)
    atomic_write_folder(
        out,
        {
            **files,
            "meta/info.json": json.dumps(info, indent=4).encode(),
            "meta/stats.json": json.dumps(stats, indent=4).encode(),
            "meta/tasks.parquet": _parquet(tasks_table),
            EPISODES_PATH: _parquet(pa.Table.from_pylist(rows)),
            DATA_PATH.format(chunk_index=0, file_index=0): _parquet(data),
        },
    )
    return info


def _pandas_index_metadata() -> dict:
    """pandas' own description of a frame whose index is the task string (LeRobot reads
    ``meta/tasks.parquet`` with pandas and looks tasks up by that index)."""
    return {
        "index_columns": ["__index_level_0__"],
        "column_indexes": [
            {"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "str", "metadata": {"encoding": "UTF-8"}}
        ],
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64", "metadata": None},
            {"name": None, "field_name": "__index_level_0__", "pandas_type": "object", "numpy_type": "str", "metadata": None},
        ],
        "attributes": {},
        "creator": {"library": "pyarrow", "version": "ftrl_ros"},
        "pandas_version": "2.2.0",
    }


def read_dataset(root: str | Path) -> list[Episode]:
    """The episodes of a LeRobotDataset v3.0 this module wrote (or any with our features): the very
    arrays that were exported, final state and metadata included."""
    import pyarrow.parquet as pq

    root = Path(root)
    try:
        info = json.loads((root / "meta/info.json").read_text())
    except (OSError, ValueError) as exc:
        raise LeRobotError(f"{root}/meta/info.json: not readable ({exc})") from None
    if info.get("codebase_version") != CODEBASE_VERSION:
        raise LeRobotError(f"{root}/meta/info.json: codebase_version {info.get('codebase_version')!r}, expected {CODEBASE_VERSION}")
    missing = [k for k in ("observation.state", *STEP_FEATURES) if k not in info.get("features", {})]
    if missing:
        raise LeRobotError(f"{root}/meta/info.json: features {missing} missing (not a dataset ftrl_ros exported)")
    files = sorted((root / "data").glob("*/*.parquet"))
    if not files:
        raise LeRobotError(f"{root}/data: no parquet files")
    import pyarrow as pa

    frames = pa.concat_tables([pq.read_table(f) for f in files]).sort_by("index")
    cols: dict[str, np.ndarray] = {}
    for name in frames.column_names:
        column, kind = frames.column(name).combine_chunks(), frames.schema.field(name).type
        if pa.types.is_fixed_size_list(kind):
            cols[name] = np.asarray(column.flatten().to_numpy(zero_copy_only=False), np.float32).reshape(len(column), kind.list_size)
        else:
            cols[name] = column.to_numpy(zero_copy_only=False)
    episodes_meta = pq.read_table(root / EPISODES_PATH).to_pylist()
    out = []
    for row in sorted(episodes_meta, key=lambda r: r["episode_index"]):
        a, b = int(row["dataset_from_index"]), int(row["dataset_to_index"])

        def col(name: str, a=a, b=b) -> np.ndarray:
            return cols[name][a:b]

        meta = json.loads(row.get("ftrl.meta") or "{}")
        meta.setdefault("task", info.get("task") or row["tasks"][0])
        final = np.asarray(row["final.observation.state"], np.float32)
        rec = EpisodeRecorder(col("observation.state")[0] if b > a else final, meta)
        states = np.concatenate([col("observation.state"), final[None]]).astype(np.float32)
        src = col("source").astype(np.int64)
        names = [SOURCE_NAMES[s] if 0 <= s < len(SOURCE_NAMES) else None for s in src]
        if None in names:
            raise LeRobotError(f"{root}: episode {row['episode_index']}: source codes outside {SOURCE_NAMES}")
        for t in range(b - a):
            rec.add(
                col("action")[t],
                states[t + 1],
                float(col("next.reward")[t]),
                float(col("cost")[t]),
                bool(col("next.success")[t]),
                bool(col("ir_failure")[t]),
                bool(col("next.terminated")[t]),
                bool(col("next.truncated")[t]),
                source=str(names[t]),
                logp=float(col("action.logp")[t]),
                risk=float(col("risk")[t]),
                proposal=col("action.proposed")[t],
                proposal_logp=float(col("action.proposed_logp")[t]),
            )
        out.append(rec.finish())
    return out

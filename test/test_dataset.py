from __future__ import annotations

import numpy as np
import pytest

from ftrl_ros.learning.dataset import (
    FORMAT_VERSION,
    DatasetError,
    EpisodeRecorder,
    load_episode,
    load_folder,
    next_episode_path,
    save_episode,
    to_transitions,
)


def _episode(T=5, fail=True):
    rec = EpisodeRecorder(np.zeros(3), {"task": "t", "layout": ["a_x", "a_y", "b_x"], "kind": "online"})
    for t in range(T):
        last = t == T - 1
        rec.add(
            [0.1 * t, -0.1],
            np.full(3, t + 1.0),
            reward=1.0,
            cost=float(last and fail),
            success=False,
            ir_failure=last and fail,
            terminated=last and fail,
            truncated=last and not fail,
            source="recovery" if t == 2 else "task",
            logp=-1.5,
            risk=0.2,
        )
    return rec.finish()


def test_round_trip(tmp_path):
    ep = _episode()
    path = next_episode_path(tmp_path)
    save_episode(path, ep)
    back = load_episode(path)
    for key in ("states", "actions", "source", "logp", "risk", "rewards", "costs", "ir_failure", "terminated"):
        np.testing.assert_array_equal(getattr(back, key), getattr(ep, key))
    assert back.meta["format_version"] == FORMAT_VERSION and back.meta["kind"] == "online"
    assert back.failed and back.source[2] == 2
    assert next_episode_path(tmp_path).name == "ep_00001.npz"


def test_transitions_line_up():
    tr = to_transitions([_episode(4, fail=False), _episode(3)])
    assert tr.states.shape == (7, 3) and tr.next_states.shape == (7, 3)
    np.testing.assert_array_equal(tr.next_states[0], tr.states[1])
    assert tr.truncated.sum() == 1 and tr.terminated.sum() == 1


def test_atomic_write_never_leaves_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "ep_00000.npz"
    save_episode(path, _episode())
    good = path.read_bytes()
    import ftrl_ros.learning.dataset as ds

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(ds.np, "savez_compressed", boom)
    with pytest.raises(OSError):
        save_episode(path, _episode(7))
    assert path.read_bytes() == good and [p.name for p in tmp_path.iterdir()] == ["ep_00000.npz"]


def test_bad_files_fail_clearly(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="junk.npz"):
        load_episode(tmp_path / "junk.npz")
    with pytest.raises(DatasetError, match="no episode files"):
        load_folder(tmp_path / "empty")
    ep = _episode()
    ep.rewards = ep.rewards[:-1]
    with pytest.raises(DatasetError, match="rewards"):
        save_episode(tmp_path / "x.npz", ep)


def test_an_interrupted_collection_is_not_reused(tmp_path):
    from ftrl_ros.learning.collect import complete_folder

    out = tmp_path / "recovery_demo"
    with pytest.raises(KeyboardInterrupt):
        with complete_folder(out) as tmp:
            save_episode(next_episode_path(tmp), _episode())
            raise KeyboardInterrupt  # the run is stopped half-way
    assert not out.exists()  # pretrain finds no folder and collects again
    with complete_folder(out) as tmp:
        for _ in range(2):
            save_episode(next_episode_path(tmp), _episode())
    assert len(load_folder(out)) == 2 and not (tmp_path / "recovery_demo.partial").exists()
    with complete_folder(out) as tmp:  # ftrl collect adding to an existing folder
        save_episode(next_episode_path(tmp), _episode())
    assert sorted(p.name for p in out.glob("*.npz")) == ["ep_00000.npz", "ep_00001.npz", "ep_00002.npz"]

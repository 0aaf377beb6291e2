"""The sweep's local loop and the atomic folder it lands runs in (the Ray path: test_ray_cluster.py)."""

from __future__ import annotations

import pytest

from ftrl_ros.tools.sweep import Done, Job, eta, run_sweep
from ftrl_ros.utils.atomic import atomic_write_folder, read_folder


def _work(x: int) -> dict[str, bytes]:
    if x == 2:
        raise RuntimeError("run 2 broke")
    return {"result.json": str(x * 10).encode(), "sub/curve.csv": b"1,2\n"}


def test_local_sweep_lands_each_run_once_and_goes_on_after_a_failure(tmp_path):
    landed: list[str] = []

    def land(done: Done) -> str:
        atomic_write_folder(tmp_path / done.job.key, done.output)
        landed.append(done.job.key)
        return f"{done.job.key} done"

    said: list[str] = []
    failed = run_sweep([Job(f"r{x}", (x,)) for x in (1, 2, 3)], _work, land, say=said.append)
    assert [j.key for j in failed] == ["r2"] and landed == ["r1", "r3"]
    assert "r2 FAILED: RuntimeError: run 2 broke" in said[1] and said[2].startswith("[3/3] r3 done [")
    assert read_folder(tmp_path / "r3") == {"result.json": b"30", "sub/curve.csv": b"1,2\n"}
    assert not (tmp_path / "r2").exists()


def test_atomic_folder_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "run"
    atomic_write_folder(target, {"a.txt": b"old", "b.txt": b"old"})
    atomic_write_folder(target, {"a.txt": b"new"})
    assert read_folder(target) == {"a.txt": b"new"}  # nothing of the old folder is left in the new one
    with pytest.raises(ValueError, match="not a path inside"):
        atomic_write_folder(target, {"c.txt": b"x", "../escape.txt": b"x"})
    assert read_folder(target) == {"a.txt": b"new"}  # a failed write leaves the old folder as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # and no temp folder behind


def test_eta_from_the_pace_so_far():
    assert eta(60.0, 2, 6) == "2 min" and eta(20.0, 2, 6) == "40 s" and eta(600.0, 1, 3) == "20 min" and eta(5.0, 0, 3) == "?"

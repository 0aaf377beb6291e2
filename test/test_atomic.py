from __future__ import annotations

import os

import pytest

from ftrl_ros.utils.atomic import atomic_path, atomic_write_text


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a" / "episode.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert os.listdir(target.parent) == ["episode.json"]
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)


def test_crash_mid_write_keeps_old_file(tmp_path):
    target = tmp_path / "ckpt.bin"
    target.write_bytes(b"good")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash")
    assert target.read_bytes() == b"good"
    assert os.listdir(tmp_path) == ["ckpt.bin"]

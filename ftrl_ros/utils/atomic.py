"""Atomic file writes: write to a temp file in the same folder, fsync, then rename over the
target. A crash leaves either the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path next to ``path``; on success it replaces ``path``, on error it is removed.

    ``suffix`` defaults to the target's, for writers that pick a format from the file name.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix if suffix is not None else target.suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_folder(path: str | os.PathLike, files: dict[str, bytes]) -> None:
    """Write a whole folder at once: its files go to a temp folder beside ``path``, which then takes
    ``path``'s place (an older folder there is moved aside first and removed after). A crash leaves
    the old folder, the new one, or none -- never a folder with some of the new files.
    ``files`` maps relative paths (``a/b.csv``) to their bytes."""
    import shutil

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        for rel, data in files.items():
            dest = (tmp / rel).resolve()
            if tmp.resolve() not in dest.parents:
                raise ValueError(f"{rel!r} is not a path inside the folder")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            with open(dest, "rb+") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o755)
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.{os.getpid()}.old")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_folder(path: str | os.PathLike) -> dict[str, bytes]:
    """Every file under ``path`` as ``{relative path: bytes}`` (what :func:`atomic_write_folder` takes)."""
    root = Path(path)
    return {str(f.relative_to(root)): f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file()}

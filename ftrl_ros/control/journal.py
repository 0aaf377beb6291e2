"""An append-only journal of the running episode, so that a killed trajectory logger loses nothing.

Each record is one JSON line written with a single ``write`` and flushed at once: a process killed
with SIGKILL leaves everything written so far in the OS page cache, so nothing is lost; ``fsync``
at the episode boundaries makes it survive a power cut too. A torn last line (power cut in the
middle of a write) is skipped on reading.

Records: ``{"start": event}``, ``{"d": [stamp_ns, {field: value}, [state]]}``, ``{"end": event}``
and ``{"written": path}`` once the episode file exists. Episodes are identified by their start
stamp (ns; monotonic across restarts of the stack), not by their number.
"""

from __future__ import annotations

from typing import TextIO

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class JournalEpisode:
    """One episode as read back from (or being written to) its journal file."""

    path: Path
    start: dict
    decisions: dict[int, tuple[dict, list]] = field(default_factory=dict)
    """stamp (ns) -> (fields, state); keyed by stamp so replays after a restart are not doubled."""
    end: dict | None = None
    written: str | None = None
    ended_at: float | None = None
    """When (monotonic s) this process learned of the end; None while running."""

    @property
    def start_stamp(self) -> int:
        return int(self.start.get("start_stamp_ns", 0))

    @property
    def final_stamp(self) -> int:
        return int(self.end.get("final_stamp_ns", 2**63 - 1)) if self.end else 2**63 - 1

    def complete(self, now: float, grace: float) -> bool:
        """Ended, and either the decision on the final state is in (so every earlier one is: one
        reliable publisher, in order) or ``grace`` seconds passed (a respawned logger is still
        receiving the decisions it missed)."""
        if self.end is None:
            return False
        if any(stamp >= self.final_stamp for stamp in self.decisions):
            return True
        return self.ended_at is not None and now - self.ended_at >= grace


def _clean(x):
    """JSON has no NaN/inf: write them as None (read back as NaN)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def _nan(x):
    if x is None:
        return float("nan")
    if isinstance(x, dict):
        return {k: _nan(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_nan(v) for v in x]
    return x


PENDING_MAX = 50
"""Decisions held while no episode claims them (10 s at 5 Hz)."""


class EpisodeJournal:
    """The journal folder of one run. Several episodes can be open at once: an ended one stays
    open until its last decisions are in, while the next has started."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.episodes: dict[int, JournalEpisode] = {}
        self._files: dict[int, TextIO] = {}
        self.finished_stamp = self._read_finished()
        # decisions that came before their episode's start event (two topics, no order between
        # them: a busy logger's executor may take queued decisions first); kept until a start
        # claims them, at most PENDING_MAX
        self.pending: dict[int, tuple[dict, list]] = {}

    # --- reading back ---------------------------------------------------------------------------
    @staticmethod
    def read(path: Path) -> JournalEpisode | None:
        start, decisions, end, written = None, {}, None, None
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except ValueError:  # a torn last line
                    continue
                if "start" in rec:
                    start = rec["start"]
                elif "d" in rec and start is not None:
                    stamp, fields, state = rec["d"]
                    decisions[int(stamp)] = (_nan(fields), _nan(state))
                elif "end" in rec:
                    end = rec["end"]
                elif "written" in rec:
                    written = rec["written"]
        if start is None:
            return None
        return JournalEpisode(path, start, decisions, end, written)

    def recover(self, now: float = 0.0) -> list[JournalEpisode]:
        """Reopen the journals an earlier process left (oldest first); an ended one counts as
        ended ``now``, so it still gets its grace period for replayed decisions."""
        found = []
        for path in sorted(self.folder.glob("episode_*.jsonl")):
            ep = self.read(path)
            if ep is None or ep.written is not None or ep.start_stamp <= self.finished_stamp:
                path.unlink(missing_ok=True)
                continue
            if ep.end is not None:
                ep.ended_at = now
            self.episodes[ep.start_stamp] = ep
            self._files[ep.start_stamp] = open(path, "a", encoding="utf-8")
            found.append(ep)
        for ep in found:  # (the journal of an ended episode may hold the next one's first decisions)
            if ep.end is not None:
                self._hand_on(ep)
        return found

    # --- writing --------------------------------------------------------------------------------
    def _write(self, ep: JournalEpisode, rec: dict, sync: bool = False) -> None:
        fh = self._files[ep.start_stamp]
        fh.write(json.dumps(_clean(rec), separators=(",", ":")) + "\n")
        fh.flush()
        if sync:
            os.fsync(fh.fileno())

    def start(self, event: dict) -> JournalEpisode | None:
        """Open the journal of a new episode (None if that episode is already finished or open)."""
        stamp = int(event.get("start_stamp_ns", 0))
        if stamp <= self.finished_stamp or stamp in self.episodes:
            return None
        path = self.folder / f"episode_{stamp:020d}.jsonl"
        ep = JournalEpisode(path, dict(event))
        self.episodes[stamp] = ep
        self._files[stamp] = open(path, "a", encoding="utf-8")
        self._write(ep, {"start": event}, sync=True)
        for d_stamp in sorted(k for k in self.pending if k >= stamp):  # those that came before this start
            fields, state = self.pending.pop(d_stamp)
            self.add(d_stamp, fields, state)
        return ep

    def running(self) -> JournalEpisode | None:
        """The newest episode without an end."""
        live = [ep for ep in self.episodes.values() if ep.end is None]
        return max(live, key=lambda e: e.start_stamp) if live else None

    def add(self, stamp_ns: int, fields: dict, state: list) -> bool:
        """Journal one decision into the episode it belongs to by its stamp (False: none, or
        already journalled)."""
        owners = [
            ep
            for ep in self.episodes.values()
            if ep.start_stamp <= stamp_ns and ep.written is None and (ep.end is None or stamp_ns <= ep.final_stamp)
        ]
        if not owners:
            if stamp_ns > self.finished_stamp:  # maybe its start event is still on its way
                self.pending[stamp_ns] = (fields, state)
                while len(self.pending) > PENDING_MAX:
                    del self.pending[min(self.pending)]
            return False
        ep = max(owners, key=lambda e: e.start_stamp)
        if stamp_ns in ep.decisions:
            return False
        ep.decisions[stamp_ns] = (fields, state)
        self._write(ep, {"d": [int(stamp_ns), fields, list(state)]})
        return True

    def end(self, event: dict, now: float = 0.0) -> JournalEpisode | None:
        """Record the end event of an open episode and return it (None if no such open episode)."""
        ep = self.episodes.get(int(event.get("start_stamp_ns", -1)))
        if ep is None or ep.end is not None or int(event.get("episode", -1)) != int(ep.start.get("episode", -2)):
            return None
        ep.end, ep.ended_at = dict(event), now
        self._write(ep, {"end": event}, sync=True)
        self._hand_on(ep)
        return ep

    def _hand_on(self, ep: JournalEpisode) -> None:
        """Decisions journalled into ``ep`` before its end event came but stamped after its end
        belong to the next episode (two topics, no order between them: a respawned logger took
        episode 7's first decisions while episode 6's end was still queued, and lost them).
        They go where they belong now, or wait for their start event."""
        later = sorted(k for k in ep.decisions if k > ep.final_stamp)
        for stamp in later:
            fields, state = ep.decisions.pop(stamp)
            self.add(stamp, fields, state)

    def ready(self, now: float, grace: float) -> list[JournalEpisode]:
        """Ended episodes whose decisions are all in, oldest first."""
        return sorted((ep for ep in self.episodes.values() if ep.complete(now, grace)), key=lambda e: e.start_stamp)

    def written(self, ep: JournalEpisode, episode_path: str | None) -> None:
        """The episode file exists (or there was nothing to write): forget the journal."""
        if ep.start_stamp in self._files:
            self._write(ep, {"written": episode_path or ""}, sync=True)
            self._files.pop(ep.start_stamp).close()
        ep.written = episode_path or ""
        self.episodes.pop(ep.start_stamp, None)
        self.finished_stamp = max(self.finished_stamp, ep.start_stamp)
        self._write_finished()
        ep.path.unlink(missing_ok=True)

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files = {}

    # --- the newest finished episode survives restarts ----------------------------------------------
    def _read_finished(self) -> int:
        try:
            return int((self.folder / "finished").read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def _write_finished(self) -> None:
        tmp = self.folder / "finished.tmp"
        tmp.write_text(str(self.finished_stamp))
        os.replace(tmp, self.folder / "finished")

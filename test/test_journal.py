"""The trajectory logger's journal (control/journal.py) and episode assembly from journalled
decisions: a process that dies at any point loses no decision it had received."""

from __future__ import annotations

import numpy as np
import pytest

from ftrl_ros.control.episodes import episode_from_decisions
from ftrl_ros.control.journal import EpisodeJournal
from ftrl_ros.nodes.conversions import DECISION_FIELDS
from ftrl_ros.sim.envs import make
from ftrl_ros.tasks import get_task

SPEC = get_task("disturbed_push")
START = 1_000_000_000_000
DT = 200_000_000  # 0.2 s in ns


def _decisions(n: int, seed: int = 0) -> list[tuple[int, dict, list]]:
    """``n`` real decisions (task actions in the sim) after a start at START."""
    env = make("disturbed_push")
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out = []
    for t in range(n):
        a = rng.uniform(-1, 1, 2)
        fields = dict.fromkeys(DECISION_FIELDS, 0.0)
        fields.update(
            hold=0.0,
            exec_ax=a[0],
            exec_ay=a[1],
            task_ax=a[0],
            task_ay=a[1],
            exec_logp=-1.0,
            task_logp=-1.0,
            risk=float("nan"),
            policy_version=0.0,
            source=0.0,
        )
        out.append((START + (t + 1) * DT, fields, obs.tolist()))
        obs, *_ = env.step(a)
    env.close()
    return out, obs


def test_a_killed_logger_loses_nothing(tmp_path):
    decisions, final = _decisions(12)
    j = EpisodeJournal(tmp_path)
    j.start({"event": "start", "episode": 1, "start_stamp_ns": START})
    for stamp, fields, state in decisions[:7]:
        assert j.add(stamp, fields, state)
    del j  # SIGKILL: no close, no end; every line was flushed when written
    with open(next(tmp_path.glob("episode_*.jsonl")), "a") as fh:
        fh.write('{"d": [12345, {"ho')  # and a torn line from a power cut mid-write

    j = EpisodeJournal(tmp_path)
    found = j.recover()
    assert len(found) == 1 and found[0].end is None and len(j.running().decisions) == 7
    # the end event may come before the decisions the respawned logger missed (DDS replays them)
    end = {
        "event": "end",
        "episode": 1,
        "reason": "time_limit",
        "final_state": final.tolist(),
        "final_stamp_ns": START + 13 * DT,
        "start_stamp_ns": START,
    }
    ep = j.end(end, now=100.0)
    assert ep is not None and j.ready(now=100.5, grace=5.0) == []  # waiting for the rest
    # a new episode starts meanwhile; late decisions still go to the ended one, by stamp
    j.start({"event": "start", "episode": 2, "start_stamp_ns": START + 14 * DT})
    added = [j.add(stamp, fields, state) for stamp, fields, state in decisions[4:]]
    assert added == [False] * 3 + [True] * 5
    assert [e.start_stamp for e in j.ready(now=100.5, grace=5.0)] == []
    assert [e.start_stamp for e in j.ready(now=106.0, grace=5.0)] == [START]  # grace over
    assert j.add(START + 13 * DT, decisions[0][1], final.tolist())  # the decision on the final state
    assert [e.start_stamp for e in j.ready(now=100.5, grace=5.0)] == [START]  # complete at once
    episode, recovery_steps, versions = episode_from_decisions(SPEC, ep.decisions, end, {"task": SPEC.name})
    assert len(episode) == 12 and recovery_steps == 0 and versions == [0]
    assert episode.truncated[-1] and not episode.terminated.any()
    j.written(ep, "ep_00000.npz")
    assert len(list(tmp_path.glob("episode_*.jsonl"))) == 1  # episode 2's
    # a restarted logger does not redo episode 1, and its replayed start event opens nothing
    j.close()
    j2 = EpisodeJournal(tmp_path)
    assert [e.start_stamp for e in j2.recover()] == [START + 14 * DT]
    assert j2.start({"event": "start", "episode": 1, "start_stamp_ns": START}) is None


def test_end_is_complete_when_the_final_decision_is_in(tmp_path):
    decisions, final = _decisions(4)
    j = EpisodeJournal(tmp_path)
    j.start({"event": "start", "episode": 1, "start_stamp_ns": START})
    for d in decisions:
        j.add(*d)
    end = {
        "event": "end",
        "episode": 1,
        "reason": "ir_failure",
        "final_state": final.tolist(),
        "final_stamp_ns": START + 5 * DT,
        "start_stamp_ns": START,
    }
    j.end(end, now=0.0)
    assert j.ready(now=0.1, grace=5.0) == []
    j.add(START + 5 * DT, decisions[0][1], final.tolist())  # the decision on the final state
    assert len(j.ready(now=0.1, grace=5.0)) == 1


def test_an_ended_but_unwritten_episode_is_recovered(tmp_path):
    decisions, final = _decisions(5)
    j = EpisodeJournal(tmp_path)
    j.start({"event": "start", "episode": 3, "start_stamp_ns": START})
    for d in decisions:
        j.add(*d)
    j.end(
        {
            "event": "end",
            "episode": 3,
            "reason": "ir_failure",
            "final_state": final.tolist(),
            "final_stamp_ns": START + 6 * DT,
            "start_stamp_ns": START,
        }
    )
    del j
    found = EpisodeJournal(tmp_path).recover(now=50.0)
    assert len(found) == 1 and found[0].end["reason"] == "ir_failure" and len(found[0].decisions) == 5
    assert found[0].complete(now=56.0, grace=5.0) and not found[0].complete(now=51.0, grace=5.0)


def test_assembly_ignores_states_from_before_the_reset_and_garbage(tmp_path):
    decisions, final = _decisions(6)
    table = {stamp: (fields, state) for stamp, fields, state in decisions}
    old_state = decisions[0][2]
    table[START - DT] = (dict(decisions[0][1]), old_state)  # captured before the reset
    bad = dict(decisions[0][1])
    table[START + 3 * DT + 1] = (bad, [1e9] * SPEC.layout.dim)  # implausible: observed, not a step
    wild = dict(decisions[0][1], exec_ax=7.0)
    table[START + 3 * DT + 2] = (wild, decisions[3][2])  # action outside the box: not a step
    end = {
        "event": "end",
        "episode": 1,
        "reason": "time_limit",
        "final_state": final.tolist(),
        "final_stamp_ns": START + 7 * DT,
        "start_stamp_ns": START,
    }
    episode, _, _ = episode_from_decisions(SPEC, table, end, {})
    assert len(episode) == 6
    assert np.all(np.abs(episode.states) < 10)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        '{"event": "start"}',
        '{"event": "start", "episode": -1, "start_stamp_ns": 1}',
        '{"event": "end", "episode": 1, "start_stamp_ns": 1, "final_stamp_ns": 2}',
        '{"event": "end", "episode": 1, "start_stamp_ns": 1, "final_stamp_ns": 2, "reason": "x", "final_state": ["a"]}',
        '{"event": "start", "episode": 1e999, "start_stamp_ns": 1}',
    ],
)
def test_bad_events_are_rejected(text):
    from ftrl_ros.control.validate import InputError
    from ftrl_ros.nodes.trajectory_logger import parse_event

    with pytest.raises(InputError):
        parse_event(text)


def test_decisions_before_their_start_event_are_kept(tmp_path):
    """Decisions and events are two topics with no order between them: a busy logger took an
    episode's first decisions before its start event and dropped them (CI: 21 of 25 steps)."""
    decisions, final = _decisions(6)
    j = EpisodeJournal(tmp_path)
    for stamp, fields, state in decisions[:4]:
        assert not j.add(stamp, fields, state)  # no episode yet: held
    j.start({"event": "start", "episode": 1, "start_stamp_ns": START})
    for stamp, fields, state in decisions[4:]:
        assert j.add(stamp, fields, state)
    assert sorted(j.running().decisions) == [d[0] for d in decisions]
    assert not j.pending
    # after episode 1's end, the next episode's early decision waits for episode 2's start
    j.end(
        {
            "event": "end",
            "episode": 1,
            "reason": "time_limit",
            "final_state": final.tolist(),
            "final_stamp_ns": START + 7 * DT,
            "start_stamp_ns": START,
        },
        now=1.0,
    )
    assert not j.add(START + 100 * DT, decisions[0][1], decisions[0][2])
    j.start({"event": "start", "episode": 2, "start_stamp_ns": START + 99 * DT})
    assert START + 100 * DT in j.episodes[START + 99 * DT].decisions
    assert START + 100 * DT not in j.episodes[START].decisions


def test_decisions_taken_before_the_previous_end_event_go_to_their_episode(tmp_path):
    """The next episode's first decisions can arrive while the previous episode's end event is
    still queued (a respawned logger replaying history: CI wrote episode 7 with 16 of 21 steps);
    they belong to the next episode, not to the one still open, also after a restart."""
    decisions, final = _decisions(8)
    j = EpisodeJournal(tmp_path)
    j.start({"event": "start", "episode": 1, "start_stamp_ns": START})
    for stamp, fields, state in decisions:  # 0..3 are episode 1's, 4..7 episode 2's
        assert j.add(stamp, fields, state)  # all land in episode 1: its end has not come yet
    end = {
        "event": "end",
        "episode": 1,
        "reason": "time_limit",
        "final_state": final.tolist(),
        "final_stamp_ns": decisions[3][0],
        "start_stamp_ns": START,
    }
    j.end(end, now=1.0)
    assert sorted(j.episodes[START].decisions) == [d[0] for d in decisions[:4]]
    assert sorted(j.pending) == [d[0] for d in decisions[4:]]  # waiting for episode 2's start
    second = decisions[4][0] - 1
    j.start({"event": "start", "episode": 2, "start_stamp_ns": second})
    assert sorted(j.episodes[second].decisions) == [d[0] for d in decisions[4:]]
    # the same from the journal files a killed logger leaves (episode 1's file holds them all)
    k = EpisodeJournal(tmp_path / "k")
    k.start({"event": "start", "episode": 1, "start_stamp_ns": START})
    for stamp, fields, state in decisions:
        k.add(stamp, fields, state)
    k.end(end, now=1.0)
    k.close()
    r = EpisodeJournal(tmp_path / "k")
    r.recover(now=2.0)
    assert sorted(r.episodes[START].decisions) == [d[0] for d in decisions[:4]]
    r.start({"event": "start", "episode": 2, "start_stamp_ns": second})
    assert sorted(r.episodes[second].decisions) == [d[0] for d in decisions[4:]]

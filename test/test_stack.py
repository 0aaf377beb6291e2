"""The whole disturbed-push stack in sim, started by `ftrl launch` (the launch files' graph) over real
DDS inside test.sh's isolated namespace: rates, decisions, the safety switch, e-stop, intervention,
online learning with policy hot-swap, a non-critical node dying, and the rosbag."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from ftrl_ros.learning.dataset import load_episode
from ftrl_ros.nodes import topics
from ftrl_ros.tools.harness import Probe, Stack

EPISODE_STEPS = 25


class StackProbe(Probe):
    """Listens to the stack's control path, episodes and status, and calls its e-stop."""

    def __init__(self):
        super().__init__("stack_probe")
        self.log = {
            "cmd": self.listen(topics.CMD_VEL),
            "decision": self.listen(topics.DECISION),
            "state": self.listen(topics.STATE),
            "proposal": self.listen(topics.PROPOSAL),
            "event": self.listen(topics.EPISODE_EVENT),
            "version": self.listen(topics.POLICY_VERSION),
            "truth": self.listen(topics.GROUND_TRUTH),
            "pose": self.listen(topics.TCP_POSE),
            "safety": self.listen(topics.SAFETY_STATUS),
            "diag": self.listen(topics.DIAGNOSTICS),
        }
        self.estop = self.client(topics.ESTOP)

    def events(self, kind: str) -> list[dict]:
        return [e for e in (json.loads(m.data) for _, m in self.log["event"]) if e["event"] == kind]

    def set_estop(self, on: bool) -> float:
        from std_srvs.srv import SetBool

        assert self.estop.wait_for_service(timeout_sec=10)
        t0 = time.monotonic()
        future = self.estop.call_async(SetBool.Request(data=on))
        assert self.spin_until(future.done, 5.0) and future.result().success
        return t0


def _fields(msg) -> dict[str, float]:
    return dict(zip(msg.name, msg.position))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("stack")
    sets = {
        "episode_manager.max_episode_steps": EPISODE_STEPS,
        "episode_manager.reset_delay": 0.3,
        "ppo_learner.episodes_per_update": 2,
        "sim_node.start_mode": "near_failure",  # the flower pot just ahead of the puck
        "sim_node.seed": 11,
        "policy_server.mode": "eval",  # deterministic task actions: the scenario replays alike
        "state_estimator_node.detector_threads": 1,
        "state_estimator_node.debug_image_rate": 0.0,
    }
    with Stack(run_dir, sets=sets, record=True) as launch, StackProbe() as probe:
        yield launch.proc, probe, run_dir


def test_stack_end_to_end(stack):
    launch, probe, run_dir = stack
    # --- three episodes run, the learner publishes a version, the policy server uses it ---------
    ok = probe.spin_until(
        lambda: (
            len(probe.events("end")) >= 3
            and len(probe.log["decision"]) >= 80
            and any(_fields(m)["policy_version"] >= 1 for _, m in probe.log["proposal"])
        ),
        timeout=240,
    )
    assert ok, (
        f"episodes ended: {len(probe.events('end'))}, versions: {[m.data for _, m in probe.log['version']]}, "
        f"launch alive: {launch.poll() is None}; logs in {run_dir / 'logs'}"
    )
    assert launch.poll() is None
    version = json.loads(probe.log["version"][-1][1].data)
    assert version["version"] >= 1 and version["episodes"] == 2

    # --- 5 Hz control, a decision for every state ------------------------------------------------
    # (the filter also sends extra zero commands at once on e-stop / episode end: count the ticks,
    # each of which has exactly one decision with the camera frame's stamp)
    # the decisions' stamps are the sim camera's publish times: the control tick at its source
    # (arrival times at this busy probe add its own jitter)
    t_dec = np.array(sorted(m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for _, m in probe.log["decision"]))
    t_dec = t_dec[t_dec > t_dec[0] + 5.0]  # after start-up
    period = np.diff(np.unique(t_dec))
    assert 0.19 <= float(np.mean(period)) <= 0.21, f"mean control period {np.mean(period):.4f} s"
    assert 0.19 <= float(np.median(period)) <= 0.21, f"median control period {np.median(period):.4f} s"
    stamp = lambda m: (m.header.stamp.sec, m.header.stamp.nanosec)  # noqa: E731
    first = min(stamp(m) for _, m in probe.log["decision"])  # the estimator may start before the policy
    state_stamps = {stamp(m) for _, m in probe.log["state"][:-5] if stamp(m) >= first}
    decision_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for _, m in probe.log["decision"]}
    missing = state_stamps - decision_stamps
    assert not missing, f"{len(missing)} of {len(state_stamps)} states got no decision"
    # per-hop timing on every decision, in the order of the path (ms after the camera frame)
    hops = [(f["t.estimated_ms"], f["t.proposed_ms"], f["t.decided_ms"]) for f in (_fields(m) for _, m in probe.log["decision"])]
    assert hops and all(0 <= a <= b <= c for a, b, c in hops), [h for h in hops if not 0 <= h[0] <= h[1] <= h[2]][:5]
    # one command per decision (plus the extra zeros), stamped when issued: never backwards
    assert len(probe.log["cmd"]) >= len(probe.log["decision"]) - 5
    cmd_ns = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for _, m in probe.log["cmd"]]
    assert all(b >= a for a, b in zip(cmd_ns, cmd_ns[1:])), "a /ftrl/cmd_vel stamp went backwards"

    # --- the obstacle in the path: the filter switches to recovery, no IR failure ---------------
    # the seeded scenario: every episode starts with the flower pot just ahead of the puck
    # (sim seed 11, near-failure starts) and a deterministic policy; over the first three the
    # filter must switch to recovery and no IR failure may happen (ground truth, not perception)
    # (from the first decision: before episode 1 every decision holds, and the probe may have
    # missed episode 1's start event, published before discovery)
    t_end = next(t for t, m in probe.log["event"] if json.loads(m.data)["event"] == "end" and json.loads(m.data)["episode"] == 3)
    first = [_fields(m) for t, m in probe.log["decision"] if t <= t_end]
    truth = [_fields(m) for _, m in probe.log["truth"]]
    failed = sorted({int(f["episode"]) for f in truth if f["ir_failure"] > 0.5})
    print(
        f"episode ends: {[e['reason'] for e in probe.events('end')]}; episodes 1-3: "
        f"{sum(d['recovery'] > 0.5 for d in first)} recovery of {len(first)} decisions; IR failures in {failed}"
    )
    assert sum(d["recovery"] > 0.5 for d in first) >= 1, "the filter never chose the recovery action"
    # the calibrated filter catches ~55 % of risky steps (models/disturbed_push.json): it cuts
    # failures by about half in this task, it does not prevent every one
    assert len(set(failed) & {1, 2, 3}) <= 1, "IR failures in most of the seeded scenario"
    # no tick held for an old state in episodes 2-3 (issue 14: large camera frames
    # in UDP fragments had been held back up to 0.7 s; config/fastdds.xml sends them through
    # shared memory). Functional, not a timing gate: 0.4 s is eight times the usual age.
    # (episodes 2-3: start-up -- the first inferences, the sim catching up -- is excluded)
    t_warm = next(t for t, m in probe.log["event"] if json.loads(m.data)["event"] == "end" and json.loads(m.data)["episode"] == 1)
    old_state = [m.message for t, m in probe.log["safety"] if t_warm <= t <= t_end and "s old (limit" in m.message]
    assert not old_state, old_state

    # --- /diagnostics carries every node's status, under its name ----------------------------------
    from ftrl_ros.graph import nodes_for

    reported = {s.name.split(":")[0]: s for _, a in probe.log["diag"] for s in a.status}
    assert {n.name for n in nodes_for(use_sim=True, record=True)} <= set(reported), sorted(reported)
    safety = [s for _, a in probe.log["diag"] for s in a.status if s.name.startswith("safety_filter: ")]
    assert safety and any("ok" in s.message or "holding" in s.message for s in safety), safety[-3:]

    # --- intervention (through the operator CLI): the episode ends flagged in the log ------------
    ended: dict = {"steps": 0}
    for _attempt in range(4):  # an episode may end by itself (IR failure seen) before the CLI is up
        n_start, n_end = len(probe.events("start")), len(probe.events("end"))
        assert probe.spin_until(lambda: len(probe.events("start")) > n_start, 20)  # noqa: B023 (called at once)
        probe.spin_for(1.5)  # an episode just started (25 steps = 5 s): intervene in its middle
        cli = subprocess.Popen(
            [sys.executable, "-m", "ftrl_ros.cli", "intervene"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        probe.spin_until(lambda: cli.poll() is not None, 60)  # noqa: B023
        out = subprocess.CompletedProcess(cli.args, cli.returncode, cli.stdout.read(), "")
        if out.returncode != 0 and "no episode running" in out.stdout:
            continue
        assert out.returncode == 0, out.stdout + out.stderr
        assert probe.spin_until(lambda: any(e["reason"] == "intervention" for e in probe.events("end")[n_end:]), 10)  # noqa: B023
        ended = [e for e in probe.events("end") if e["reason"] == "intervention"][-1]
        if ended["steps"] > 0:  # on a slow machine the CLI may land just after the next episode's reset
            break
    assert out.returncode == 0 and ended["steps"] > 0, (out.stdout, ended)
    episode_no = ended["episode"]
    path = None

    def logged():
        nonlocal path
        for p in sorted((run_dir / "episodes").glob("ep_*.npz")):
            ep = load_episode(p)
            if ep.meta.get("episode") == episode_no:
                path = ep
                return True
        return False

    assert probe.spin_until(logged, 10), "intervened episode not written"
    assert path.failed and path.terminated[-1] and path.meta["end_reason"] == "intervention"
    assert set(np.unique(path.source)) <= {1, 2}  # task / recovery recorded per step

    # --- e-stop: the zero command comes from the service call itself (stamped before the answer
    # arrives, not at the next tick), the arm stays still, then release; how fast is
    # `ftrl bench-console`'s figure, not a gate here -----------------------------------------
    # (an episode is running: the latest start is newer than the latest end; the probe may have
    # missed episode 1's start, published before it had discovered the episode manager)
    running = lambda: max(e["episode"] for e in probe.events("start")) > max(e["episode"] for e in probe.events("end"))  # noqa: E731
    assert probe.spin_until(lambda: running() and _fields(probe.log["decision"][-1][1])["hold"] < 0.5, 15), (
        f"starts {len(probe.events('start'))}, ends {len(probe.events('end'))}, last decisions "
        f"{[(_fields(m)['hold'], m.header.frame_id) for _, m in probe.log['decision'][-5:]]}"
    )
    probe.spin_for(1.0)  # drain what queued up while the CLI ran
    n_cmd = len(probe.log["cmd"])
    t0_ros = probe.node.get_clock().now().nanoseconds
    t0 = probe.set_estop(True)
    t_answer_ros = probe.node.get_clock().now().nanoseconds
    probe.spin_for(1.5)
    stamp_ns = lambda m: m.header.stamp.sec * 10**9 + m.header.stamp.nanosec  # noqa: E731
    after = [m for _, m in probe.log["cmd"][n_cmd:]]
    i = next(i for i, m in enumerate(after) if stamp_ns(m) >= t0_ros and not m.twist.linear.x and not m.twist.linear.y)
    print(f"e-stop request -> zero command stamped {(stamp_ns(after[i]) - t0_ros) / 1e6:.0f} ms later")
    assert stamp_ns(after[i]) <= t_answer_ros, "the zero command was not sent from the e-stop call"
    # in publication order (one reliable publisher), everything after the e-stop's zero is zero
    assert all(m.twist.linear.x == 0.0 and m.twist.linear.y == 0.0 for m in after[i:]), [
        (m.twist.linear.x, m.twist.linear.y) for m in after[i:]
    ]
    assert len(after) - i >= 5, "commands stopped altogether (the robot watchdog would hold, but the filter should tick)"
    poses = np.array([[m.pose.position.x, m.pose.position.y] for t, m in probe.log["pose"] if t >= t0 + 0.3])
    assert len(poses) > 10 and np.ptp(poses, axis=0).max() < 0.002, "the arm moved during the e-stop"
    probe.set_estop(False)

    # --- the learner dies: control goes on, and it is respawned ----------------------------------------
    subprocess.run(["pkill", "-f", f"ftrl_ros.nodes.ppo_learner.*{run_dir}"], check=True)
    probe.spin_for(3.0)
    n_before = len(probe.log["cmd"])
    probe.spin_for(3.0)
    assert len(probe.log["cmd"]) - n_before >= 13, "control stopped after the learner died"
    assert launch.poll() is None, "a non-critical node took the stack down"

    # --- a critical node dies: the whole stack shuts down by itself, and the bag is closed ---------
    subprocess.run(["pkill", "-9", "-f", f"ftrl_ros.nodes.policy_server.*{run_dir}"], check=True)  # a crash
    output, _ = launch.communicate(timeout=60)
    assert launch.returncode == 1 and "critical node policy_server exited" in output, output[-3000:]
    assert "!!! ppo_learner died" in output and "ppo_learner respawned" in output, output[-3000:]
    from rosbags.rosbag2 import Reader

    bags = [p for p in (run_dir / "bags").iterdir() if not p.name.endswith(".partial")]
    assert len(bags) == 1, list((run_dir / "bags").iterdir())
    with Reader(bags[0]) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        types = {c.topic: c.msgtype for c in reader.connections}
    for topic in ("/ftrl/decision", "/ftrl/cmd_vel", "/ftrl/state", "/ftrl/episode/event", "/ftrl/policy_version"):
        assert counts.get(topic, 0) > 0, (topic, counts)
    assert types["/ftrl/cmd_vel"] == "geometry_msgs/msg/TwistStamped"
    # rosbag2 metadata: MCAP, the real distro, and each topic's offered QoS (latched topics replay latched)
    import yaml

    from ftrl_ros.utils.ros_distro import ros_distro

    meta = yaml.safe_load((bags[0] / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["storage_identifier"] == "mcap" and meta["ros_distro"] == ros_distro() == "jazzy", meta
    offered = {t["topic_metadata"]["name"]: t["topic_metadata"]["offered_qos_profiles"] for t in meta["topics_with_message_count"]}
    assert "durability: 1" in offered["/ftrl/policy_version"], offered["/ftrl/policy_version"]  # transient local
    assert abs(counts["/ftrl/decision"] - len(probe.log["decision"])) <= 0.1 * len(probe.log["decision"])

    # --- the run's summary (what ./run.sh prints at the end) ---------------------------------------
    out = subprocess.run([sys.executable, "-m", "ftrl_ros.cli", "summarize", str(run_dir)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["episodes"] >= 3 and summary["policy_versions"] >= 1 and (run_dir / "summary.png").is_file()
    assert any(r["end"] == "intervention" and r["ir_failure"] for r in summary["detail"])

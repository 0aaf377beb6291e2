"""A real two-node Ray cluster on loopback runs a bench-farl sweep while its second node is killed.

Head and second node are separate ``ray start --block`` processes (own process groups) bound to
127.0.0.1 inside the test's network namespace, dashboard off. The sweep (6 short runs, 1 CPU per
node) runs through ``ftrl bench-farl --ray``; once both nodes have finished a run and the second
one is in the middle of another, every process of the second node gets SIGKILL. The sweep must
finish on the head alone (Ray retries the lost run), each result must exist exactly once, and
each must equal the same run done without Ray. The cluster is torn down whatever happens.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).parent / "ray")
SWEEP = ["--tasks", "disturbed_push", "--methods", "farl,uni_o4", "--seeds", "1-3"]
SWEEP += ["--episodes", "3", "--eval-episodes", "2", "--envs", "1"]
RUNS = [(m, s) for m in ("farl", "uni_o4") for s in (1, 2, 3)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    # token auth off for this loopback-only cluster in its own network namespace: a token file an
    # earlier local Ray left in ~/.ray made the head ask for a token its clients did not send
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1", "RAY_AUTH_MODE": "disabled"}


def _start_node(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [RAY, "start", "--block", "--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats", *args],
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        env=_env(),
        start_new_session=True,  # its own process group: the node's raylet, store and workers with it
    )


def _node_processes(node: subprocess.Popen) -> list[psutil.Process]:
    try:
        parent = psutil.Process(node.pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _kill_node(node: subprocess.Popen) -> None:
    """SIGKILL to every process of the node (its group and its descendants), as a power cut would."""
    procs = _node_processes(node)
    try:
        os.killpg(node.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    node.wait(timeout=30)


def _busy(node: subprocess.Popen) -> bool:
    """The node's worker is executing a run (Ray titles a busy worker after its task: ray::timed)."""
    for p in _node_processes(node):
        try:
            if any("ray::timed" in part for part in p.cmdline()):
                return True
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return False


@pytest.fixture
def cluster():
    if os.environ.get("FTRL_NETNS") != "isolated":
        pytest.skip("the Ray cluster test runs only inside the isolated network namespace (scripts/isolated.sh as root)")
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    port = _free_port()
    nodes: list[subprocess.Popen] = []
    try:
        common = [f"--temp-dir={temp}"]
        nodes.append(_start_node(["--head", f"--port={port}", "--include-dashboard=false", *common], temp / "head.log"))
        time.sleep(3)
        nodes.append(_start_node([f"--address=127.0.0.1:{port}", *common], temp / "second.log"))
        yield f"127.0.0.1:{port}", nodes, temp
    finally:
        for node in reversed(nodes):
            if node.poll() is None:
                node.send_signal(signal.SIGTERM)
        for node in reversed(nodes):
            try:
                node.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            _kill_node(node)
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_nodes(address: str, n: int, timeout: float = 90.0) -> None:
    code = (
        "import ray, sys, time\n"
        f"ray.init(address={address!r}, _node_ip_address='127.0.0.1', logging_level=40)\n"
        f"t = time.time()\n"
        f"while sum(x['Alive'] for x in ray.nodes()) < {n} and time.time() - t < {timeout}: time.sleep(0.5)\n"
        f"sys.exit(0 if sum(x['Alive'] for x in ray.nodes()) >= {n} else 1)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=timeout + 60)
    assert r.returncode == 0, f"the cluster did not reach {n} nodes: {r.stderr[-2000:]}"


def _result(out: Path, method: str, seed: int) -> dict:
    res = json.loads((out / "robot" / "disturbed_push" / method / f"s{seed}" / "result.json").read_text())
    res.pop("seconds"), res.pop("time")  # wall times: the only fields that may differ
    return res


def test_sweep_survives_a_killed_node_and_matches_the_local_loop(cluster, tmp_path):
    address, (head, second), temp = cluster
    _wait_for_nodes(address, 2)
    out = tmp_path / "ray"
    cmd = [sys.executable, "-m", "ftrl_ros.cli", "bench-farl", *SWEEP, "--out", str(out), "--ray", address]
    sweep = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    import threading

    reader = threading.Thread(target=lambda: lines.extend(iter(sweep.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    killed_mid_run = False
    try:
        deadline = time.time() + 300
        while sweep.poll() is None and time.time() < deadline:
            nodes_seen = {m.group(1) for line in lines if (m := re.search(r" on (\S+?); sweep", line))}
            if len(nodes_seen) >= 2 and _busy(second):
                _kill_node(second)
                killed_mid_run = True
                break
            time.sleep(0.1)
        sweep.wait(timeout=max(deadline - time.time(), 1))
    finally:
        if sweep.poll() is None:
            sweep.kill()
        reader.join(timeout=10)
    log = "".join(lines)
    print(log)
    assert killed_mid_run, f"the second node never ran a run while both had finished one:\n{log[-4000:]}"
    assert sweep.returncode == 0, log[-4000:]
    assert "2 node(s)" in log, log[-4000:]
    assert len(re.findall(r"^\[\d/6\] ", log, re.M)) == 6, log  # each run landed once
    # exactly once on disk: one folder per run, no partial or leftover folder anywhere
    run_dirs = sorted(p.relative_to(out) for p in out.glob("robot/disturbed_push/*/*"))
    assert run_dirs == sorted(Path("robot/disturbed_push") / m / f"s{s}" for m, s in RUNS), run_dirs
    assert not [p for p in out.rglob(".*") if "partial" in p.name or p.name.endswith(".old")]

    local = tmp_path / "local"
    r = subprocess.run(
        [sys.executable, "-m", "ftrl_ros.cli", "bench-farl", *SWEEP, "--out", str(local)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for method, seed in RUNS:
        assert _result(out, method, seed) == _result(local, method, seed), (method, seed)


def test_train_offline_runs_as_a_ray_task_and_lands_here(tmp_path):
    """``train-offline --ray`` (a Ray instance started for it): the bundle, its json and the
    TensorBoard events land in the driver's folders, whole."""
    if os.environ.get("FTRL_NETNS") != "isolated":
        pytest.skip("Ray runs only inside the isolated network namespace in tests")
    from ftrl_ros.learning.bundle import load_bundle
    from ftrl_ros.learning.scalars import flat_numbers
    from ftrl_ros.utils.tensorboard import read_scalars

    cmd = [sys.executable, "-m", "ftrl_ros.cli", "train-offline", "--task", "disturbed_push", "--scale", "0.02", "--ray"]
    cmd += ["--models-dir", str(tmp_path / "models"), "--data-dir", str(tmp_path / "data"), "--log-dir", str(tmp_path / "tb")]
    r = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert re.search(r"\[1/1\] \[disturbed_push\] saved .* on \S+/[0-9a-f]{8};", r.stdout), r.stdout[-3000:]
    bundle = load_bundle(tmp_path / "models" / "disturbed_push.pt")
    assert json.loads((tmp_path / "models" / "disturbed_push.json").read_text()) == json.loads(json.dumps(bundle.metrics, default=float))
    (events,) = (tmp_path / "tb").iterdir()
    curves = read_scalars(events)
    assert "task_policy/bc/member0/nll" in curves
    # every finite figure of the bundle's json, at step 0 under bundle/ (a 2 % run may have no failure
    # in its test rollouts: then the test AUC is NaN, and TensorBoard gets no point for it)
    figures = {tag: v for tag, v in flat_numbers(bundle.metrics, "bundle").items() if math.isfinite(v)}
    assert "bundle/calibration/world_model/test/samples" in figures
    for tag, value in figures.items():
        assert curves[tag] == [(0, pytest.approx(value, rel=1e-5))], tag
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["disturbed_push.json", "disturbed_push.pt"]

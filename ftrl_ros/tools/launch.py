"""Start the ROS 2 stack for a task without launch_ros (it has no PyPI wheel): the same nodes as
`ros2 launch ftrl_ros <task>.launch.py`, read from the same graph description (ftrl_ros/graph.py)
and the same params file, one process each. If a critical node dies, or on Ctrl-C / SIGTERM,
every node is stopped (SIGINT, then SIGKILL after a grace period); a non-critical one (logger,
learner, bag recorder) is respawned after ``NodeSpec.respawn_delay``, loudly. Node output goes to the
terminal prefixed with the node name, and to <run_dir>/logs/<node>.log.

    ftrl launch disturbed_push                         # sim, train mode, no bag
    ftrl launch disturbed_push --record true --set episode_manager.max_episodes=5
    ftrl launch disturbed_push --use-sim false --robot-ip 172.16.0.2   # the real arm and camera
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import yaml

from ..graph import (
    DDS_PROFILE_VAR,
    LAYOUT_HELP,
    LAYOUTS,
    MODES,
    TASKS,
    NodeSpec,
    node_parameters,
    nodes_for,
    params_task_error,
    parse_bool,
    spec_of,
)
from ..utils.paths import package_dir


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", choices=TASKS)
    p.add_argument("--use-sim", default="true", help="true: MuJoCo sim node; false: camera_node (robot)")
    p.add_argument("--robot-ip", default="", help="the arm's control unit (FCI) address (default: the params file's)")
    p.add_argument(
        "--use-arm",
        default="true",
        help="with --use-sim false: drive the arm with franka_arm_node; false: camera only (the arm is driven by other software)",
    )
    p.add_argument("--record", default="false", help="true: record a rosbag2 of the control topics")
    p.add_argument("--foxglove", default="false", help="true: serve the live Foxglove view (ws://127.0.0.1:8765)")
    p.add_argument("--mode", default="train", choices=MODES, help="train: sample and learn; eval: deterministic")
    p.add_argument(
        "--params-file", type=Path, default=None, help="loaded after config/ftrl.yaml (default: the task's overlay config/<task>.yaml)"
    )
    p.add_argument("--run-dir", type=Path, default=None, help="episodes, checkpoints, bags, logs (default runs/ros/<task>_<time>)")
    p.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE", help="override one node parameter (repeatable)")
    p.add_argument(
        "--namespace",
        default="",
        help="run the stack in this ROS namespace (topics /<ns>/ftrl/...), "
        "e.g. two robots on one graph; give each its own console port "
        "(--set operator_console.port=8081)",
    )
    p.add_argument(
        "--layout",
        default="split",
        choices=list(LAYOUTS),
        help=LAYOUT_HELP,
    )
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0 = never)")
    p.add_argument("--quiet", action="store_true", help="node output only to the log files")
    p.add_argument("--show", action="append", default=[], metavar="NODE", help="with --quiet, still show this node's output (repeatable)")
    p.add_argument("--summary", action="store_true", help="at the end, `ftrl summarize` the run")


def node_command(node: NodeSpec, params_files: list[Path], overrides: dict[str, dict], folder: Path, namespace: str = "") -> list[str]:
    """The process's command line: the params files in order (common, then the task's overlay; a
    later one wins), then a generated one with this launch's values for each node in it
    (``overrides``: node name -> values; ``-p`` would not do: it is a wildcard, and a params file's
    node section beats a wildcard). In a namespace, a params file's ``node:`` key no longer matches
    the node (its name is /<ns>/node), so the node's sections are merged and written again under
    the full name. A composed process (``node.members``) keeps its nodes' own names."""
    names = node.members or (node.name,)
    cmd = [sys.executable, "-m", f"ftrl_ros.nodes.{node.executable}", "--ros-args"]
    if not node.members:
        cmd += ["-r", f"__node:={node.name}"]
    key = {name: f"/{namespace}/{name}" if namespace else name for name in names}
    if namespace:
        cmd += ["-r", f"__ns:=/{namespace}"]
        rekeyed_sections = {}
        files = [yaml.safe_load(path.read_text()) or {} for path in params_files]
        for name in names:
            merged: dict = {}
            for sections in files:
                for section in ("/**", name):
                    merged.update((sections.get(section) or {}).get("ros__parameters", {}))
            if merged:
                rekeyed_sections[key[name]] = {"ros__parameters": merged}
        if rekeyed_sections:
            folder.mkdir(parents=True, exist_ok=True)
            rekeyed = folder / f"{node.name}.task.yaml"
            rekeyed.write_text(yaml.safe_dump(rekeyed_sections))
            cmd += ["--params-file", str(rekeyed)]
    else:
        for path in params_files:
            cmd += ["--params-file", str(path)]
    extra_sections = {
        key[name]: {"ros__parameters": {k: yaml.safe_load(v) if isinstance(v, str) else v for k, v in overrides[name].items()}}
        for name in names
        if overrides.get(name)
    }
    if extra_sections:
        folder.mkdir(parents=True, exist_ok=True)
        extra = folder / f"{node.name}.yaml"
        extra.write_text(yaml.safe_dump(extra_sections))
        cmd += ["--params-file", str(extra)]
    return cmd


def namespace_error(namespace: str) -> str:
    ok = all(part.isidentifier() for part in namespace.split("/")) if namespace else True
    return "" if ok else f"--namespace {namespace!r}: expected names of letters, digits and '_' separated by '/'"


def _die_with_parent() -> None:
    """In the node's process before it starts: SIGTERM it when this launcher dies, however it dies
    (kill -9 included), so no node outlives its launch (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: Stack.stop() still ends the nodes on a normal exit


class Stack:
    """The running node processes."""

    def __init__(
        self,
        nodes: list[NodeSpec],
        commands: dict[str, list[str]],
        log_dir: Path,
        quiet: bool,
        show: frozenset[str] | set[str] = frozenset(),
    ):
        log_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")  # never discover beyond this machine
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.setdefault(DDS_PROFILE_VAR, str(package_dir("config", "fastdds.xml") / "fastdds.xml"))
        self.nodes = nodes
        self.commands, self.log_dir, self.quiet, self.show, self.env = commands, log_dir, quiet, show, env
        self.procs: dict[str, subprocess.Popen] = {}
        self.respawns: dict[str, int] = {}
        self.threads: list[threading.Thread] = []
        for node in nodes:
            self.start(node)

    def start(self, node: NodeSpec) -> None:
        """Start (or restart) one node; a restart appends to its log."""
        proc = subprocess.Popen(
            self.commands[node.name],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.procs[node.name] = proc
        t = threading.Thread(
            target=self._pump,
            args=(
                node.name,
                proc,
                self.log_dir / f"{node.name}.log",
                self.quiet and node.name not in self.show,
                "a" if node.name in self.respawns else "w",
            ),
            daemon=True,
        )
        t.start()
        self.threads.append(t)

    @staticmethod
    def _pump(name: str, proc: subprocess.Popen, log: Path, quiet: bool, mode: str = "w") -> None:
        assert proc.stdout is not None, "started without stdout=PIPE"
        with open(log, mode) as fh:
            for line in proc.stdout:
                fh.write(line)
                fh.flush()
                if not quiet:
                    sys.stdout.write(f"[{name}] {line}")
                    sys.stdout.flush()

    def exited(self) -> list[tuple[NodeSpec, int]]:
        return [(n, self.procs[n.name].returncode) for n in self.nodes if self.procs[n.name].poll() is not None]

    def stop(self, grace: float = 8.0) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        end = time.monotonic() + grace
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for t in self.threads:
            t.join(timeout=2.0)


def run(args: argparse.Namespace) -> int:
    use_sim, record = parse_bool(args.use_sim, "use_sim"), parse_bool(args.record, "record")
    use_arm = parse_bool(args.use_arm, "use_arm")
    params_file = (args.params_file or package_dir("config") / f"{args.task}.yaml").resolve()
    if not params_file.is_file():
        print(f"params file not found: {params_file}", file=sys.stderr)
        return 2
    try:
        params = yaml.safe_load(params_file.read_text())
    except yaml.YAMLError as exc:
        print(f"params file {params_file} is not valid YAML: {exc}", file=sys.stderr)
        return 2
    error = params_task_error(params, args.task, str(params_file))
    if error:
        print(error, file=sys.stderr)
        return 2
    run_dir = (args.run_dir or Path("runs/ros") / f"{args.task}_{datetime.now():%Y%m%d_%H%M%S}").resolve()
    namespace = args.namespace.strip("/")
    if namespace_error(namespace):
        print(namespace_error(namespace), file=sys.stderr)
        return 2
    nodes = nodes_for(use_sim, record, use_arm, args.layout, parse_bool(args.foxglove, "foxglove"))
    per_node: dict[str, dict[str, str]] = {name: {} for n in nodes for name in (n.members or (n.name,))}
    for item in args.set:
        key, sep, value = item.partition("=")
        node, dot, param = key.partition(".")
        if not sep or not dot or node not in per_node:
            print(f"--set {item!r}: expected NODE.PARAM=VALUE with NODE one of {sorted(per_node)}", file=sys.stderr)
            return 2
        per_node[node][param] = value
    params_files = [package_dir("config") / "ftrl.yaml", params_file]
    commands = {
        n.name: node_command(
            n,
            params_files,
            {
                name: {
                    **node_parameters(spec_of(name), args.task, args.mode, str(run_dir), use_sim, args.robot_ip, nodes),
                    **per_node[name],
                }
                for name in (n.members or (n.name,))
            },
            run_dir / "params",
            namespace,
        )
        for n in nodes
    }
    print(
        f"ftrl launch {args.task}: {len(nodes)} nodes ({', '.join(n.name for n in nodes)}), mode {args.mode}, run dir {run_dir}", flush=True
    )
    stack = Stack(nodes, commands, run_dir / "logs", args.quiet, set(args.show))
    stopping: dict[str, str | None] = {"why": None}

    def on_signal(signum, frame):
        stopping["why"] = signal.Signals(signum).name

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    t_end = time.monotonic() + args.duration if args.duration > 0 else None
    code, respawn_at = 0, {}
    while stopping["why"] is None:
        time.sleep(0.1)
        now = time.monotonic()
        for node, rc in stack.exited():
            if node.critical:
                stopping["why"] = f"critical node {node.name} exited with code {rc}"
                code = 0 if rc == 0 else 1
                break
            if node.name not in respawn_at:
                respawn_at[node.name] = now + node.respawn_delay
                print(
                    f"ftrl launch: !!! {node.name} died (code {rc}); not critical, control goes on; respawning in {node.respawn_delay:g} s",
                    flush=True,
                )
            elif now >= respawn_at[node.name]:
                del respawn_at[node.name]
                stack.respawns[node.name] = stack.respawns.get(node.name, 0) + 1
                stack.start(node)
                print(f"ftrl launch: {node.name} respawned (restart {stack.respawns[node.name]})", flush=True)
        if t_end is not None and time.monotonic() >= t_end:
            stopping["why"] = f"duration {args.duration:g} s reached"
    print(f"ftrl launch: stopping all nodes ({stopping['why']})", flush=True)
    stack.stop()
    print(f"ftrl launch: stopped; logs in {run_dir / 'logs'}", flush=True)
    if args.summary and (run_dir / "episodes").is_dir():
        from .summarize_run import run as summarize

        summarize(argparse.Namespace(run_dir=run_dir))
    return code

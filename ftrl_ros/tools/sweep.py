"""Sweeps of independent runs (``bench-farl``'s runs, ``train-offline``'s tasks), one after another
on this machine or as Ray tasks on a cluster.

The work of a run *returns* everything it made (a result and its files); only the driver writes,
through ``land``, atomically. So on a cluster a run whose worker or node dies (Ray retries it, up
to ``max_retries`` times, on another node) leaves neither a half result nor a duplicate, and the
files land on the driver's disk whatever node did the work. The local loop goes through the same
two calls, so a run's result does not depend on where it ran.

Ray is optional (``scripts/bootstrap.sh --cluster``); without ``ray_address`` it is never imported.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

LOCAL_RAY = "local"
"""``--ray`` with no address: start a Ray instance on this machine for the sweep (all its cores)."""


def add_ray_options(parser: argparse.ArgumentParser, unit: str, lands: str) -> None:
    """``--ray [ADDRESS]`` and ``--cpus-per-run``, the same for every sweep command: each ``unit``
    (a run, a task) becomes a Ray task; ``lands`` says where its files land."""
    parser.add_argument(
        "--ray",
        nargs="?",
        const=LOCAL_RAY,
        default=None,
        metavar="ADDRESS",
        help=f"run each {unit} as a Ray task: on a cluster whose head is at ADDRESS (ray start --head), or with no "
        f"ADDRESS on a Ray instance started here; {lands} (needs scripts/bootstrap.sh --cluster; "
        "every node needs this checkout at the same path)",
    )
    parser.add_argument("--cpus-per-run", type=float, default=1.0, help=f"Ray CPUs each {unit} reserves (with --ray)")


@dataclass(frozen=True)
class Job:
    """One run of a sweep: ``key`` names it in logs and to ``land``; ``args`` go to the work function."""

    key: str
    args: tuple


@dataclass(frozen=True)
class Done:
    """What came back from one run: the work's output, where it ran and how long it took there."""

    job: Job
    output: Any
    node: str
    seconds: float


def timed(work: Callable[..., Any], args: tuple) -> tuple[Any, str, float]:
    """Run ``work(*args)`` where this is called (driver or Ray worker) and say where it ran."""
    t0 = time.perf_counter()
    out = work(*args)
    node = socket.gethostname()
    if os.environ.get("RAY_NODE_ID") or in_ray_worker():
        import ray

        node = f"{node}/{ray.get_runtime_context().get_node_id()[:8]}"
    return out, node, time.perf_counter() - t0


def in_ray_worker() -> bool:
    try:
        import ray
    except ImportError:
        return False
    return ray.is_initialized() and ray.get_runtime_context().worker.mode == ray.WORKER_MODE


def eta(elapsed_s: float, done: int, total: int) -> str:
    """Remaining time of the sweep at the pace so far (wall clock, so parallel runs count)."""
    if done == 0:
        return "?"
    left = elapsed_s / done * (total - done)
    return f"{left / 60:.0f} min" if left >= 90 else f"{left:.0f} s"


def run_sweep(
    jobs: Sequence[Job],
    work: Callable[..., Any],
    land: Callable[[Done], str],
    ray_address: str | None = None,
    cpus_per_run: float = 1.0,
    max_retries: int = 3,
    say: Callable[[str], None] = lambda m: print(m, flush=True),
) -> list[Job]:
    """Run every job, land each result once as it arrives, print progress (``land`` returns the
    line to print for a run); returns the jobs that failed (their error is printed, the others go on).

    ``ray_address``: None = here, in this process; :data:`LOCAL_RAY` = a Ray instance started on this
    machine; else the address of a running cluster's head (``ray start --head``), e.g. ``10.0.0.5:6379``.
    """
    if ray_address is None:
        return _run_here(jobs, work, land, say)
    return _run_on_ray(jobs, work, land, ray_address, cpus_per_run, max_retries, say)


def _progress(k: int, total: int, done: Done, line: str, t0: float) -> str:
    elapsed = time.perf_counter() - t0
    return f"[{k}/{total}] {line} [{done.seconds:.0f} s on {done.node}; sweep {elapsed:.0f} s, ETA {eta(elapsed, k, total)}]"


def _run_here(jobs: Sequence[Job], work, land, say) -> list[Job]:
    t0, failed = time.perf_counter(), []
    for k, job in enumerate(jobs, 1):
        try:
            out, node, seconds = timed(work, job.args)
        except Exception as exc:  # one broken run must not cost the others
            say(f"[{k}/{len(jobs)}] {job.key} FAILED: {type(exc).__name__}: {exc}")
            failed.append(job)
            continue
        done = Done(job, out, node, seconds)
        say(_progress(k, len(jobs), done, land(done), t0))
    return failed


def connect(ray_address: str, num_cpus: int | None = None) -> None:
    """Join the cluster at ``ray_address`` (or start one here for :data:`LOCAL_RAY`, with
    ``num_cpus`` CPUs: default all), quietly: no usage statistics, no dashboard. Raises SystemExit
    with the install line if Ray is missing. Already connected: nothing happens."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine
    try:
        import ray
    except ImportError as exc:
        raise SystemExit("--ray needs the cluster extra: scripts/bootstrap.sh --cluster") from exc
    if ray.is_initialized():
        return
    if ray_address == LOCAL_RAY:
        ray.init(
            include_dashboard=False, num_cpus=num_cpus, _node_ip_address="127.0.0.1", logging_level=logging.WARNING, log_to_driver=True
        )
    else:
        host = ray_address.rsplit(":", 1)[0]
        ip = {"localhost": "127.0.0.1"}.get(host, host)
        local_ip = ip if ip.startswith("127.") else None  # a loopback cluster: the driver joins on loopback too
        ray.init(address=ray_address, logging_level=logging.WARNING, log_to_driver=True, _node_ip_address=local_ip)


def _run_on_ray(jobs: Sequence[Job], work, land, ray_address: str, cpus_per_run: float, max_retries: int, say) -> list[Job]:
    import ray

    connect(ray_address)
    nodes = [n for n in ray.nodes() if n["Alive"]]
    cpus = sum(n["Resources"].get("CPU", 0) for n in nodes)
    say(f"ray: {len(nodes)} node(s), {cpus:.0f} CPUs; {len(jobs)} runs at {cpus_per_run:g} CPU each (retried up to {max_retries}x)")
    remote = ray.remote(num_cpus=cpus_per_run, max_retries=max_retries, retry_exceptions=False)(timed)
    pending = {remote.remote(work, job.args): job for job in jobs}
    t0, k, failed = time.perf_counter(), 0, []
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=60.0)
        if not ready:
            say(f"... {len(pending)} runs not finished, sweep {time.perf_counter() - t0:.0f} s")
            continue
        job = pending.pop(ready[0])
        k += 1
        try:
            out, node, seconds = ray.get(ready[0])
        except Exception as exc:  # the run's own error, or its node died more than max_retries times
            say(f"[{k}/{len(jobs)}] {job.key} FAILED: {type(exc).__name__}: {str(exc)[:500]}")
            failed.append(job)
            continue
        done = Done(job, out, node, seconds)
        say(_progress(k, len(jobs), done, land(done), t0))
    return failed

"""N copies of a sim task stepped in a few worker processes, so the policy and C_H run once per
step on a batch of N states (what makes 100k-step fine-tuning runs affordable on 2 cores).

Unlike gymnasium's AsyncVectorEnv (one process per env) each worker owns ``n_envs / n_workers``
envs and steps them in turn: on 2 cores, 2 workers x 8 envs beats 16 processes. Finished envs
reset themselves (``autoreset``); the observation they ended on is returned as ``final_obs``, so
PPO bootstraps from the state really reached. ``n_workers=0`` steps everything in-process.
Each env's randomness comes only from its own ``np_random`` (seeded by ``reset(seeds=...)``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from typing import NamedTuple, Sequence

import numpy as np


class VecStep(NamedTuple):
    obs: np.ndarray
    """(N, D) next observations (after an auto-reset where an episode ended)."""
    rewards: np.ndarray
    costs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    success: np.ndarray
    ir_failure: np.ndarray
    final_obs: np.ndarray
    """(N, D) the state each env reached in this step (= obs where nothing ended)."""


def _make_envs(task: str, count: int) -> list:
    from ..sim.envs import make

    return [make(task) for _ in range(count)]


class _Local:
    """A worker's envs (also used in-process)."""

    def __init__(self, task: str, count: int):
        self.envs = _make_envs(task, count)
        self.success = np.zeros(count, bool)

    def reset(self, seeds: Sequence[int | None], options: dict | None) -> np.ndarray:
        self.success[:] = False
        return np.stack([e.reset(seed=s, options=options)[0] for e, s in zip(self.envs, seeds)])

    def step(self, actions: np.ndarray, active: np.ndarray, autoreset: bool) -> tuple:
        n = len(self.envs)
        dim = self.envs[0].observation_space.shape[0]
        out = {k: np.zeros(n, bool) for k in ("terminated", "truncated", "success", "ir_failure")}
        rewards, costs = np.zeros(n, np.float32), np.zeros(n, np.float32)
        obs, final = np.zeros((n, dim), np.float32), np.zeros((n, dim), np.float32)
        for i, env in enumerate(self.envs):
            if not active[i]:
                continue
            o, r, term, trunc, info = env.step(actions[i])
            self.success[i] |= bool(info["success"])
            rewards[i], costs[i], final[i] = r, info["cost"], o
            out["terminated"][i], out["truncated"][i] = term, trunc
            out["success"][i], out["ir_failure"][i] = self.success[i], info["ir_failure"]
            if (term or trunc) and autoreset:
                o, _ = env.reset()
                self.success[i] = False
            obs[i] = o
        return obs, rewards, costs, out["terminated"], out["truncated"], out["success"], out["ir_failure"], final

    def close(self) -> None:
        for e in self.envs:
            e.close()


def _worker(conn, task: str, count: int) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    local = _Local(task, count)
    try:
        while True:
            cmd, args = conn.recv()
            if cmd == "close":
                break
            conn.send(getattr(local, cmd)(*args))
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        local.close()


class VecTaskEnv:
    def __init__(self, task: str, n_envs: int, n_workers: int = 2):
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        self.task, self.n_envs = task, n_envs
        n_workers = min(n_workers, n_envs)
        self.slices = [s for s in np.array_split(np.arange(n_envs), max(n_workers, 1))]
        self.local: _Local | None = None
        self.conns, self.procs = [], []
        if n_workers == 0:
            self.local = _Local(task, n_envs)
        else:
            # fork: workers use only MuJoCo and numpy (no torch), and spawn cannot re-import an
            # interactive or piped __main__
            ctx = mp.get_context("fork")
            for sl in self.slices:
                parent, child = ctx.Pipe()
                p = ctx.Process(target=_worker, args=(child, task, len(sl)), daemon=True)
                p.start()
                self.conns.append(parent)
                self.procs.append(p)

    def _call(self, cmd: str, per_slice_args: list[tuple]) -> list:
        try:
            for conn, args in zip(self.conns, per_slice_args):
                conn.send((cmd, args))
            return [conn.recv() for conn in self.conns]
        except (EOFError, OSError) as exc:
            raise RuntimeError(f"a {self.task} env worker died during {cmd!r} ({exc!r})") from exc

    def reset(self, seeds: Sequence[int | None] | None = None, options: dict | None = None) -> np.ndarray:
        seeds = list(seeds) if seeds is not None else [None] * self.n_envs
        if self.local is not None:
            return self.local.reset(seeds, options)
        parts = self._call("reset", [([seeds[i] for i in sl], options) for sl in self.slices])
        return np.concatenate(parts)

    def step(self, actions: np.ndarray, active: np.ndarray | None = None, autoreset: bool = True) -> VecStep:
        actions = np.asarray(actions, np.float32)
        active = np.ones(self.n_envs, bool) if active is None else np.asarray(active, bool)
        if self.local is not None:
            return VecStep(*self.local.step(actions, active, autoreset))
        parts = self._call("step", [(actions[sl], active[sl], autoreset) for sl in self.slices])
        return VecStep(*(np.concatenate(c) for c in zip(*parts)))

    def close(self) -> None:
        if self.local is not None:
            self.local.close()
        for conn in self.conns:
            try:
                conn.send(("close", ()))
            except (BrokenPipeError, OSError):
                pass
        for p in self.procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
        self.conns, self.procs = [], []

    def __enter__(self) -> "VecTaskEnv":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

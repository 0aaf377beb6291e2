"""A task policy as an ONNX file other stacks can run: normaliser and policy features inside the
graph, state and action layouts in its metadata (the interface of ``interop/onnx_policy.py``).

    ftrl export-policy --task disturbed_push --out models/disturbed_push_policy.onnx
    ftrl export-policy --task disturbed_push --bundle runs/ros/.../checkpoints/policy_0004.pt --out p.onnx

The same interface serves a policy trained elsewhere behind our filter:
``ftrl launch disturbed_push --set policy_server.policy=/path/policy.onnx``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ..interop.onnx_policy import OnnxPolicy, export_policy
from ..learning.bundle import load_task_bundle
from ..learning.decide import propose
from ..tasks import get_task
from ..utils.atomic import atomic_write_bytes


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, help="task name (disturbed_push, fb_bounded_push, ...)")
    p.add_argument("--bundle", default="", help="bundle or checkpoint (default: models/<task>.pt, models/failurebench/ for fb_ tasks)")
    p.add_argument("--out", type=Path, required=True, help="the .onnx file to write")


def visited_states(task: str, n: int, seed: int = 0) -> np.ndarray:
    """``n`` states of ``task``'s simulation under random actions (resets included)."""
    from ..sim.envs import make

    env, rng = make(task), np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    out = []
    for i in range(n):
        out.append(np.asarray(obs, np.float32))
        obs, _, term, trunc, _ = env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
        if term or trunc:
            obs, _ = env.reset(seed=seed + i + 1)
    return np.stack(out)


def run(args: argparse.Namespace) -> int:
    if args.out.suffix != ".onnx":
        raise SystemExit(f"--out must end in .onnx, got {args.out}")
    default = Path("models/failurebench") / f"{args.task}.pt" if args.task.startswith("fb_") else ""
    try:
        bundle = load_task_bundle(args.task, args.bundle or default)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise SystemExit(f"{args.task}: {exc}") from None
    spec = get_task(args.task)
    names, actions = list(bundle.layout), list(spec.action_names)
    data = export_policy(bundle.task_policy, names, actions, {"task": args.task, "policy_version": bundle.version})
    atomic_write_bytes(args.out, data)
    # the file answers as the bundle does, on states the task's sim visits (random actions)
    served = OnnxPolicy(args.out, names, len(actions))
    states = visited_states(args.task, 256)
    native = propose(bundle.task_policy.eval(), states, deterministic=False, generator=torch.Generator().manual_seed(0))
    onnx = propose(served, states, deterministic=False, generator=torch.Generator().manual_seed(0))
    err = float(np.abs(native.actions - onnx.actions).max())
    print(f"{args.out}: {len(data) / 1e3:.0f} kB, observation {len(names)} fields, action {actions}, policy version {bundle.version}")
    print(f"  ONNX vs torch on 256 states: max action difference {err:.2e}, log-prob {np.abs(native.logp - onnx.logp).max():.2e}")
    return 0 if err < 1e-4 else 1

"""Online fine-tuning in sim, starting from a shipped/offline bundle:
``ftrl finetune --task disturbed_push --method farl --steps 3000``.
Writes updates.csv, episodes.csv (TensorBoard-free: plain CSV) and checkpoint.pt (atomic) into
--out, and prints the before/after evaluation."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..learning.bundle import load_task_bundle
from ..learning.online import METHODS, FinetuneConfig, finetune
from ..sim.envs import ENV_IDS, make


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, choices=sorted(ENV_IDS))
    p.add_argument("--method", default="farl", choices=METHODS)
    p.add_argument("--steps", type=int, default=3000, help="online budget, environment steps")
    p.add_argument("--rollout", type=int, default=600, help="environment steps per PPO update")
    p.add_argument("--model", default=None, help="bundle to start from (default models/<task>.pt)")
    p.add_argument("--out", default=None, help="run folder (default runs/finetune-<task>-<method>-s<seed>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-episodes", action="store_true", help="also write every episode (dataset format)")


def run(args: argparse.Namespace) -> int:
    if args.steps < 1 or args.rollout < 1:
        raise SystemExit("--steps and --rollout must be >= 1")
    bundle = load_task_bundle(args.task, args.model)
    out = Path(args.out or f"runs/finetune-{args.task}-{args.method}-s{args.seed}")
    cfg = FinetuneConfig(method=args.method, total_steps=args.steps, rollout_steps=args.rollout, seed=args.seed,
                         save_episodes=args.save_episodes)
    result = finetune(bundle, make(args.task), cfg, out, log=lambda m: print(m, flush=True))
    (out / "result.json").write_text(json.dumps(result, indent=2))
    print(f"failure episodes during fine-tuning: {result['failure_episodes']} of {result['episodes']}")
    print(f"checkpoint: {out / 'checkpoint.pt'} (policy version {result['version']})")
    return 0

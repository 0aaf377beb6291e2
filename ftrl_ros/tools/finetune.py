"""Online fine-tuning in sim, starting from a shipped/offline bundle:
``ftrl finetune --task disturbed_push --method farl --episodes 50`` (or ``--steps 100000``).
Writes updates.csv, episodes.csv (TensorBoard-free: plain CSV) and checkpoint.pt (atomic) into
--out, and prints the before/after evaluation."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..learning.bundle import load_task_bundle
from ..learning.methods import LEARN_FROM, METHODS
from ..learning.online import LEARNERS, FinetuneConfig, finetune
from ..learning.sac import SACConfig
from ..sim.envs import ENV_IDS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, choices=sorted(ENV_IDS))
    p.add_argument("--method", default="farl", choices=METHODS)
    p.add_argument("--episodes", type=int, default=50, help="online budget, finished episodes")
    p.add_argument("--steps", type=int, default=0, help="online budget in environment steps (replaces --episodes)")
    p.add_argument("--rollout", type=int, default=FinetuneConfig.rollout_steps, help="environment steps per PPO update")
    p.add_argument("--learn-from", default="proposed", choices=LEARN_FROM)
    p.add_argument("--learner", default="ppo", choices=LEARNERS, help="ppo (the paper's) or sac (off-policy, demos in the buffer)")
    p.add_argument("--utd", type=int, default=SACConfig.utd, help="sac: gradient updates per environment transition")
    p.add_argument(
        "--veto-penalty", type=float, default=0.0, help="reward PPO loses on a step whose proposal the filter vetoed (0: the paper's)"
    )
    p.add_argument("--envs", type=int, default=FinetuneConfig.n_envs, help="simulated robots in parallel")
    p.add_argument("--model", default=None, help="bundle to start from (default models/<task>.pt)")
    p.add_argument("--out", default=None, help="run folder (default runs/finetune-<task>-<method>-s<seed>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-episodes", action="store_true", help="also write every episode (dataset format)")


def run(args: argparse.Namespace) -> int:
    if args.steps < 0 or args.episodes < 1 or args.rollout < 1 or args.envs < 1 or not args.veto_penalty >= 0:
        raise SystemExit("--episodes, --rollout and --envs must be >= 1, --steps and --veto-penalty >= 0")
    bundle = load_task_bundle(args.task, args.model)
    out = Path(args.out or f"runs/finetune-{args.task}-{args.method}-s{args.seed}")
    cfg = FinetuneConfig(
        method=args.method,
        learn_from=args.learn_from,
        learner=args.learner,
        sac=SACConfig(utd=args.utd),
        veto_penalty=args.veto_penalty,
        episodes=args.episodes,
        total_steps=args.steps,
        rollout_steps=args.rollout,
        n_envs=args.envs,
        seed=args.seed,
        save_episodes=args.save_episodes,
    )
    from ..learning.collect import progress_bar

    total = cfg.total_steps or cfg.episodes
    with progress_bar(total, f"{args.task} {args.method} ({'steps' if cfg.total_steps else 'episodes'})") as bar:
        result = finetune(bundle, args.task, cfg, out, log=bar.write, progress=bar.update)
    (out / "result.json").write_text(json.dumps(result, indent=2))
    print(f"failure episodes during fine-tuning: {result['failure_episodes']} of {result['episodes']}")
    print(f"checkpoint: {out / 'checkpoint.pt'} (policy version {result['version']})")
    return 0

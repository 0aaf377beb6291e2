"""Online fine-tuning moves the policy the right way: PPO (Uni-O4's online phase, the loop every
method uses) on Disturbed Push from the shipped offline bundle, the long budget's settings, a
fixed seed; the deterministic return on 30 held-out evaluation episodes must rise."""

from __future__ import annotations

import pytest
import torch

from ftrl_ros.learning.bundle import load_task_bundle
from ftrl_ros.learning.online import FinetuneConfig, finetune
from ftrl_ros.tools.bench_farl import BUDGETS


@pytest.mark.slow
def test_finetuning_raises_return_on_disturbed_push(tmp_path):
    torch.set_num_threads(1)
    bundle = load_task_bundle("disturbed_push")
    cfg = FinetuneConfig(
        method="uni_o4",
        seed=102,
        eval_episodes=30,
        n_envs=8,
        n_workers=2,
        total_steps=60_000,
        rollout_steps=BUDGETS["long"]["rollout_steps"],
    )
    res = finetune(bundle, "disturbed_push", cfg, tmp_path)
    before, after = res["before"]["plain"]["return"], res["after"]["plain"]["return"]
    print(f"Uni-O4 fine-tuning, 60k steps, seed 102: return {before:.1f} -> {after:.1f} (30 evaluation episodes), {res['updates']} updates")
    assert res["updates"] >= 14
    assert after > before + 2.0, (before, after)

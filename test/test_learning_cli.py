"""The learning commands on the shipped models: they run, write what they promise, and reject
bad input with a clear message."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from ftrl_ros.learning.bundle import load_bundle
from ftrl_ros.sim.envs import ENV_IDS
from ftrl_ros.tasks import get_task

ROOT = Path(__file__).resolve().parents[1]


def ftrl(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ftrl_ros.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout)


@pytest.mark.parametrize("task", sorted(ENV_IDS))
def test_shipped_models_load_and_are_small(task):
    path = ROOT / "models" / f"{task}.pt"
    b = load_bundle(path)
    assert b.task == task and b.layout == list(get_task(task).layout.names)
    assert path.stat().st_size < 5e6
    assert b.metrics["calibration"]["world_model"]["test"]["auc"] > 0.8  # on rollouts training never saw
    rec = b.metrics["recovery_policy"]
    assert rec["recovery/learned"] >= rec["recovery/scripted"] - 0.05  # within 5 points of the scripted one


@pytest.mark.slow
def test_bench_farl_sweep_resumes(tmp_path):
    args = (
        "bench-farl",
        "--tasks",
        "disturbed_push",
        "--methods",
        "farl,uni_o4",
        "--seeds",
        "1",
        "--episodes",
        "3",
        "--eval-episodes",
        "2",
        "--envs",
        "2",
        "--out",
        str(tmp_path),
    )
    out = ftrl(*args)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "0 finished before, 2 to run now" in out.stdout
    runs = [tmp_path / "robot" / "disturbed_push" / m / "s1" / "result.json" for m in ("farl", "uni_o4")]
    stamps = [r.stat().st_mtime_ns for r in runs]
    res = json.loads((tmp_path / "robot" / "results.json").read_text())
    assert set(res["summary"]["disturbed_push"]) == {"farl", "uni_o4"} and res["runs"] == 2
    assert (tmp_path / "robot" / "results.png").stat().st_size > 10_000
    again = ftrl(*args)
    assert again.returncode == 0 and "2 finished before, 0 to run now" in again.stdout
    assert [r.stat().st_mtime_ns for r in runs] == stamps  # finished runs are not run again


def test_a_sweep_reuses_only_runs_made_under_the_same_budget(tmp_path):
    """Changing a budget's settings (steps, rollout, PPO overrides) must rerun its runs, not mix
    them into the table; so must a run without recorded settings or from another bundle."""
    import argparse

    from ftrl_ros.tools.bench_farl import BUDGETS, is_finished, run_settings

    short = BUDGETS["short"]
    (tmp_path / "result.json").write_text(json.dumps({"bundle_sha256": "abc", "budget_settings": short}))
    assert is_finished(tmp_path, "abc", short)
    assert not is_finished(tmp_path, "abd", short)
    assert not is_finished(tmp_path, "abc", {**short, "rollout_steps": 2048})
    assert not is_finished(tmp_path, "abc", {**short, "ppo": {}})
    (tmp_path / "result.json").write_text(json.dumps({"bundle_sha256": "abc"}))
    assert not is_finished(tmp_path, "abc", short)
    assert not is_finished(tmp_path / "missing", "abc", short)
    smoke = run_settings(argparse.Namespace(budget="short", episodes=2))
    assert run_settings(argparse.Namespace(budget="short", episodes=0)) == short
    assert smoke["episodes"] == 2 and smoke["ppo"] == short["ppo"] and not is_finished(tmp_path, "abc", smoke)


def test_failurebench_table_compares_with_the_paper_on_common_seeds():
    """Failure episodes relative to FARL's over the seeds both methods have run (a partial sweep
    must not divide one seed's count by three seeds' mean), next to the paper's Table II ratio."""
    from ftrl_ros.tools.bench_farl import PAPER_FAILUREBENCH, comparisons, failure_ratio, paper_table

    ms = {
        "farl": {"failure_episodes_by_seed": {"0": 10, "1": 30, "2": 50}, "after_plain_raw": {"mean": 1000.0}},
        "mppi": {"failure_episodes_by_seed": {"0": 15}, "after_plain_raw": {"mean": 500.0}},
    }
    paper = PAPER_FAILUREBENCH["fb_bounded_push"]
    assert failure_ratio(ms, "mppi", paper) == f"1.50 / {paper['mppi'] / paper['farl']:.2f} (1 seeds)"
    assert failure_ratio(ms, "recovery_rl", paper) == "-"
    rows = paper_table({"fb_bounded_push": ms, "disturbed_push": ms})
    assert sum(r.startswith("| fb_bounded_push |") for r in rows) == 1 and not any("disturbed_push" in r for r in rows)
    assert "| 1000 / 4594 | - | - |" in rows[-1]
    # FARL vs Uni-O4 on the same footing: seed 0 only (15 vs 10), not 15 vs the mean of three
    other = {"gain_plain": {"mean": 0.0}, "after_plain": {"mean": 0.0}}
    comp = comparisons({"t": {"farl": {**ms["mppi"], **other}, "uni_o4": {**ms["farl"], **other}}})
    assert comp["t"]["farl_failure_reduction_vs_uni_o4"] == pytest.approx(1 - 15 / 10)


def test_bad_arguments_fail_clearly(tmp_path):
    out = ftrl("finetune", "--task", "disturbed_push", "--method", "nope")
    assert out.returncode != 0 and "invalid choice: 'nope'" in out.stderr
    out = ftrl("finetune", "--task", "disturbed_push", "--model", str(tmp_path / "missing.pt"))
    assert out.returncode != 0 and "checkpoint not found" in out.stderr
    out = ftrl("collect", "--task", "bounded_soccer", "--kind", "failure", "--data-dir", str(tmp_path))
    assert out.returncode != 0 and "needs --model" in out.stderr


def test_bench_speed_prints_latency_and_training_time(tmp_path):
    out = ftrl("bench-speed", "--decisions", "50", "--data-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr[-2000:]
    for task in ENV_IDS:
        line = next(ln for ln in out.stdout.splitlines() if ln.startswith(task))
        p50, p99 = (float(x) for x in line.split()[1:3])
        assert 0 < p50 <= p99
        assert "min" in line


def test_bench_speed_vec_prints_both_rates():
    out = ftrl("bench-speed", "--vec", "--envs", "2", "--workers", "1", "--vec-steps", "20", "--learn-steps", "32", "--sac-steps", "4")
    assert out.returncode == 0, out.stderr[-2000:]
    for task in ENV_IDS:
        lines = [ln.split() for ln in out.stdout.splitlines() if ln.startswith(task)]
        envs, plain, filtered, ratio = lines[0][1:5]
        assert int(envs) == 2 and float(plain) > 0 and float(filtered) > 0
        assert float(ratio) == pytest.approx(float(filtered) / float(plain), abs=0.01)
        # the fine-tuning loop with each learner: steps/s and a time split that adds up to 100 %
        assert [row[1] for row in lines[1:]] == ["ppo", "sac"]
        for row in lines[1:]:
            shares = [float(x.rstrip("%")) for x in row[3:7]]
            assert float(row[2]) > 0 and all(x >= -1 for x in shares) and sum(shares) == pytest.approx(100, abs=2)


def test_calibrate_loop_prints_the_choice_and_writes_it(tmp_path):
    import shutil

    model = tmp_path / "disturbed_push.pt"
    shutil.copy(ROOT / "models" / "disturbed_push.pt", model)
    out = ftrl("calibrate-loop", "--task", "disturbed_push", "--model", str(model), "--episodes", "2", "--envs", "2", "--write")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "chosen: eps_safe" in out.stdout and "false takeovers/episode" in out.stdout
    b = load_bundle(model)
    chosen = b.metrics["closed_loop"]["farl"]["chosen"]
    assert b.safety.eps_safe == pytest.approx(chosen["eps_safe"]) and b.safety.hold_steps == chosen["hold_steps"]
    assert json.loads(model.with_suffix(".json").read_text())["closed_loop"]["farl"]["episodes"] == 2
    out = ftrl("calibrate-loop", "--task", "disturbed_push", "--model", str(model), "--budget", "-1")
    assert out.returncode != 0 and "budget" in out.stderr


def test_paired_comparison_uses_common_seeds_only():
    """farl+sac vs uni_o4 on the seeds both ran: seed 2 of uni_o4 has no partner and is left out
    of the failure change and of the paired return difference."""
    from ftrl_ros.tools.bench_farl import paired_markdown, paired_vs

    u = {
        "failure_episodes_by_seed": {"0": 10, "1": 20, "2": 90},
        "failures_per_1000_steps_by_seed": {"0": 4.0, "1": 8.0, "2": 30.0},
        "gain_plain_by_seed": {"0": -5.0, "1": 1.0, "2": 50.0},
    }
    f = {
        "failure_episodes_by_seed": {"0": 5, "1": 10},
        "failures_per_1000_steps_by_seed": {"0": 2.0, "1": 2.0},
        "gain_plain_by_seed": {"0": 10.0, "1": 12.0},
    }
    c = paired_vs({"t": {"uni_o4": u, "farl+sac": f}})["t"]["farl+sac"]
    assert c["seeds"] == [0, 1]
    assert c["failure_episodes_change"] == pytest.approx(15 / 30 - 1)
    assert c["failures_per_1000_steps_change"] == pytest.approx(4 / 12 - 1)
    assert c["gain"]["mean"] == pytest.approx(11.0) and c["gain_minus_ref"]["mean"] == pytest.approx((15 + 11) / 2)
    assert c["failure_episodes_change_ci95"] == pytest.approx([-0.5, -0.5])  # both pairs halve the failures
    assert any(line.startswith("| t | farl+sac | 2 | -50 % [-50, -50] | -67 % |") for line in paired_markdown({"t": {"farl+sac": c}}))


def test_paired_failure_change_ci_resamples_seeds_as_pairs():
    """Seed 0: 0 vs 1 failures, seed 1: 10 vs 19. Resampled as pairs the change lies in
    [-100 %, -47 %] (never above: every pair has fewer failures); resampled unpaired it could
    reach 20 / 2 - 1 = +900 %."""
    from ftrl_ros.tools.bench_farl import paired_change_ci

    lo, hi = paired_change_ci([0, 10], [1, 19])
    assert lo == pytest.approx(-1.0) and hi == pytest.approx(20 / 38 - 1)
    assert all(map(math.isnan, paired_change_ci([3], [4])))

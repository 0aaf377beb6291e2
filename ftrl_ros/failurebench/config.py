"""The offline phase's settings for FailureBench: the robot tasks run at 5 Hz with 12-60-step
episodes, Meta-World at 80 Hz with 500 steps, so demo lengths, exploration bursts and the risk
label's horizon are rescaled to the same wall-clock meaning; the demo counts are the paper's."""
from __future__ import annotations

from ..learning.collect import CollectConfig
from ..learning.dagger import DaggerConfig, LoopDaggerConfig
from ..learning.offline import OfflineConfig
from ..learning.offline_policy import OfflinePolicyConfig
from ..learning.recovery_rl import RecoveryRLConfig
from ..learning.world_model import WorldModelConfig
from ..scripted.noise import BurstNoise


def offline_config(seed: int = 0, scale: float = 1.0) -> OfflineConfig:
    """``scale`` < 1 shrinks every count (demos, rollouts, DAgger rounds, gradient steps) for
    smoke runs; 1 is the benchmark's setting."""
    n = lambda x: max(2, int(round(x * scale)))  # noqa: E731
    policy = OfflinePolicyConfig(bc_steps=n(2000), iql_steps=n(3000), rounds=min(4, n(4)))
    return OfflineConfig(
        task_policy=policy,
        recovery_policy=OfflinePolicyConfig(bc_steps=n(2000), iql_steps=n(3000), ensemble=2, rounds=min(2, n(2))),
        world_model=WorldModelConfig(steps=n(3000)),
        recovery_rl=RecoveryRLConfig(steps=n(3000)),
        collect=CollectConfig(
            task_episodes=n(20),  # the paper's 20 medium-expert demos
            # ~0.3 s detours now and then, xy only (noise on the gripper drops the puck): the noisy
            # expert scores 83 / 51 / 57 / 52 % of the expert (push / soccer / wall / obstructed),
            # the paper's "medium-expert"
            task_noise=BurstNoise(p=0.01, length=24, sigma=0.3, planar_only=True),
            recovery_episodes=n(120), recovery_max_steps=60,  # 0.75 s at 80 Hz
            failure_transitions=n(20000), failure_max_episodes=n(600),
            failure_noise=BurstNoise(p=0.02, length=24, sigma=0.3, planar_only=True),
            calibration_episodes=n(100), seed=seed),
        dagger=DaggerConfig(iterations=n(4), episodes_per_iteration=n(40), max_steps=60, eval_episodes=n(60),
                            regress_steps=n(1500), seed=seed),
        loop_dagger=LoopDaggerConfig(iterations=n(2), episodes_per_iteration=n(16), eval_episodes=n(24),
                                     regress_steps=n(1500), seed=seed),
        label_horizon=16,  # 0.2 s at 80 Hz
        horizons=(1, 3, 5, 8),
        seed=seed,
    )

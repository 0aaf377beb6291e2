"""ppo_learner: online fine-tuning of the task policy from logged episodes (FARL's online phase).

Every `episodes_per_update` new episodes (summaries on /ftrl/episode/summary) it runs one PPO
update with GAE on their transitions (all of them were executed, so all are safe ones), in a
background thread so the node stays responsive. The data goes through ``rollout.from_episodes``
and ``PPO.update`` -- the same types and update the benchmarks use; ``learn_from`` picks the
proposal (default, on-policy) or the executed action (the paper's variant). The new policy is saved atomically with the rest of the bundle as
<run_dir>/checkpoints/policy_v<N>.pt and announced on /ftrl/policy_version (latched JSON
{version, path}); policy_server and safety_filter load it between two ticks. Recovery policy and
world model stay frozen. While the e-stop is engaged no update starts.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import rclpy
import torch
from rclpy.node import Node
from std_msgs.msg import Bool, String

from ..learning.bundle import load_task_bundle, save_bundle
from ..learning.dataset import load_episode
from ..learning.decide import CONSTRAINED, METHODS
from ..learning.ppo import PPO, PPOConfig
from ..learning.rollout import from_episodes
from . import qos
from .params import Param, declare, task_param
from .runner import run_node


PARAMS = [
    task_param("task"),
    Param("bundle", "", "offline bundle to start from ('' = models/<task>.pt)", read_only=True),
    Param("run_dir", "runs/ros", "checkpoints go to <run_dir>/checkpoints/", read_only=True),
    Param("mode", "train", "eval: never update", read_only=True,
          check=lambda v: None if v in ("train", "eval") else "train or eval"),
    Param("episodes_per_update", 5, "episodes collected per PPO update", range=(1, 10000)),
    Param("method", "farl", "ppo_lagrangian / p3o add the cost to the update; the others learn the reward only",
          read_only=True, check=lambda v: None if v in (*METHODS, "none") else f"one of {METHODS} or none"),
    Param("learn_from", "proposed", "proposed (the task sample, on-policy) or executed (paper variant)",
          read_only=True, check=lambda v: None if v in ("proposed", "executed") else "proposed or executed"),
    Param("learning_rate", PPOConfig.lr, "policy Adam learning rate", range=(1e-7, 1e-1)),
    Param("epochs", PPOConfig.epochs, "PPO epochs per update (cut short by target_kl)", range=(1, 100)),
    Param("target_kl", PPOConfig.target_kl, "stop an update when a minibatch's approx-KL exceeds 1.5 x this",
          range=(1e-4, 10.0)),
    Param("seed", 0, "seed", read_only=True, range=(0, 2**31 - 1)),
]


class PPOLearner(Node):
    def __init__(self):
        super().__init__("ppo_learner")
        p = declare(self, PARAMS)
        self.p = p
        torch.set_num_threads(1)  # leave the cores to perception and control
        self.bundle = load_task_bundle(p["task"], p["bundle"])
        cfg = PPOConfig(lr=p["learning_rate"], epochs=p["epochs"], target_kl=p["target_kl"],
                        constraint=CONSTRAINED.get(p["method"], "none"))
        self.ppo = PPO(self.bundle.task_policy, self.bundle.value, cfg, p["seed"])
        self.folder = Path(p["run_dir"]) / "checkpoints"
        self.waiting: list[str] = []
        self.estop = False
        self.busy = False
        self.pub = self.create_publisher(String, "/ftrl/policy_version", qos.LATCHED)
        self.create_subscription(String, "/ftrl/episode/summary", self._on_summary, qos.EVENTS)
        self.create_subscription(Bool, "/ftrl/estop/engaged", self._on_estop, qos.LATCHED)
        self.create_timer(0.5, self._maybe_update)
        self.get_logger().info(f"{p['task']}: fine-tuning from version {self.bundle.version} ({p['mode']} mode), "
                               f"one update every {p['episodes_per_update']} episodes")

    def _on_estop(self, msg: Bool) -> None:
        self.estop = bool(msg.data)
        if self.estop:
            self.get_logger().warn("e-stop engaged: learning paused")

    def _on_summary(self, msg: String) -> None:
        summary = json.loads(msg.data)
        if summary.get("path"):
            self.waiting.append(summary["path"])

    def _maybe_update(self) -> None:
        if self.p["mode"] != "train" or self.busy or self.estop or len(self.waiting) < self.p["episodes_per_update"]:
            return
        paths, self.waiting = self.waiting, []
        self.busy = True
        threading.Thread(target=self._update, args=(paths,), daemon=True).start()

    def _update(self, paths: list[str]) -> None:
        try:
            t0 = time.perf_counter()
            data = from_episodes([load_episode(p) for p in paths], self.p["learn_from"])
            stats = self.ppo.update(data)
            self.bundle.version += 1
            path = self.folder / f"policy_v{self.bundle.version:04d}.pt"
            save_bundle(path, self.bundle)
            info = {"version": self.bundle.version, "path": str(path.resolve()), "episodes": len(paths),
                    "transitions": len(data), "seconds": round(time.perf_counter() - t0, 2),
                    **{k: round(float(v), 4) for k, v in stats.items()}}
            if rclpy.ok():
                self.pub.publish(String(data=json.dumps(info)))
                self.get_logger().info(f"policy version {self.bundle.version}: {len(data)} transitions from "
                                       f"{len(paths)} episodes in {info['seconds']} s")
        except Exception as exc:  # a bad episode file must not kill learning
            self.get_logger().error(f"PPO update failed: {exc}")
        finally:
            self.busy = False


def main(args=None) -> int:
    return run_node(PPOLearner, args)


if __name__ == "__main__":
    sys.exit(main())

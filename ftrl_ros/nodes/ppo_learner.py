"""ppo_learner: online fine-tuning of the task policy from logged episodes (FARL's online phase).

``learner`` picks the algorithm: ppo (the paper's; described below) or sac (``learning.sac``:
off-policy, the offline demos of ``demo_dir`` in its replay buffer, ``utd`` gradient updates per
new transition, run at the same points as a PPO update would be).

Every `episodes_per_update` new episodes (summaries on /ftrl/episode/summary) it runs one PPO
update with GAE on their transitions (all of them were executed, so all are safe ones), in a
background thread so the node stays responsive. The data goes through ``rollout.from_episodes``
and ``PPO.update`` -- the same types and update the benchmarks use; ``learn_from`` picks the
proposal (default, on-policy) or the executed action (the paper's variant). The new policy is saved atomically with the rest of the
bundle as
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

from ..control import validate
from ..learning.bundle import load_task_bundle, save_bundle
from ..learning.dataset import DatasetError, load_episode
from ..learning.methods import get_method
from ..learning.ppo import PPO, PPOConfig
from ..learning.rollout import from_episodes, offpolicy_from_episodes
from ..learning.sac import SAC, SACConfig
from ..learning.scalars import record_all
from ..tasks import get_task
from ..utils.tensorboard import EventLog
from ..utils.atomic import atomic_write_bytes
from . import topics
from .params import Param, declare, learn_from_param, method_param, task_param
from .runner import run_node


PARAMS = [
    task_param("task"),
    Param("bundle", "", "offline bundle to start from ('' = models/<task>.pt)", read_only=True),
    Param("run_dir", "runs/ros", "checkpoints go to <run_dir>/checkpoints/", read_only=True),
    Param("mode", "train", "eval: never update", read_only=True, check=lambda v: None if v in ("train", "eval") else "train or eval"),
    Param("episodes_per_update", 5, "episodes collected per PPO update", range=(1, 10000)),
    method_param("ppo_lagrangian / p3o add the cost to the update; the others learn the reward only"),
    learn_from_param(),
    Param(
        "learner",
        "ppo",
        "ppo (the paper's) or sac (off-policy, demos in the buffer)",
        read_only=True,
        check=lambda v: None if v in ("ppo", "sac") else "ppo or sac",
    ),
    Param("utd", SACConfig.utd, "sac: gradient updates per new transition", read_only=True, range=(1, 100)),
    Param("warmup_updates", SACConfig.warmup_updates, "sac: critic-only updates before the actor moves", read_only=True, range=(0, 10**7)),
    Param("demo_dir", "data", "sac: demos are read from <demo_dir>/<task>/{task,recovery}_demo (none: online data only)", read_only=True),
    Param("veto_penalty", 0.0, "reward lost on a step whose proposal the filter vetoed (0: the paper's)", range=(0.0, 100.0)),
    Param("learning_rate", PPOConfig.lr, "policy Adam learning rate", range=(1e-7, 1e-1)),
    Param("epochs", PPOConfig.epochs, "PPO epochs per update (cut short by target_kl)", range=(1, 100)),
    Param("target_kl", PPOConfig.target_kl, "stop an update when a minibatch's approx-KL exceeds 1.5 x this", range=(1e-4, 10.0)),
    Param("seed", 0, "seed", read_only=True, range=(0, 2**31 - 1)),
]


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest policy_v<N>.pt of an earlier run of this learner in the same run folder."""
    found = sorted(folder.glob("policy_v*.pt"))
    return found[-1] if found else None


def episode_path(text: str, folder: Path) -> str | None:
    """The episode file named by a summary message, resolved; None for an episode without a file.
    InputError for anything that is not JSON with a path inside ``folder``."""
    try:
        summary = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise validate.InputError(f"not JSON: {exc}") from None
    if not isinstance(summary, dict):
        raise validate.InputError("not a JSON object")
    path = summary.get("path")
    if path is None:
        return None
    if not isinstance(path, str) or not path or "\x00" in path:
        raise validate.InputError(f"path must be a string, got {path!r}")
    p = Path(path).resolve()
    if not p.is_relative_to(folder) or p.suffix != ".npz" or not p.is_file():
        raise validate.InputError(f"{path} is not an episode file in {folder}")
    return str(p)


class UsedEpisodes:
    """The episode files already learned from, kept next to the checkpoints (written atomically)
    so a respawned learner neither repeats nor skips any."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.paths = set(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            self.paths = set()

    def __contains__(self, path: str) -> bool:
        return path in self.paths

    def add(self, paths: list[str]) -> None:
        self.paths.update(paths)
        atomic_write_bytes(self.path, json.dumps(sorted(self.paths)).encode())


class PPOLearner(Node):
    def __init__(self):
        super().__init__("ppo_learner")
        p = declare(
            self,
            PARAMS,
            {
                "learning_rate": self._set_lr,
                "epochs": lambda v: setattr(self.ppo.cfg, "epochs", v),
                "target_kl": lambda v: setattr(self.ppo.cfg, "target_kl", v),
            },
        )
        self.p = p
        torch.set_num_threads(1)  # leave the cores to perception and control
        self.folder = Path(p["run_dir"]) / "checkpoints"
        self.episodes_dir = (Path(p["run_dir"]) / "episodes").resolve()
        resume = latest_checkpoint(self.folder)
        self.bundle = load_task_bundle(p["task"], resume or p["bundle"] or None)
        base = PPOConfig(lr=p["learning_rate"], epochs=p["epochs"], target_kl=p["target_kl"])
        cfg = get_method(p["method"]).ppo_config(base, get_task(p["task"]).reward_scale)  # as online.finetune
        self.ppo = PPO(self.bundle.task_policy, self.bundle.value, cfg, p["seed"])
        self.sac: SAC | None = None
        if p["learner"] == "sac":
            self.sac = self._make_sac(p)
        self.used = UsedEpisodes(self.folder / "used_episodes.json")
        # one TensorBoard curve per statistic, x axis = policy version (a restart appends a new event file)
        self.events = EventLog(Path(p["run_dir"]) / "learner")
        # episodes written while this node was down (respawn) are learned from too, in order
        self.waiting: list[str] = [str(f) for f in sorted(self.episodes_dir.glob("ep_*.npz")) if str(f) not in self.used]
        self.estop = False
        self.busy = False
        self.pub = topics.publisher(self, topics.POLICY_VERSION)
        topics.subscribe(self, topics.EPISODE_SUMMARY, self._on_summary)
        topics.subscribe(self, topics.ESTOP_ENGAGED, self._on_estop)
        self.create_timer(0.5, self._maybe_update)
        if resume:
            self.get_logger().warn(
                f"resumed from {resume.name} (version {self.bundle.version}); {len(self.waiting)} episodes not learned from yet"
            )
            self._announce({"version": self.bundle.version, "path": str(resume.resolve()), "resumed": True})
        self.get_logger().info(
            f"{p['task']}: fine-tuning from version {self.bundle.version} ({p['mode']} mode), "
            f"one update every {p['episodes_per_update']} episodes"
        )

    def _make_sac(self, p: dict) -> SAC:
        """SAC on the task policy, with the demos of ``demo_dir`` where there are any."""
        from ..learning.demos import saved_demos

        folder = Path(p["demo_dir"]) / p["task"]
        demos = saved_demos(folder)
        if demos is None:
            self.get_logger().warn(f"sac: no demos in {folder}: learning from online data only")
        cfg = SACConfig(utd=p["utd"], actor_lr=p["learning_rate"], warmup_updates=p["warmup_updates"], seed=p["seed"])
        return SAC.for_task(self.bundle.task_policy, p["task"], demos, cfg)

    def _set_lr(self, value: float) -> None:
        self.ppo.cfg.lr = value
        for group in self.ppo.pi_opt.param_groups:
            group["lr"] = value
        if getattr(self, "sac", None) is not None:
            assert self.sac is not None
            for group in self.sac.pi_opt.param_groups:
                group["lr"] = value

    def _announce(self, info: dict) -> None:
        self.pub.publish(String(data=json.dumps(info)))

    def _on_estop(self, msg: Bool) -> None:
        self.estop = bool(msg.data)
        if self.estop:
            self.get_logger().warn("e-stop engaged: learning paused")

    def _on_summary(self, msg: String) -> None:
        """Episode files from the logger: only ones inside this run's episode folder, each once."""
        try:
            path = episode_path(msg.data, self.episodes_dir)
        except validate.InputError as exc:
            self.get_logger().error(f"{topics.resolved(self, topics.EPISODE_SUMMARY)} ignored: {exc}", throttle_duration_sec=5.0)
            return
        if path and path not in self.used and path not in self.waiting:
            self.waiting.append(path)

    def _maybe_update(self) -> None:
        if self.p["mode"] != "train" or self.busy or self.estop or len(self.waiting) < self.p["episodes_per_update"]:
            return
        paths, self.waiting = self.waiting, []
        self.busy = True
        threading.Thread(target=self._update, args=(paths,), daemon=True).start()

    def _update(self, paths: list[str]) -> None:
        try:
            t0 = time.perf_counter()
            episodes = []
            for p in paths:
                try:
                    episodes.append(load_episode(p))
                except DatasetError as exc:  # one bad file costs that episode, not the update
                    self.get_logger().error(f"episode skipped: {exc}")
            self.used.add(paths)
            if not episodes:
                return
            if self.sac is not None:
                s, a, r, s2, term = offpolicy_from_episodes(episodes, self.p["learn_from"], self.p["veto_penalty"])
                self.sac.add(s, a, r, s2, term)
                stats, n = self.sac.train(len(r)), len(r)
            else:
                data = from_episodes(episodes, self.p["learn_from"], self.p["veto_penalty"])
                stats, n = self.ppo.update(data), len(data)
            self.bundle.version += 1
            path = self.folder / f"policy_v{self.bundle.version:04d}.pt"
            save_bundle(path, self.bundle)
            self.used.add(paths)
            info = {
                "version": self.bundle.version,
                "path": str(path.resolve()),
                "episodes": len(paths),
                "transitions": n,
                "seconds": round(time.perf_counter() - t0, 2),
                **{k: round(float(v), 4) for k, v in stats.items()},
            }
            record_all(self.events, {k: v for k, v in info.items() if k not in ("version", "path")}, self.bundle.version, "updates")
            self.events.flush()
            if rclpy.ok():
                self._announce(info)
                self.get_logger().info(
                    f"policy version {self.bundle.version}: {n} transitions from {len(paths)} episodes in {info['seconds']} s"
                )
        except Exception as exc:  # a bad episode file must not kill learning
            self.get_logger().error(f"{self.p['learner']} update failed: {exc}")
        finally:
            self.busy = False


def main(args=None) -> int:
    return run_node(PPOLearner, args)


if __name__ == "__main__":
    sys.exit(main())

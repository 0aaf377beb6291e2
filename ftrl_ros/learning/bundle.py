"""Everything one task needs online, in one small file: task policy + value, recovery policy,
world model, Recovery-RL critic, safety settings and how they were measured.
``models/<task>.pt`` is this bundle for each sim task (`ftrl train-offline` rebuilds it; docs/learning.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import checkpoint
from .nets import GaussianPolicy, Normalizer, ValueNet
from .recovery_rl import SafetyQ
from .safety import SafetyConfig
from .world_model import WorldModel, WorldModelConfig

BUNDLE_VERSION = 1


@dataclass
class Bundle:
    task: str
    layout: list[str]
    task_policy: GaussianPolicy
    value: ValueNet
    recovery_policy: GaussianPolicy
    world_model: WorldModel
    safety_q: SafetyQ
    safety: SafetyConfig
    rrl_eps: float
    hidden: int = 256
    metrics: dict = field(default_factory=dict)
    version: int = 0
    """Policy version: 0 for the offline model, +1 for every online update that produced it."""


def _policy(sd: dict, hidden: int) -> GaussianPolicy:
    p = GaussianPolicy(Normalizer.from_state_dict(sd), action_dim=sd["log_std"].shape[0], hidden=hidden)
    p.load_state_dict(sd)
    return p


def save_bundle(path: str | Path, b: Bundle) -> None:
    checkpoint.save(
        path,
        bundle_version=BUNDLE_VERSION,
        task=b.task,
        layout=b.layout,
        hidden=b.hidden,
        task_policy=b.task_policy.state_dict(),
        value=b.value.state_dict(),
        recovery_policy=b.recovery_policy.state_dict(),
        world_model=b.world_model.state_dict(),
        wm_config=checkpoint.plain(asdict(b.world_model.cfg)),
        safety_q=b.safety_q.state_dict(),
        safety=checkpoint.plain(asdict(b.safety)),
        rrl_eps=float(b.rrl_eps),
        metrics=checkpoint.plain(b.metrics),
        version=int(b.version),
    )


def load_bundle(path: str | Path) -> Bundle:
    d = checkpoint.load(path)
    if d.get("bundle_version") != BUNDLE_VERSION:
        raise ValueError(f"{path}: bundle_version {d.get('bundle_version')!r}, expected {BUNDLE_VERSION}")
    h = d["hidden"]
    dim = d["safety_q"]["norm.mean"].shape[0]  # the raw state (a policy may add features to it)
    value = ValueNet(Normalizer.from_state_dict(d["value"]), hidden=h)
    value.load_state_dict(d["value"])
    act = d["task_policy"]["log_std"].shape[0]
    wm = WorldModel(Normalizer.from_state_dict(d["world_model"]), act, WorldModelConfig(**d["wm_config"]))
    wm.load_state_dict(d["world_model"])
    q = SafetyQ(Normalizer(dim), act, h, d["task"] if "hazard_in.lo" in d["safety_q"] else "")
    q.load_state_dict(d["safety_q"])
    return Bundle(
        task=d["task"],
        layout=d["layout"],
        task_policy=_policy(d["task_policy"], h),
        value=value,
        recovery_policy=_policy(d["recovery_policy"], h),
        world_model=wm,
        safety_q=q,
        safety=SafetyConfig(**d["safety"]),
        rrl_eps=d["rrl_eps"],
        hidden=h,
        metrics=d["metrics"],
        version=d.get("version", 0),
    )


def load_task_bundle(task: str, path: str | Path | None = None) -> Bundle:
    """The bundle for ``task``: ``path`` if given, else the shipped ``models/<task>.pt``; a bundle
    made for another task is an error (its state layout would not match)."""
    from ..utils.paths import package_dir

    path = Path(path) if path else package_dir("models") / f"{task}.pt"
    b = load_bundle(path)
    if b.task != task:
        raise ValueError(f"bundle {path} is for task {b.task!r}, not {task!r}")
    return b

"""policy_server: for every new state, the task policy's action (sampled with its log-probability
in train mode, the mean in eval mode) on /ftrl/proposal, through ``decide.propose`` -- the same
call the benchmarks make. The safety filter decides whether it runs.

New policy versions from the learner (/ftrl/policy_version, latched) are loaded in a background
thread and swapped in between two states, so no tick is missed while a checkpoint loads.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from sensor_msgs.msg import JointState

from ..control import validate
from ..interop.onnx_policy import OnnxPolicy, PolicyFileError
from ..learning.bundle import load_task_bundle
from ..learning.decide import propose
from ..learning.nets import GaussianPolicy
from ..tasks import get_task
from .conversions import PROPOSAL_FIELDS, hops_of, named_msg, since_stamp_ms, state_array
from . import topics
from .policy_updates import PolicyUpdates
from .lifecycle import AUTOSTART, ManagedNode
from .params import Param, base_frame_param, declare, task_param
from .runner import run_node


PARAMS = [
    task_param("task"),
    base_frame_param(),
    Param(
        "mode",
        "train",
        "train: sample task actions; eval: the policy's mean",
        read_only=True,
        check=lambda v: None if v in ("train", "eval") else "train or eval",
    ),
    Param("run_dir", "runs/ros", "new policy versions are accepted from <run_dir>/checkpoints/ and models/ only", read_only=True),
    Param("bundle", "", "offline bundle ('' = models/<task>.pt)", read_only=True),
    Param(
        "policy",
        "",
        "an external task policy (.onnx with declared layouts, see interop/onnx_policy.py; '' = the bundle's own)",
        read_only=True,
        check=lambda v: None if v == "" or v.endswith(".onnx") else "'' or a path to an .onnx file",
    ),
    Param("seed", 0, "sampling seed", read_only=True, range=(0, 2**31 - 1)),
    AUTOSTART,
]


class PolicyServer(ManagedNode):
    def __init__(self):
        super().__init__("policy_server")
        self.p = declare(self, PARAMS)

    def configure_node(self) -> None:
        p = self.p
        torch.set_num_threads(1)
        bundle = load_task_bundle(p["task"], p["bundle"])
        self.names = list(bundle.layout)
        self.spec = get_task(p["task"])
        self.policy: GaussianPolicy | OnnxPolicy = bundle.task_policy.eval()
        if p["policy"]:  # any policy behind the filter: its proposals get C_H like our own
            self.policy = self._external(p["policy"], len(self.spec.action_names))
        self.gen = torch.Generator().manual_seed(p["seed"])
        # the first forward pass pays torch's lazy set-up (~10x a normal one): pay it before the
        # first state, on a generator of its own so the seeded action sequence is unchanged
        propose(self.policy, np.zeros((1, len(self.names)), np.float32), deterministic=True, generator=torch.Generator())
        self.pub = topics.publisher(self, topics.PROPOSAL)
        topics.subscribe(self, topics.STATE, self._on_state)
        self.updates = PolicyUpdates(self, p["task"], self.names, bundle.version, p["run_dir"])
        self.get_logger().info(f"{p['task']}: policy version {bundle.version} from {p['bundle'] or 'models/'}, mode {p['mode']}")

    def _external(self, path: str, action_dim: int) -> OnnxPolicy:
        try:
            policy = OnnxPolicy(path, self.names, action_dim)
        except PolicyFileError as exc:
            raise ValueError(f"parameter 'policy': {exc}") from None
        if self.p["mode"] == "train" and not policy.stochastic:
            raise ValueError(f"parameter 'policy': {path} declares no log_std (a deterministic policy): serve it with mode:=eval")
        self.get_logger().info(
            f"external policy {path}: observation {policy.observation_names}, action {policy.action_names}; "
            "the learner's new versions are not applied to it"
        )
        return policy

    def _on_state(self, msg: JointState) -> None:
        weights = self.updates.take()
        if weights is not None and isinstance(self.policy, GaussianPolicy):  # a new version, swapped in between two ticks
            self.policy.load_state_dict(weights)
        elif weights is not None:
            self.get_logger().warn("the learner's new policy version is not applied to the external policy", throttle_duration_sec=60)
        try:
            state = state_array(msg, self.names)
        except validate.InputError as exc:  # garbage from some process on the graph: no proposal
            self.get_logger().error(f"{topics.resolved(self, topics.STATE)} ignored: {exc}", throttle_duration_sec=5.0)
            return
        problem = validate.state_problem(self.spec, state)
        if not problem:
            p = propose(self.policy, state[None], deterministic=self.p["mode"] == "eval", generator=self.gen)
            action, logp = p.actions[0], float(p.logp[0])
        else:  # missing or implausible inputs: no proposal the filter could execute (it says why)
            action, logp = np.full(len(self.spec.action_names), np.nan), float("nan")
            self.get_logger().warn(f"no proposal: {problem}", throttle_duration_sec=5.0)
        values = [action[0], action[1], logp, self.updates.version]
        hops = {**hops_of(msg.name, msg.position), "t.proposed_ms": since_stamp_ms(self, msg.header.stamp)}
        self.pub.publish(named_msg(PROPOSAL_FIELDS, values, self.names, state, msg.header.stamp, self.p["base_frame"], hops=hops))


def main(args=None) -> int:
    return run_node(PolicyServer, args)


if __name__ == "__main__":
    sys.exit(main())

"""Task policies in and out as ONNX files with declared layouts, so any policy can go behind the
FARL filter and ours can run anywhere.

The interface (what ``export_policy`` writes and ``OnnxPolicy`` serves):

- input ``observation.state``: float32 (N, len(observation_names)), the state fields in the order
  the file's ``observation_names`` metadata lists them (any subset / order of the task's layout);
- output ``action_mean``: float32 (N, A), the action in [-1, 1] (columns ``action_names``);
- optional output ``log_std``: float32 (N, A): a Gaussian policy's log standard deviation. Without
  it the policy is deterministic and can only be served in ``mode:=eval``;
- metadata (ONNX ``metadata_props``): ``observation_names`` and ``action_names`` (JSON lists),
  optionally ``task`` and ``policy_version``.

Our export bakes the normaliser and the task's policy features into the graph, so the file needs
nothing but the raw state. ``OnnxPolicy`` answers ``dist(states)`` like ``nets.GaussianPolicy``, so
``decide.propose`` -- the one proposal path of the policy server and the benchmarks -- serves it
unchanged, and the safety filter scores its proposals with the world model's C_H like our own.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from ..learning.nets import GaussianPolicy

INPUT, MEAN, LOG_STD = "observation.state", "action_mean", "log_std"


class PolicyFileError(ValueError):
    """An external policy file that does not follow the interface (names the file and what is wrong)."""


class _Exported(torch.nn.Module):
    def __init__(self, policy: GaussianPolicy):
        super().__init__()
        self.policy = policy

    def forward(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.policy.mean(states), self.policy.log_std.clamp(-5.0, 1.0).expand(states.shape[0], -1)  # as GaussianPolicy.dist


def export_policy(policy: GaussianPolicy, observation_names: list[str], action_names: list[str], extra: dict | None = None) -> bytes:
    """``policy`` (normaliser and features included) as ONNX bytes with the interface's metadata."""
    import onnx

    policy = policy.eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter (no onnxscript needed) is deprecated, not gone
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Exported(policy),
            (torch.zeros(1, len(observation_names)),),
            buf,  # type: ignore[arg-type]  # torch writes to file objects too
            input_names=[INPUT],
            output_names=[MEAN, LOG_STD],
            dynamic_axes={INPUT: {0: "batch"}, MEAN: {0: "batch"}, LOG_STD: {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    model = onnx.load_from_string(buf.getvalue())
    meta = {"observation_names": json.dumps(list(observation_names)), "action_names": json.dumps(list(action_names))}
    meta |= {k: str(v) for k, v in (extra or {}).items()}
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    return model.SerializeToString()


class OnnxPolicy:
    """An external policy file served through onnxruntime, duck-typed as ``GaussianPolicy``
    (``dist``, ``eval``) for ``decide.propose``. ``state_names``: the task's state layout; the
    file's declared observation fields are picked from it by name."""

    def __init__(self, path: str | Path, state_names: list[str], action_dim: int):
        import onnxruntime as ort

        self.path = Path(path)
        try:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = opts.inter_op_num_threads = 1  # one state per tick: threads only cost
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for missing / malformed files
            raise PolicyFileError(f"{self.path}: not a loadable ONNX model ({exc})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        self.observation_names = self._names(meta, "observation_names")
        self.action_names = self._names(meta, "action_names")
        missing = [n for n in self.observation_names if n not in state_names]
        if missing:
            raise PolicyFileError(f"{self.path}: observation_names {missing} are not fields of the task's state {list(state_names)}")
        if len(self.action_names) != action_dim:
            raise PolicyFileError(f"{self.path}: {len(self.action_names)} action_names, the task's action has {action_dim}")
        inputs = {i.name for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        if INPUT not in inputs or MEAN not in outputs:
            raise PolicyFileError(f"{self.path}: needs input {INPUT!r} and output {MEAN!r}; has inputs {sorted(inputs)}, outputs {outputs}")
        self.stochastic = LOG_STD in outputs
        self.outputs = [MEAN, LOG_STD] if self.stochastic else [MEAN]
        self.columns = np.array([state_names.index(n) for n in self.observation_names])
        self.version = int(meta.get("policy_version", 0) or 0)

    def _names(self, meta: dict, key: str) -> list[str]:
        try:
            names = json.loads(meta[key])
        except (KeyError, ValueError):
            raise PolicyFileError(f"{self.path}: metadata {key!r} missing or not a JSON list") from None
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise PolicyFileError(f"{self.path}: metadata {key!r} must be a non-empty list of names")
        return names

    def eval(self) -> OnnxPolicy:
        return self

    def dist(self, states: torch.Tensor) -> torch.distributions.Normal:
        x = np.ascontiguousarray(np.asarray(states, np.float32)[:, self.columns])
        out = self.session.run(self.outputs, {INPUT: x})
        mean = torch.as_tensor(np.asarray(out[0], np.float32))
        if mean.shape != (x.shape[0], len(self.action_names)):
            raise PolicyFileError(f"{self.path}: {MEAN} has shape {tuple(mean.shape)}, expected ({x.shape[0]}, {len(self.action_names)})")
        std = torch.exp(torch.as_tensor(np.asarray(out[1], np.float32))) if self.stochastic else torch.full_like(mean, 1e-6)
        return torch.distributions.Normal(mean, std)

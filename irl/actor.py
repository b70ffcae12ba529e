"""The pickle-free SAC actor file format: architecture JSON plus safetensors weights.

A saved actor is two files next to each other: ``<stem>.json`` (an `ActorSpec`: architecture,
action bounds, provenance) and ``<stem>.safetensors`` (float32 weights of a
`SquashedGaussianActor`). `load_expert` treats both as untrusted input: the JSON is checked key by
key against size limits, and the weight file's header (tensor names, dtypes and shapes) is checked
against the spec before any network or weight tensor is built, so a hostile file cannot make the
loader allocate gigabytes or run code. Every problem is reported as one `ActorFileError`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0  # SB3's clamp for SAC's actor
ACTOR_FORMAT_VERSION = 1
MAX_JSON_BYTES = 1 << 20  # an actor spec is a few kB; refuse anything over 1 MiB
MAX_DIM = 1 << 16  # observation / action dimensions
MAX_HIDDEN = 1 << 14  # units per hidden layer
MAX_LAYERS = 16  # hidden layers
MAX_PARAMS = 50_000_000  # total parameters (200 MB of float32)

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}
_REQUIRED = ("obs_dim", "act_dim", "hidden_sizes", "action_low", "action_high", "format_version")
_OPTIONAL = ("activation", "info")


class ActorFileError(ValueError):
    """An actor file pair is missing, malformed, hostile or does not match its spec."""


@dataclass(frozen=True)
class ActorSpec:
    """Architecture and action bounds of a saved SAC actor (stored as JSON)."""

    obs_dim: int
    act_dim: int
    hidden_sizes: list[int]
    action_low: list[float]
    action_high: list[float]
    activation: str = "relu"
    format_version: int = ACTOR_FORMAT_VERSION
    info: dict[str, Any] = field(default_factory=dict)


def expected_shapes(spec: ActorSpec) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor of ``SquashedGaussianActor(spec)``'s state dict."""
    shapes: dict[str, tuple[int, ...]] = {}
    last = spec.obs_dim
    for i, h in enumerate(spec.hidden_sizes):
        # latent_pi is Sequential(Linear, act, Linear, act, ...): Linear i sits at index 2 i.
        shapes[f"latent_pi.{2 * i}.weight"] = (h, last)
        shapes[f"latent_pi.{2 * i}.bias"] = (h,)
        last = h
    for head in ("mu", "log_std"):
        shapes[f"{head}.weight"] = (spec.act_dim, last)
        shapes[f"{head}.bias"] = (spec.act_dim,)
    return shapes


class SquashedGaussianActor(nn.Module):
    """SAC's actor: MLP -> (mean, log std) of a Gaussian squashed by tanh to [-1, 1]."""

    def __init__(self, spec: ActorSpec) -> None:
        super().__init__()
        act = _ACTIVATIONS[spec.activation]
        layers: list[nn.Module] = []
        last = spec.obs_dim
        for h in spec.hidden_sizes:
            layers += [nn.Linear(last, h), act()]
            last = h
        self.latent_pi = nn.Sequential(*layers)
        self.mu = nn.Linear(last, spec.act_dim)
        self.log_std = nn.Linear(last, spec.act_dim)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, obs_dim)`` -> pre-tanh mean and clamped log std, each ``(B, act_dim)``."""
        z = self.latent_pi(obs)
        return self.mu(z), self.log_std(z).clamp(LOG_STD_MIN, LOG_STD_MAX)


def build_actor(spec: ActorSpec, state: Mapping[str, torch.Tensor]) -> SquashedGaussianActor:
    """The actor of ``spec`` holding ``state`` (checked strictly: names and shapes).

    The network is built on the meta device and takes ``state``'s tensors as its parameters,
    so building allocates no memory of its own and draws nothing from torch's global RNG.

    Raises:
        RuntimeError: ``state`` does not match ``spec`` (missing, extra or misshapen tensors).
    """
    with torch.device("meta"):
        actor = SquashedGaussianActor(spec)
    actor.load_state_dict(dict(state), strict=True, assign=True)
    return actor


class ExpertPolicy:
    """A loaded actor that maps numpy observations to actions in the env's action bounds."""

    def __init__(self, actor: SquashedGaussianActor, spec: ActorSpec) -> None:
        self.actor = actor.eval()
        self.spec = spec
        self.low = np.asarray(spec.action_low, dtype=np.float32)
        self.high = np.asarray(spec.action_high, dtype=np.float32)

    @torch.no_grad()
    def __call__(
        self,
        obs: np.ndarray,
        deterministic: bool = True,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Action(s) for ``obs`` (``(obs_dim,)`` or ``(B, obs_dim)``), float32, within bounds."""
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32))
        mean, log_std = self.actor(x.reshape(-1, self.spec.obs_dim))
        if deterministic:
            pre = mean.numpy()
        else:
            if rng is None:
                raise ValueError("stochastic actions need an explicit rng")
            noise = rng.standard_normal(mean.shape).astype(np.float32)
            pre = mean.numpy() + np.exp(log_std.numpy()) * noise
        squashed = np.tanh(pre)
        action = self.low + 0.5 * (squashed + 1.0) * (self.high - self.low)
        action = np.clip(action, self.low, self.high).astype(np.float32)
        return action.reshape((*np.shape(obs)[:-1], self.spec.act_dim))


# --------------------------------------------------------------------------------------------
# From SB3 and to disk


def actor_paths(stem: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The ``(.safetensors, .json)`` pair for an actor file stem."""
    stem = Path(stem)
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def spec_from_sac(model: Any, info: Mapping[str, Any] | None = None) -> ActorSpec:
    """Architecture of an SB3 SAC model's actor."""
    actor = model.actor
    hidden = [m.out_features for m in actor.latent_pi if isinstance(m, nn.Linear)]
    acts = {type(m) for m in actor.latent_pi if not isinstance(m, nn.Linear)}
    names = {cls: name for name, cls in _ACTIVATIONS.items()}
    if len(acts) > 1 or (acts and next(iter(acts)) not in names):
        raise ValueError(f"unsupported actor activation(s): {acts}")
    if getattr(actor, "use_sde", False):
        raise ValueError("gSDE actors are not supported")
    space = model.action_space
    return ActorSpec(
        obs_dim=int(np.prod(model.observation_space.shape)),
        act_dim=int(np.prod(space.shape)),
        hidden_sizes=hidden,
        action_low=[float(v) for v in space.low],
        action_high=[float(v) for v in space.high],
        activation=names[next(iter(acts))] if acts else "relu",
        info=dict(info or {}),
    )


def policy_from_sac(model: Any, info: Mapping[str, Any] | None = None) -> ExpertPolicy:
    """A detached copy of an SB3 SAC model's current actor as an `ExpertPolicy`.

    Raises:
        ValueError: the actor is not a plain MLP SAC actor (see `spec_from_sac`).
        RuntimeError: its weights do not fit the architecture read from it.
    """
    spec = spec_from_sac(model, info)
    state = {
        k: v.detach().cpu().float().clone()
        for k, v in model.actor.state_dict().items()
        if not k.startswith("features")
    }
    return ExpertPolicy(build_actor(spec, state), spec)


def save_actor(
    model: Any, stem: str | os.PathLike[str], info: Mapping[str, Any] | None = None
) -> ActorSpec:
    """Save an SB3 SAC actor as safetensors weights plus a JSON architecture file."""
    policy = policy_from_sac(model, info)
    weights, meta = actor_paths(stem)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.contiguous() for k, v in policy.actor.state_dict().items()}
    tmp_w, tmp_m = weights.with_name(weights.name + ".tmp"), meta.with_name(meta.name + ".tmp")
    save_file(tensors, str(tmp_w), metadata={"format": "irl-sac-actor"})
    tmp_m.write_text(json.dumps(asdict(policy.spec), indent=1, sort_keys=True) + "\n")
    os.replace(tmp_w, weights)
    os.replace(tmp_m, meta)
    return policy.spec


# --------------------------------------------------------------------------------------------
# Loading untrusted actor files


def _size(path: Path, name: str, value: Any, limit: int) -> int:
    if type(value) is not int or not 0 < value <= limit:
        raise ActorFileError(f"{path}: {name} must be a positive integer <= {limit}, got {value!r}")
    return value


def _bounds(path: Path, name: str, value: Any, dim: int) -> list[float]:
    ok = isinstance(value, list) and len(value) == dim
    ok = ok and all(type(v) in (int, float) and math.isfinite(v) for v in value)
    if not ok:
        raise ActorFileError(f"{path}: {name} must be a list of {dim} finite numbers")
    return [float(v) for v in value]


def parse_spec(path: Path, raw: Any) -> ActorSpec:
    """Validate a decoded actor JSON document and return its `ActorSpec`.

    Raises:
        ActorFileError: not an object, unknown or missing keys, an unsupported format version or
            activation, a size out of its limit, bad action bounds or too many parameters.
    """
    if not isinstance(raw, dict):
        raise ActorFileError(f"{path}: an actor spec must be a JSON object")
    unknown = sorted(set(raw) - set(_REQUIRED) - set(_OPTIONAL))
    missing = [k for k in _REQUIRED if k not in raw]
    if unknown or missing:
        raise ActorFileError(f"{path}: unknown keys {unknown}, missing keys {missing}")
    if type(raw["format_version"]) is not int or raw["format_version"] != ACTOR_FORMAT_VERSION:
        raise ActorFileError(f"{path}: unsupported actor format {raw['format_version']!r}")
    activation = raw.get("activation", "relu")
    if not isinstance(activation, str) or activation not in _ACTIVATIONS:
        raise ActorFileError(f"{path}: activation must be one of {sorted(_ACTIVATIONS)}")
    hidden = raw["hidden_sizes"]
    if not isinstance(hidden, list) or len(hidden) > MAX_LAYERS:
        raise ActorFileError(f"{path}: hidden_sizes must be a list of at most {MAX_LAYERS} sizes")
    info = raw.get("info", {})
    if not isinstance(info, dict):
        raise ActorFileError(f"{path}: info must be a JSON object")
    act_dim = _size(path, "act_dim", raw["act_dim"], MAX_DIM)
    spec = ActorSpec(
        obs_dim=_size(path, "obs_dim", raw["obs_dim"], MAX_DIM),
        act_dim=act_dim,
        hidden_sizes=[
            _size(path, f"hidden_sizes[{i}]", h, MAX_HIDDEN) for i, h in enumerate(hidden)
        ],
        action_low=_bounds(path, "action_low", raw["action_low"], act_dim),
        action_high=_bounds(path, "action_high", raw["action_high"], act_dim),
        activation=activation,
        info=info,
    )
    if not all(lo < hi for lo, hi in zip(spec.action_low, spec.action_high, strict=True)):
        raise ActorFileError(f"{path}: action_low must be below action_high")
    n_params = sum(math.prod(s) for s in expected_shapes(spec).values())
    if n_params > MAX_PARAMS:
        raise ActorFileError(f"{path}: {n_params} parameters exceed the limit of {MAX_PARAMS}")
    return spec


def _read_spec(meta: Path) -> ActorSpec:
    try:
        if meta.stat().st_size > MAX_JSON_BYTES:
            raise ActorFileError(f"{meta}: larger than {MAX_JSON_BYTES} bytes")
        raw = json.loads(meta.read_bytes().decode("utf-8"))
    except FileNotFoundError as e:
        raise ActorFileError(f"{meta}: actor spec file not found") from e
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ActorFileError(f"{meta}: not valid UTF-8 JSON ({e})") from e
    except RecursionError as e:
        raise ActorFileError(f"{meta}: JSON nested too deeply") from e
    return parse_spec(meta, raw)


def _check_weight_header(weights: Path, spec: ActorSpec) -> None:
    """Compare the safetensors header (names, dtypes, shapes) with ``spec``; reads no weights."""
    expected = expected_shapes(spec)
    try:
        with safe_open(str(weights), framework="pt") as f:
            found = {
                k: (f.get_slice(k).get_dtype(), tuple(f.get_slice(k).get_shape())) for k in f.keys()
            }
    except FileNotFoundError as e:
        raise ActorFileError(f"{weights}: actor weight file not found") from e
    except (SafetensorError, OSError, ValueError) as e:
        raise ActorFileError(f"{weights}: not a readable safetensors file ({e})") from e
    if set(found) != set(expected):
        raise ActorFileError(
            f"{weights}: tensors {sorted(found)} do not match the spec's {sorted(expected)}"
        )
    for name, shape in expected.items():
        dtype, got = found[name]
        if dtype != "F32" or got != shape:
            raise ActorFileError(
                f"{weights}: tensor {name} is {dtype} {list(got)}, the spec needs F32 {list(shape)}"
            )


def load_expert(stem: str | os.PathLike[str]) -> ExpertPolicy:
    """Load an actor saved by `save_actor` (JSON + safetensors, no pickle).

    The spec and the weight file's header are validated before anything is built.

    Raises:
        ActorFileError: a file is missing or malformed, exceeds a limit, or the two do not match.
    """
    weights, meta = actor_paths(stem)
    spec = _read_spec(meta)
    _check_weight_header(weights, spec)
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise ActorFileError(f"{weights}: cannot read the weights ({e})") from e
    if not all(bool(torch.isfinite(t).all()) for t in state.values()):
        raise ActorFileError(f"{weights}: weights contain non-finite values")
    return ExpertPolicy(build_actor(spec, state), spec)

"""Actor files: round trip with SB3, and hostile JSON / safetensors files fail before any build."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import irl.actor
from irl.actor import (
    ActorFileError,
    ActorSpec,
    SquashedGaussianActor,
    actor_paths,
    expected_shapes,
    load_expert,
    save_actor,
)
from irl_envs import make_env


@pytest.fixture(scope="module")
def tiny_sac() -> Any:
    from stable_baselines3 import SAC

    model = SAC(
        "MlpPolicy",
        make_env("Pendulum-v1"),
        seed=0,
        device="cpu",
        policy_kwargs={"net_arch": [32, 32]},
    )
    return model  # untrained: its random weights are enough for a round trip


def _write_actor(stem: Path, spec: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    weights, meta = actor_paths(stem)
    save_file(tensors, str(weights))
    meta.write_text(json.dumps(spec))


def _good(stem: Path, hidden: tuple[int, ...] = (8, 8)) -> dict[str, Any]:
    """Write a valid 3 -> hidden -> 1 actor at ``stem``; returns its JSON spec."""
    spec = ActorSpec(3, 1, list(hidden), [-2.0], [2.0])
    state = {k: torch.full(s, 0.01) for k, s in expected_shapes(spec).items()}
    _write_actor(stem, asdict(spec), state)
    return asdict(spec)


def test_actor_round_trip_matches_sb3(tiny_sac: Any, tmp_path: Path) -> None:
    spec = save_actor(tiny_sac, tmp_path / "actor", {"note": "test"})
    weights, meta = actor_paths(tmp_path / "actor")
    assert weights.read_bytes()[:8] != b"PK\x03\x04"  # not a (pickle) zip
    assert json.loads(meta.read_text())["hidden_sizes"] == [32, 32] == spec.hidden_sizes
    policy = load_expert(tmp_path / "actor")
    obs = np.random.default_rng(0).uniform(-1, 1, (64, 3)).astype(np.float32)
    ours = policy(obs)
    sb3, _ = tiny_sac.predict(obs, deterministic=True)
    np.testing.assert_allclose(ours, sb3, atol=1e-5)
    assert policy(obs[0]).shape == (1,)
    noisy = policy(obs, deterministic=False, rng=np.random.default_rng(1))
    assert np.all(np.abs(noisy) <= 2.0) and not np.allclose(noisy, ours)
    with pytest.raises(ValueError, match="rng"):
        policy(obs, deterministic=False)


def test_loading_draws_nothing_from_torch_rng(tmp_path: Path) -> None:
    _good(tmp_path / "a")
    before = torch.get_rng_state()
    load_expert(tmp_path / "a")
    assert torch.equal(before, torch.get_rng_state())


def test_load_expert_rejects_unknown_format(tiny_sac: Any, tmp_path: Path) -> None:
    save_actor(tiny_sac, tmp_path / "actor")
    meta = actor_paths(tmp_path / "actor")[1]
    raw = json.loads(meta.read_text())
    raw["format_version"] = 99
    meta.write_text(json.dumps(raw))
    with pytest.raises(ActorFileError, match="unsupported actor format"):
        load_expert(tmp_path / "actor")
    assert issubclass(ActorFileError, ValueError)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"evil": 1}, "unknown keys"),
        ({"obs_dim": None}, "obs_dim"),
        ({"obs_dim": 0}, "obs_dim"),
        ({"obs_dim": -3}, "obs_dim"),
        ({"obs_dim": 3.0}, "obs_dim"),
        ({"obs_dim": True}, "obs_dim"),
        ({"obs_dim": "3"}, "obs_dim"),
        ({"act_dim": 10**9}, "act_dim"),
        ({"hidden_sizes": [20000, 20000]}, r"hidden_sizes\[0\]"),
        ({"hidden_sizes": [8000, 8000]}, "parameters exceed"),
        ({"hidden_sizes": [8] * 100}, "at most"),
        ({"hidden_sizes": "8,8"}, "hidden_sizes"),
        ({"activation": "__import__('os').system"}, "activation"),
        ({"action_low": [-2.0, -2.0]}, "action_low"),
        ({"action_high": ["2"]}, "action_high"),
        ({"action_high": [-3.0]}, "below"),
        ({"info": [1, 2]}, "info"),
        ({"format_version": True}, "unsupported actor format"),
    ],
)
def test_hostile_spec_is_rejected_before_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, Any], message: str
) -> None:
    raw = _good(tmp_path / "a")
    actor_paths(tmp_path / "a")[1].write_text(json.dumps({**raw, **change}))

    def no_build(*_: Any) -> None:
        raise AssertionError("the network was built from an unchecked spec")

    monkeypatch.setattr(SquashedGaussianActor, "__init__", no_build)
    with pytest.raises(ActorFileError, match=message) as err:
        load_expert(tmp_path / "a")
    assert str(actor_paths(tmp_path / "a")[1]) in str(err.value)


def test_missing_key_and_missing_files(tmp_path: Path) -> None:
    raw = _good(tmp_path / "a")
    del raw["hidden_sizes"]
    meta = actor_paths(tmp_path / "a")[1]
    meta.write_text(json.dumps(raw))
    with pytest.raises(ActorFileError, match=r"missing keys \['hidden_sizes'\]"):
        load_expert(tmp_path / "a")
    with pytest.raises(ActorFileError, match="not found"):
        load_expert(tmp_path / "nothing")
    _good(tmp_path / "b")
    actor_paths(tmp_path / "b")[0].unlink()
    with pytest.raises(ActorFileError, match="weight file not found"):
        load_expert(tmp_path / "b")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"info": ' * 50_000 + "{}" + "}" * 50_000, "nested too deeply"),
        ("[1, 2]", "JSON object"),
        ('"actor"', "JSON object"),
        ("null", "JSON object"),
        ("{obs_dim: 3}", "not valid UTF-8 JSON"),
        (" " * (2 << 20), "larger than"),
    ],
)
def test_malformed_json_is_rejected(tmp_path: Path, text: str, message: str) -> None:
    _good(tmp_path / "a")
    meta = actor_paths(tmp_path / "a")[1]
    meta.write_text(text)
    with pytest.raises(ActorFileError, match=message) as err:
        load_expert(tmp_path / "a")
    assert str(meta) in str(err.value)


def test_invalid_utf8_is_rejected(tmp_path: Path) -> None:
    _good(tmp_path / "a")
    actor_paths(tmp_path / "a")[1].write_bytes(b'{"obs_dim": "\xff"}')
    with pytest.raises(ActorFileError, match="UTF-8"):
        load_expert(tmp_path / "a")


def test_weight_shapes_must_match_the_spec_before_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small spec over a file whose header declares other (or extra) tensors fails on the
    header alone: the weights are never read."""
    raw = _good(tmp_path / "big", hidden=(64, 64))
    actor_paths(tmp_path / "a")[0].write_bytes(actor_paths(tmp_path / "big")[0].read_bytes())
    actor_paths(tmp_path / "a")[1].write_text(json.dumps({**raw, "hidden_sizes": [8, 8]}))

    def no_read(*_: Any) -> None:
        raise AssertionError("weights were read before the header was checked")

    monkeypatch.setattr(irl.actor, "load_file", no_read)
    with pytest.raises(ActorFileError, match=r"latent_pi.0.weight is F32 \[64, 3\]") as err:
        load_expert(tmp_path / "a")
    assert str(actor_paths(tmp_path / "a")[0]) in str(err.value)

    spec = ActorSpec(3, 1, [8, 8], [-2.0], [2.0])
    state = {k: torch.zeros(s) for k, s in expected_shapes(spec).items()}
    _write_actor(tmp_path / "c", raw | {"hidden_sizes": [8, 8]}, {**state, "x": torch.zeros(1)})
    with pytest.raises(ActorFileError, match="do not match"):
        load_expert(tmp_path / "c")
    state64 = {k: v.double() for k, v in state.items()}
    _write_actor(tmp_path / "d", raw | {"hidden_sizes": [8, 8]}, state64)
    with pytest.raises(ActorFileError, match="F64"):
        load_expert(tmp_path / "d")


def test_corrupt_and_non_finite_weights_are_rejected(tmp_path: Path) -> None:
    _good(tmp_path / "a")
    weights = actor_paths(tmp_path / "a")[0]
    weights.write_bytes((2**62).to_bytes(8, "little") + b"{}")  # header size beyond the file
    with pytest.raises(ActorFileError, match="safetensors") as err:
        load_expert(tmp_path / "a")
    assert str(weights) in str(err.value)
    spec = ActorSpec(3, 1, [8], [-2.0], [2.0])
    state = {k: torch.zeros(s) for k, s in expected_shapes(spec).items()}
    state["mu.bias"][0] = float("nan")
    _write_actor(tmp_path / "b", asdict(spec), state)
    with pytest.raises(ActorFileError, match="non-finite"):
        load_expert(tmp_path / "b")

"""Experts: shipped demos meet their targets, actors load without pickle, training resumes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from envs import env_kwargs, make_env
from irl.cli import expert as expert_cli
from irl.cli import record as record_cli
from irl.demos import load_demos, load_demos_with_metadata, load_metadata, normalized_return
from irl.experts import (
    actor_paths,
    evaluate,
    load_expert,
    record_demos,
    save_actor,
    train_sac,
)
from irl.types import returns

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "irl" / "conf"
DEMOS = ROOT / "demos"
ENV_CONFIGS = sorted(p.stem for p in (CONF / "env").glob("*.yaml"))
# Episodes re-run per shipped expert: enough to be meaningful, few enough to stay fast. Ant-v5's
# expert is bimodal (42 of its 50 shipped episodes return 3135-3746, 8 end between 22 and 2426),
# so a 2-episode mean is not a fair sample of its shipped mean: 10 episodes (about 10 s).
REEVAL_EPISODES = {"Pendulum-v1": 10, "InvertedPendulum-v5": 3, "Ant-v5": 10}
MAX_DEMO_BYTES = 8 * 2**20


def _env_cfg(name: str) -> DictConfig:
    cfg = OmegaConf.load(CONF / "env" / f"{name}.yaml")
    assert isinstance(cfg, DictConfig)
    return cfg


def _compose(config: str, overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=config, overrides=overrides)


def test_env_group_lists_the_six_tasks() -> None:
    ids = {_env_cfg(n).id for n in ENV_CONFIGS}
    assert ids == {
        "HalfCheetah-v5",
        "Hopper-v5",
        "Walker2d-v5",
        "Ant-v5",
        "InvertedPendulum-v5",
        "Pendulum-v1",
    }


@pytest.mark.parametrize("name", ENV_CONFIGS)
def test_configs_compose_and_make_env(name: str) -> None:
    for config in ("expert", "record"):
        cfg = _compose(config, [f"env={name}"])
        assert cfg.env.id == _env_cfg(name).id
    cfg = _compose("expert", [f"env={name}"])
    assert cfg.total_steps > 0 and cfg.n_trajectories >= 50
    kwargs = OmegaConf.to_container(cfg.env.kwargs)
    assert isinstance(kwargs, dict)
    env = make_env(
        cfg.env.id,
        max_episode_steps=cfg.env.max_episode_steps,
        **{str(k): v for k, v in kwargs.items()},
    )
    assert env.observation_space.shape is not None
    if cfg.env.id == "Ant-v5":
        assert env.observation_space.shape == (27,)  # no contact forces
    env.close()


def test_make_env_applies_ant_default_and_allows_override() -> None:
    assert env_kwargs("Ant-v5") == {"include_cfrc_ext_in_observation": False}
    assert env_kwargs("Hopper-v5") == {}
    env = make_env("Ant-v5", include_cfrc_ext_in_observation=True)
    assert env.observation_space.shape == (105,)
    env.close()


# ----------------------------------------------------------------------------- shipped demos


# Tasks whose demos are shipped: the per-task tests run over these only (no skipped tests).
# Train the rest with `irl-expert env=<name>`; the guard below stops the set silently shrinking.
SHIPPED = [n for n in ENV_CONFIGS if (DEMOS / f"{_env_cfg(n).id}.npz").exists()]


def test_shipped_set_has_not_shrunk() -> None:
    assert {"pendulum", "inverted_pendulum", "hopper", "halfcheetah", "walker2d", "ant"} <= set(
        SHIPPED
    )


def _shipped(name: str) -> tuple[DictConfig, Path]:
    cfg = _env_cfg(name)
    return cfg, DEMOS / f"{cfg.id}.npz"


# Shipped experts known to miss their target (env config name -> why). The xfail is strict: once
# a retrained expert meets the target the test fails until its entry is removed here.
BELOW_TARGET: dict[str, str] = {}


def _target_params() -> list[Any]:
    return [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=BELOW_TARGET[n]))
        if n in BELOW_TARGET
        else n
        for n in SHIPPED
    ]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_demos_load_and_validate(name: str) -> None:
    cfg, path = _shipped(name)
    trajs, meta = load_demos_with_metadata(path, env_id=cfg.id)
    assert path.stat().st_size < MAX_DEMO_BYTES
    assert len(trajs) == meta["n_trajectories"] >= 50
    assert meta["env_kwargs"] == env_kwargs(cfg.id, **cfg.kwargs)
    assert returns(trajs).mean() == pytest.approx(meta["expert_return_mean"])
    assert meta["random_return_mean"] < meta["expert_return_mean"]
    for key in ("gymnasium_version", "mujoco_version", "command", "seed"):
        assert meta[key] not in (None, "")


@pytest.mark.parametrize("name", _target_params())
def test_shipped_demos_meet_target(name: str) -> None:
    cfg, path = _shipped(name)
    rets = returns(load_demos(path))
    if cfg.id == "InvertedPendulum-v5":
        assert np.all(rets == 1000.0)
    else:
        assert rets.mean() >= cfg.expert.target_return


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_expert_reproduces_recorded_return(name: str) -> None:
    """Re-run the expert on the first episodes' seeds; returns must be within 10 %."""
    cfg, path = _shipped(name)
    trajs, meta = load_demos_with_metadata(path, env_id=cfg.id)
    stem = DEMOS / f"{cfg.id}.actor"
    policy = load_expert(stem)
    n = REEVAL_EPISODES.get(cfg.id, 2)
    rets = evaluate(cfg.id, policy, n, seed=meta["seed"], kwargs=meta["env_kwargs"])
    recorded = returns(trajs[:n])
    assert abs(rets.mean() - recorded.mean()) <= 0.1 * abs(recorded.mean())
    # And the expert is still an expert relative to the whole shipped set.
    assert abs(rets.mean() - meta["expert_return_mean"]) <= 0.1 * abs(
        meta["expert_return_mean"] - meta["random_return_mean"]
    )
    assert normalized_return(float(rets.mean()), meta) >= 0.9


# ----------------------------------------------------------------------------- actors


@pytest.fixture(scope="module")
def tiny_sac() -> Any:
    from stable_baselines3 import SAC

    model = SAC(
        "MlpPolicy",
        make_env("Pendulum-v1"),
        seed=0,
        device="cpu",
        learning_starts=50,
        policy_kwargs={"net_arch": [32, 32]},
    )
    model.learn(100)
    return model


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


def test_load_expert_rejects_unknown_format(tiny_sac: Any, tmp_path: Path) -> None:
    save_actor(tiny_sac, tmp_path / "actor")
    meta = actor_paths(tmp_path / "actor")[1]
    raw = json.loads(meta.read_text())
    raw["format_version"] = 99
    meta.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="unsupported actor format"):
        load_expert(tmp_path / "actor")


def test_record_demos_is_seeded(tiny_sac: Any, tmp_path: Path) -> None:
    save_actor(tiny_sac, tmp_path / "actor")
    kwargs: dict[str, Any] = {
        "expert_stem": tmp_path / "actor",
        "env_id": "Pendulum-v1",
        "n_trajectories": 2,
        "seed": 3,
        "command": "test",
        "max_episode_steps": 30,
        "random_episodes": 2,
    }
    record_demos(out_path=tmp_path / "a.npz", **kwargs)
    record_demos(out_path=tmp_path / "b.npz", **kwargs)
    a, b = load_demos(tmp_path / "a.npz"), load_demos(tmp_path / "b.npz", env_id="Pendulum-v1")
    assert all(
        np.array_equal(x.obs, y.obs) and np.array_equal(x.acts, y.acts)
        for x, y in zip(a, b, strict=True)
    )
    meta = load_metadata(tmp_path / "a.npz")
    assert meta["random_episodes"] == 2 and meta["seed"] == 3 and len(a[0]) == 30


# ----------------------------------------------------------------------------- training


def _tiny_run(tmp_path: Path) -> dict[str, Any]:
    """train_sac settings of a seconds-long Pendulum run (evaluation, checkpoint every 100)."""
    return {
        "env_id": "Pendulum-v1",
        "run_dir": tmp_path / "run",
        "seed": 0,
        "sac_kwargs": {"learning_starts": 50, "policy_kwargs": {"net_arch": [16, 16]}},
        "eval_every": 100,
        "checkpoint_every": 100,
        "max_episode_steps": 50,
    }


def test_train_resumes_from_checkpoint(tmp_path: Path) -> None:
    common = {**_tiny_run(tmp_path), "eval_episodes": 1}
    first = train_sac(total_steps=200, command="first", **common)
    assert first["steps"] == 200 and len(first["evals"]) == 2
    assert (tmp_path / "run" / "checkpoint.zip").exists()
    second = train_sac(total_steps=300, command="second", **common)
    assert second["steps"] == 300
    assert second["commands"] == ["first", "second"]
    assert [e["step"] for e in second["evals"]] == [100, 200, 300]
    assert second["wall_clock_s"] > first["wall_clock_s"]
    assert load_expert(tmp_path / "run" / "best_actor").spec.hidden_sizes == [16, 16]


def test_resume_with_more_eval_episodes_reselects_the_best_actor(tmp_path: Path) -> None:
    """A best return measured on fewer episodes is not the bar for a resumed run's evaluations:
    its first evaluation becomes the best, whatever its return."""
    common = _tiny_run(tmp_path)
    first = train_sac(total_steps=100, eval_episodes=1, **common)
    assert first["best_eval_episodes"] == 1 and first["best_eval_step"] == 100
    # An unbeatable 1-episode best: without the episode check, no later evaluation replaces it.
    progress = tmp_path / "run" / "progress.json"
    progress.write_text(json.dumps({**json.loads(progress.read_text()), "best_eval_return": 1e9}))
    second = train_sac(total_steps=200, eval_episodes=2, **common)
    assert second["best_eval_step"] == 200 and second["best_eval_episodes"] == 2
    assert second["best_eval_return"] == second["evals"][-1]["return_mean"] < 0
    assert [e["episodes"] for e in second["evals"]] == [1, 2]
    spec = json.loads((tmp_path / "run" / "best_actor.json").read_text())
    assert spec["info"]["training"]["steps_trained"] == 200


def test_train_stops_at_wall_clock_and_rerun_trains_no_further(tmp_path: Path) -> None:
    settings: dict[str, Any] = {
        "env_id": "Pendulum-v1",
        "run_dir": tmp_path / "run",
        "total_steps": 100_000,
        "seed": 0,
        "sac_kwargs": {"learning_starts": 10_000},
        "max_wall_clock_s": 0.5,
        "checkpoint_every": 10**9,
    }
    record = train_sac(**settings)
    assert record["stop_reason"] == "max_wall_clock_s reached"
    assert 0 < record["steps"] < 100_000
    again = train_sac(**settings)  # same limit: the finished run is not extended
    assert again["steps"] == record["steps"]
    assert again["stop_reason"] == "max_wall_clock_s reached"


def test_cli_expert_then_record(tmp_path: Path) -> None:
    overrides = [
        "env=pendulum",
        f"run_dir={tmp_path / 'run'}",
        f"demos_dir={tmp_path / 'demos'}",
        "total_steps=150",
        "eval_every=100",
        "eval_episodes=1",
        "n_trajectories=2",
        "random_episodes=2",
        "env.max_episode_steps=40",
        "env.expert.sac.learning_starts=50",
        "+env.expert.sac.policy_kwargs.net_arch=[16,16]",
    ]
    expert_cli.run(_compose("expert", overrides))
    path = tmp_path / "demos" / "Pendulum-v1.npz"
    meta = load_metadata(path)
    assert meta["training"]["steps_trained"] in (100, 150)
    assert "Pendulum-v1" in (tmp_path / "demos" / "README.md").read_text()
    record_cli.run(
        _compose(
            "record",
            [
                "env=pendulum",
                f"expert={tmp_path / 'demos' / 'Pendulum-v1.actor'}",
                f"out={tmp_path / 'again.npz'}",
                "n_trajectories=2",
                "random_episodes=2",
                "env.max_episode_steps=40",
                "update_readme=false",
            ],
        )
    )
    again = load_demos(tmp_path / "again.npz", env_id="Pendulum-v1")
    first = load_demos(path)
    assert all(np.array_equal(a.acts, b.acts) for a, b in zip(first, again, strict=True))

"""Experts: shipped demos meet their targets, actors load without pickle, training resumes."""

from __future__ import annotations

import base64
import json
import os
import pickle
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf
from safetensors.torch import load_file, save_file

import irl.expert_checkpoint
import irl.experts
from irl.actor import ActorSpec, actor_paths, load_expert
from irl.cli import expert as expert_cli
from irl.cli import record as record_cli
from irl.demos import load_demos, load_demos_with_metadata, load_metadata, normalized_return
from irl.env_snapshot import env_snapshot, restore_env
from irl.expert_checkpoint import (
    STATE_FILE,
    CheckpointError,
    find_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from irl.experts import train_sac
from irl.rollouts import evaluate, record_demos
from irl.types import returns
from irl_envs import env_kwargs, make_env

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "irl" / "conf"
DEMOS = ROOT / "demos"
ENV_CONFIGS = sorted(p.stem for p in (CONF / "env").glob("*.yaml"))
# Episodes re-run per shipped expert: enough to be meaningful, few enough to stay fast. Ant-v5's
# expert is bimodal (42 of its 50 shipped episodes return 3135-3746, 8 end between 22 and 2426),
# so a 2-episode mean is not a fair sample of its shipped mean: 10 episodes (about 10 s).
REEVAL_EPISODES = {"Pendulum-v1": 10, "InvertedPendulum-v5": 3, "Ant-v5": 10}
# Small enough to commit: the largest, Humanoid-v5's (45-dim observations, 48k steps in float32),
# is about 11 MB compressed.
MAX_DEMO_BYTES = 16 * 2**20


def _env_cfg(name: str) -> DictConfig:
    cfg = OmegaConf.load(CONF / "env" / f"{name}.yaml")
    assert isinstance(cfg, DictConfig)
    return cfg


def _compose(config: str, overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=config, overrides=overrides)


def test_env_group_lists_the_nine_tasks() -> None:
    ids = {_env_cfg(n).id for n in ENV_CONFIGS}
    assert ids == {
        "irl/PointMazeLeft-v0",
        "irl/PointMazeRight-v0",
        "Humanoid-v5",
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


def _pd_actor(stem: Path) -> None:
    """Write an actor file pair of a saturated PD controller for Pendulum-v1.

    ``action = 2 tanh(-5 sin(theta) - theta_dot)`` as a one-hidden-layer ReLU actor: it beats
    random actions on the seeds below (records must, see `irl.demos`), an untrained SAC need not.
    """
    spec = ActorSpec(3, 1, [2], [-2.0], [2.0], info={"training": {"note": "hand-made"}})
    gain = torch.tensor([[0.0, -5.0, -1.0]])
    state = {
        "latent_pi.0.weight": torch.cat([gain, -gain]),
        "latent_pi.0.bias": torch.zeros(2),
        "mu.weight": torch.tensor([[1.0, -1.0]]),
        "mu.bias": torch.zeros(1),
        "log_std.weight": torch.zeros(1, 2),
        "log_std.bias": torch.zeros(1),
    }
    weights, meta = actor_paths(stem)
    save_file(state, str(weights))
    meta.write_text(json.dumps(asdict(spec)))


def test_record_demos_is_seeded(tmp_path: Path) -> None:
    _pd_actor(tmp_path / "actor")
    kwargs: dict[str, Any] = {
        "expert_stem": tmp_path / "actor",
        "env_id": "Pendulum-v1",
        "n_trajectories": 2,
        "seed": 0,
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
    assert meta["random_episodes"] == 2 and meta["seed"] == 0 and len(a[0]) == 30
    assert meta["training"] == {"note": "hand-made"}
    assert meta["expert_files"] == ["actor.safetensors", "actor.json"]


# ----------------------------------------------------------------------------- training


def _tiny_run(tmp_path: Path, name: str = "run") -> dict[str, Any]:
    """train_sac settings of a seconds-long Pendulum run (evaluation, checkpoint every 100)."""
    return {
        "env_id": "Pendulum-v1",
        "run_dir": tmp_path / name,
        "seed": 0,
        "sac_kwargs": {
            "learning_starts": 50,
            "batch_size": 32,
            "policy_kwargs": {"net_arch": [16, 16]},
        },
        "eval_every": 100,
        "checkpoint_every": 100,
        "max_episode_steps": 50,
    }


def _checkpoint_dirs(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.iterdir() if p.name.startswith(("checkpoint", ".")))


def _edit_state(checkpoint: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite a checkpoint's state.pt after ``edit`` changed its dict in place."""
    path = checkpoint / STATE_FILE
    state = torch.load(path, map_location="cpu", weights_only=True)
    edit(state)
    torch.save(state, path)


def test_train_resumes_from_checkpoint(tmp_path: Path) -> None:
    common = {**_tiny_run(tmp_path), "eval_episodes": 1}
    first = train_sac(total_steps=200, command="first", **common)
    assert first["steps"] == 200 and len(first["evals"]) == 2
    run = tmp_path / "run"
    pointer = json.loads((run / "checkpoint.json").read_text())
    assert pointer["num_timesteps"] == 200
    assert _checkpoint_dirs(run) == ["checkpoint-000002", "checkpoint.json"]  # older ones deleted
    assert sorted(p.name for p in (run / pointer["checkpoint"]).iterdir()) == [
        "replay_buffer.npz",
        "state.pt",
    ]
    assert not list(run.glob("*.zip")) and not list(run.glob("*.pkl"))
    second = train_sac(total_steps=300, command="second", **common)
    assert second["steps"] == 300
    assert second["commands"] == ["first", "second"]
    assert [e["step"] for e in second["evals"]] == [100, 200, 300]
    assert second["wall_clock_s"] > first["wall_clock_s"]
    assert json.loads((run / "progress.json").read_text()) == second
    assert load_expert(run / "best_actor").spec.hidden_sizes == [16, 16]
    with pytest.raises(CheckpointError, match="seed=0"):
        train_sac(total_steps=400, **{**common, "seed": 1})


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_portable_checkpoint_carries_a_run_whose_run_dir_is_lost(tmp_path: Path) -> None:
    """A run continues from its portable checkpoint alone: networks, optimizers and counters as
    saved, the replay buffer refilled by the saved policy (no update in between), the record
    listing the continuation; hostile or mismatched files fail with one error naming them."""
    portable = tmp_path / "carried" / "Pendulum-v1.portable.pt"
    common = {**_tiny_run(tmp_path), "eval_episodes": 1, "portable_checkpoint": portable}
    common["refill_steps"] = 30
    train_sac(total_steps=200, command="first", **common)
    saved = torch.load(portable, map_location="cpu", weights_only=True)
    assert saved["num_timesteps"] == 200
    assert [p.name for p in portable.parent.iterdir()] == [portable.name]  # no temp file left
    assert portable.stat().st_size < 200_000  # the state alone: no replay buffer
    shutil.rmtree(tmp_path / "run")

    refilled = train_sac(total_steps=230, command="second", **common)
    assert refilled["steps"] == 230 and refilled["commands"] == ["first", "second"]
    carried = {"step": 200, "refill_steps": 30, "file": str(portable)}
    assert refilled["portable_resumes"] == [carried]
    checkpoint = find_checkpoint(tmp_path / "run")
    assert checkpoint is not None
    state = torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=True)
    assert state["n_updates"] == saved["n_updates"]
    assert all(torch.equal(state["policy"][k], v) for k, v in saved["policy"].items())
    with np.load(checkpoint / "replay_buffer.npz", allow_pickle=False) as z:
        assert int(z["pos"]) == 30 and z["observations"].shape == (30, 1, 3)

    # From now on the run directory is the checkpoint again (an exact resume, no refill).
    more = train_sac(total_steps=300, **common)
    assert more["steps"] == 300 and len(more["portable_resumes"]) == 1
    state = torch.load(portable, map_location="cpu", weights_only=True)
    assert state["n_updates"] == saved["n_updates"] + 70
    assert not torch.equal(state["policy"]["actor.mu.weight"], saved["policy"]["actor.mu.weight"])

    shutil.rmtree(tmp_path / "run")
    with pytest.raises(CheckpointError, match=rf"{portable.name}: trained with seed=0, not 1"):
        train_sac(total_steps=400, **{**common, "seed": 1})
    marker = tmp_path / "pwned"
    for hostile in (pickle.dumps(_Payload(marker)), b"\x00" * 64):
        portable.write_bytes(hostile)
        with pytest.raises(CheckpointError, match=rf"{portable.name}: not a readable weights-only"):
            train_sac(total_steps=400, **common)
    assert not marker.exists()


def test_resume_with_more_eval_episodes_reselects_the_best_actor(tmp_path: Path) -> None:
    """A best return measured on fewer episodes is not the bar for a resumed run's evaluations:
    its first evaluation becomes the best, whatever its return."""
    common = _tiny_run(tmp_path)
    first = train_sac(total_steps=100, eval_episodes=1, **common)
    assert first["best_eval_episodes"] == 1 and first["best_eval_step"] == 100

    # An unbeatable 1-episode best: without the episode check, no later evaluation replaces it.
    def unbeatable(state: dict[str, Any]) -> None:
        state["record"] = json.dumps({**json.loads(state["record"]), "best_eval_return": 1e9})

    checkpoint = find_checkpoint(tmp_path / "run")
    assert checkpoint is not None
    _edit_state(checkpoint, unbeatable)
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


class _Killed(BaseException):
    """Stands in for a SIGKILL: nothing in train_sac catches it."""


def _final_state(run_dir: Path) -> dict[str, Any]:
    checkpoint = find_checkpoint(run_dir)
    assert checkpoint is not None
    state = torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=True)
    with np.load(checkpoint / "replay_buffer.npz", allow_pickle=False) as z:
        state["buffer"] = {k: z[k] for k in z.files}
    return cast("dict[str, Any]", state)


def test_resume_continues_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One 100-step run == 50 steps then a resume to 100 == a run killed at step 75 (last
    checkpoint at 50) then resumed: same weights (actor, critics, optimizers), replay buffer,
    RNG states and evaluation returns."""
    settings = {**_tiny_run(tmp_path), "eval_every": 25, "checkpoint_every": 25}
    settings["sac_kwargs"] = {**settings["sac_kwargs"], "learning_starts": 20}
    settings["eval_episodes"] = 1
    one = train_sac(**{**settings, "run_dir": tmp_path / "one"}, total_steps=100)
    train_sac(**{**settings, "run_dir": tmp_path / "split"}, total_steps=50)
    split = train_sac(**{**settings, "run_dir": tmp_path / "split"}, total_steps=100)

    real_evaluate = irl.experts.evaluate

    def evaluate_or_die(*args: Any, **kwargs: Any) -> Any:
        if len(calls) == 2:  # the evaluation at step 75, after checkpoints at 25 and 50
            raise _Killed
        calls.append(1)
        return real_evaluate(*args, **kwargs)

    calls: list[int] = []
    monkeypatch.setattr(irl.experts, "evaluate", evaluate_or_die)
    with pytest.raises(_Killed):
        train_sac(**{**settings, "run_dir": tmp_path / "killed"}, total_steps=100)
    monkeypatch.undo()
    assert json.loads((tmp_path / "killed" / "checkpoint.json").read_text())["num_timesteps"] == 50
    killed = train_sac(**{**settings, "run_dir": tmp_path / "killed"}, total_steps=100)

    returns_one = [e["return_mean"] for e in one["evals"]]
    assert len(returns_one) == 4
    for other in (split, killed):
        assert [e["return_mean"] for e in other["evals"]] == returns_one
    want = _final_state(tmp_path / "one")
    for name in ("split", "killed"):
        got = _final_state(tmp_path / name)
        for key in ("policy", "actor_optimizer", "critic_optimizer", "last_obs", "rng"):
            assert str(got[key]) == str(want[key]), (name, key)
        assert all(torch.equal(got["policy"][k], v) for k, v in want["policy"].items())
        assert all(np.array_equal(got["buffer"][k], v) for k, v in want["buffer"].items())
        assert torch.equal(got["log_ent_coef"], want["log_ent_coef"])
        assert got["env"]["elapsed_steps"] == want["env"]["elapsed_steps"]
        actor = load_file(tmp_path / name / "last_actor.safetensors")
        assert all(
            torch.equal(actor[k], v)
            for k, v in load_file(tmp_path / "one" / "last_actor.safetensors").items()
        )


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


# ----------------------------------------------------------------------------- checkpoint files


def _sac(net_arch: tuple[int, ...] = (16, 16)) -> Any:
    """A tiny Pendulum SAC (50-step episodes)."""
    from stable_baselines3 import SAC

    return SAC(
        "MlpPolicy",
        make_env("Pendulum-v1", max_episode_steps=50),
        seed=0,
        device="cpu",
        learning_starts=20,
        batch_size=16,
        policy_kwargs={"net_arch": list(net_arch)},
    )


def _params(model: Any) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.policy.state_dict().items()}


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory holding one checkpoint of a SAC trained for 30 steps (mid-episode)."""
    run = tmp_path_factory.mktemp("ckpt")
    model = _sac()
    model.learn(30)
    save_checkpoint(model, run, {"evals": [], "note": "fixture"})
    return run


def _copy_run(src: Path, tmp_path: Path) -> tuple[Path, Path]:
    run = tmp_path / "run"
    shutil.copytree(src, run)
    checkpoint = find_checkpoint(run)
    assert checkpoint is not None
    return run, checkpoint


def test_checkpoint_round_trip_continues_exactly(tmp_path: Path) -> None:
    model = _sac()
    model.learn(30)
    save_checkpoint(model, tmp_path, {"evals": [], "note": "x"})
    model.learn(20, reset_num_timesteps=False)
    fresh = _sac()
    checkpoint = find_checkpoint(tmp_path)
    assert checkpoint is not None
    assert load_checkpoint(fresh, checkpoint) == {"evals": [], "note": "x"}
    assert fresh.num_timesteps == 30 and fresh.replay_buffer.pos == 30
    fresh.learn(20, reset_num_timesteps=False)
    want, got = _params(model), _params(fresh)
    assert all(torch.equal(got[k], v) for k, v in want.items())
    assert np.array_equal(model.replay_buffer.observations, fresh.replay_buffer.observations)


def test_buffer_file_holds_only_the_written_part(trained_checkpoint: Path) -> None:
    checkpoint = find_checkpoint(trained_checkpoint)
    assert checkpoint is not None
    with np.load(checkpoint / "replay_buffer.npz", allow_pickle=False) as z:
        assert z["observations"].shape == (30, 1, 3) and int(z["pos"]) == 30


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(state: dict[str, Any]) -> None:
        *parents, last = key.split("/")
        holder: Any = state
        for part in parents:
            holder = holder[int(part) if part.isdigit() else part]
        holder[int(last) if last.isdigit() else last] = value

    return edit


def _delete(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda state: state.pop(key)


def _bad_optimizer(state: dict[str, Any]) -> None:
    state["actor_optimizer"]["state"][0]["exp_avg"] = torch.zeros(3, 3)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_delete("policy"), "keys"),
        (_set("extra", 1), "keys"),
        (_set("num_timesteps", "70"), "num_timesteps has type str"),
        (_set("version", 2), "unsupported checkpoint format"),
        (_set("policy/actor.mu.weight", torch.zeros(5, 5)), r"actor.mu.weight is \[5, 5\]"),
        (_set("policy/actor.mu.weight", [1.0]), "actor.mu.weight is list"),
        (_set("policy/evil", torch.zeros(1)), "policy tensors differ"),
        (_bad_optimizer, r"state 0.exp_avg has shape \[3, 3\]"),
        (_set("actor_optimizer/param_groups", []), "parameter groups"),
        (_set("actor_optimizer/param_groups/0/betas", "fast"), "parameter groups"),
        (_set("critic_optimizer/state/0/step", "x"), "state 0.step is not a tensor"),
        (_set("last_obs", torch.zeros(2, 3)), "observation shape"),
        (_set("log_ent_coef", None), "entropy coefficient"),
        (_set("rng/numpy", "[1, 2]"), "corrupt or mismatched"),
        (_set("rng/python", "not json"), "corrupt or mismatched"),
        (_set("rng/torch", torch.zeros(3, dtype=torch.uint8)), "corrupt or mismatched"),
        (_set("rng/action_space", '{"bit_generator": "MT19937"}'), "bit generator"),
        (_set("env/wrappers", ["Evil"]), "wrappers"),
        (_set("env/np_random", "{}"), "bit generator"),
        (_set("env/monitor_rewards", ["x"]), "corrupt or mismatched"),
        (lambda s: s["env"].pop("kind"), "env snapshot"),
        (_set("record", "[1]"), "progress record"),
    ],
)
def test_corrupt_or_mismatched_state_raises_a_clear_error(
    trained_checkpoint: Path,
    tmp_path: Path,
    edit: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    _, checkpoint = _copy_run(trained_checkpoint, tmp_path)
    _edit_state(checkpoint, edit)
    with pytest.raises(CheckpointError, match=message) as err:
        load_checkpoint(_sac(), checkpoint)
    assert str(checkpoint / STATE_FILE) in str(err.value)


def test_truncated_state_and_other_architecture_raise_clear_errors(
    trained_checkpoint: Path, tmp_path: Path
) -> None:
    _, checkpoint = _copy_run(trained_checkpoint, tmp_path)
    with pytest.raises(
        CheckpointError, match=r"policy tensor actor.latent_pi.0.weight is \[16, 3\]"
    ):
        load_checkpoint(_sac(net_arch=(8, 8)), checkpoint)
    data = (checkpoint / STATE_FILE).read_bytes()
    (checkpoint / STATE_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable weights-only checkpoint"):
        load_checkpoint(_sac(), checkpoint)
    (checkpoint / STATE_FILE).unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(_sac(), checkpoint)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"observations": np.zeros((30, 1, 4), np.float32)}, "observations is float32"),
        ({"actions": np.zeros((30, 1, 1), np.float64)}, "actions is float64"),
        ({"pos": np.int64(10**9)}, "write position"),
        ({"pos": np.float32(3)}, "int64"),
        ({"evil": np.zeros(1)}, "arrays"),
    ],
)
def test_corrupt_replay_buffer_raises_a_clear_error(
    trained_checkpoint: Path, tmp_path: Path, change: dict[str, np.ndarray], message: str
) -> None:
    _, checkpoint = _copy_run(trained_checkpoint, tmp_path)
    path = checkpoint / "replay_buffer.npz"
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(path, **{**arrays, **change})
    with pytest.raises(CheckpointError, match=message) as err:
        load_checkpoint(_sac(), checkpoint)
    assert str(path) in str(err.value)
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match="replay buffer"):
        load_checkpoint(_sac(), checkpoint)


def test_a_crash_while_writing_keeps_the_last_whole_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _sac()
    model.learn(30)
    first = save_checkpoint(model, tmp_path, {"evals": []})
    model.learn(10, reset_num_timesteps=False)

    def crash(*_: Any, **__: Any) -> None:
        raise _Killed

    monkeypatch.setattr(irl.expert_checkpoint.np, "savez", crash)
    with pytest.raises(_Killed):
        save_checkpoint(model, tmp_path, {"evals": []})
    monkeypatch.undo()
    assert (tmp_path / ".checkpoint-000002.tmp").is_dir()  # the half-written one
    assert find_checkpoint(tmp_path) == first
    fresh = _sac()
    load_checkpoint(fresh, first)
    assert fresh.num_timesteps == 30
    # A kill after the rename but before the pointer moved: the renamed checkpoint is whole.
    real_replace = os.replace

    def replace_or_die(src: Any, dst: Any) -> None:
        if str(dst).endswith("checkpoint.json"):
            raise _Killed
        real_replace(src, dst)

    monkeypatch.setattr(irl.expert_checkpoint.os, "replace", replace_or_die)
    with pytest.raises(_Killed):
        save_checkpoint(model, tmp_path, {"evals": []})
    monkeypatch.undo()
    assert json.loads((tmp_path / "checkpoint.json").read_text())["checkpoint"] == first.name
    newest = find_checkpoint(tmp_path)
    assert newest is not None and newest.name == "checkpoint-000002" and first.exists()
    load_checkpoint(fresh, newest)
    assert fresh.num_timesteps == 40
    third = save_checkpoint(fresh, tmp_path, {"evals": []})
    assert _checkpoint_dirs(tmp_path) == [third.name, "checkpoint.json"]  # the rest cleaned up


@pytest.mark.parametrize(
    "pointer",
    ['{"checkpoint": "../../etc"}', '{"checkpoint": "checkpoint-000099"}', "[", '"x"'],
)
def test_a_malformed_pointer_raises_a_clear_error(
    trained_checkpoint: Path, tmp_path: Path, pointer: str
) -> None:
    run, _ = _copy_run(trained_checkpoint, tmp_path)
    (run / "checkpoint.json").write_text(pointer)
    with pytest.raises(CheckpointError, match=r"checkpoint\.json"):
        find_checkpoint(run)


# ----------------------------------------------------------------------------- crafted pickle


class _Payload:
    """Unpickling this creates ``marker``: it stands for any code a pickle can run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def _write_legacy_checkpoint(run: Path, payload: bytes) -> None:
    """Files where the old code unpickled: SB3's checkpoint.zip and replay_buffer.pkl."""
    with zipfile.ZipFile(run / "checkpoint.zip", "w") as zf:
        data = {"policy_class": {":serialized:": base64.b64encode(payload).decode()}}
        zf.writestr("data", json.dumps(data))
        zf.writestr("policy.pth", payload)
        zf.writestr("pytorch_variables.pth", payload)
    (run / "replay_buffer.pkl").write_bytes(payload)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_crafted_pickle_files_never_run_code(trained_checkpoint: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Payload(probe)))
    assert probe.exists()  # the payload is live: unpickling it does run code
    payload = pickle.dumps(_Payload(marker))
    settings = {**_tiny_run(tmp_path), "total_steps": 100}

    # Only the old pickle artefacts: resume refuses them by name, without opening them.
    legacy = tmp_path / "run"
    legacy.mkdir()
    _write_legacy_checkpoint(legacy, payload)
    (legacy / "progress.json").write_text(json.dumps({"steps": 50, "evals": []}))
    with pytest.raises(CheckpointError, match=r"checkpoint\.zip.*never loaded"):
        train_sac(**settings)

    # The payload as state.pt (raw pickle and torch.save) and inside the replay buffer.
    _, checkpoint = _copy_run(trained_checkpoint, tmp_path / "new")
    (checkpoint / STATE_FILE).write_bytes(payload)
    with pytest.raises(CheckpointError, match="weights-only"):
        load_checkpoint(_sac(), checkpoint)
    torch.save(
        {"format": "irl-sac-checkpoint", "policy": _Payload(marker)}, checkpoint / STATE_FILE
    )
    with pytest.raises(CheckpointError, match="weights-only"):
        load_checkpoint(_sac(), checkpoint)
    _, checkpoint = _copy_run(trained_checkpoint, tmp_path / "buffer")
    path = checkpoint / "replay_buffer.npz"
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["observations"] = np.array([_Payload(marker)] * 30, dtype=object).reshape(30, 1, 1)
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match="observations is object"):
        load_checkpoint(_sac(), checkpoint)
    assert not marker.exists()


def test_legacy_files_beside_a_checkpoint_are_ignored(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    settings = {**_tiny_run(tmp_path), "eval_episodes": 1}
    train_sac(total_steps=100, **settings)
    _write_legacy_checkpoint(tmp_path / "run", pickle.dumps(_Payload(marker)))
    assert train_sac(total_steps=150, **settings)["steps"] == 150
    assert not marker.exists()


@pytest.mark.parametrize("env_id", ["Hopper-v5", "Ant-v5", "Pendulum-v1"])
def test_env_snapshot_continues_an_episode_exactly(env_id: str) -> None:
    """A fresh env given a mid-episode snapshot steps exactly like the original (Ant reads body
    positions left by the previous step, so they are part of the snapshot)."""
    env = make_env(env_id)
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = [env.action_space.sample() * 0.3 for _ in range(30)]
    for action in actions[:15]:
        env.step(action)
    snap = env_snapshot(env)
    assert snap["kind"] == ("classic" if env_id == "Pendulum-v1" else "mujoco")
    want = [env.step(a) for a in actions[15:]]
    fresh = make_env(env_id)
    assert restore_env(fresh, snap)
    got = [fresh.step(a) for a in actions[15:]]
    for (obs_w, rew_w, *flags_w, _), (obs_g, rew_g, *flags_g, _) in zip(want, got, strict=True):
        assert np.array_equal(obs_w, obs_g) and rew_w == rew_g and flags_w == flags_g
    other = make_env("InvertedPendulum-v5" if env_id != "InvertedPendulum-v5" else "Hopper-v5")
    with pytest.raises(ValueError, match="wrappers"):
        restore_env(other, snap)


def test_a_run_with_nothing_left_to_train_evaluates_the_actor_it_would_ship(
    tmp_path: Path,
) -> None:
    """Re-run with total_steps already reached but more evaluation episodes than its best was
    measured on, a run trains no further, evaluates the actor at hand on those episodes and
    makes it the best actor with that return (the way to ship a portable checkpoint's actor)."""
    common = _tiny_run(tmp_path)
    first = train_sac(total_steps=100, eval_episodes=1, **common)
    assert [e["episodes"] for e in first["evals"]] == [1]
    again = train_sac(total_steps=100, eval_episodes=3, **common)
    assert again["steps"] == 100 and [e["episodes"] for e in again["evals"]] == [1, 3]
    last = again["evals"][-1]
    assert last["step"] == 100 and again["best_eval_episodes"] == 3
    assert again["best_eval_return"] == last["return_mean"] and again["best_eval_step"] == 100
    same = train_sac(total_steps=100, eval_episodes=3, **common)  # a comparable best: no re-run
    assert [e["episodes"] for e in same["evals"]] == [1, 3]

"""irl-eval's re-optimisation checkpoints: a killed or extended SAC carries on where it was."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from test_train import constant_cost_run

import irl
from irl import reoptimize as reopt_module
from irl.checkpoint import CheckpointError, read_checkpoint
from irl.reoptimize import REOPT_CHECKPOINT, reoptimize
from irl.run import Run


def _reopt(trained: Run, run: Path, steps: int, **kw: Any) -> dict[str, Any]:
    """A small, fast re-optimisation writing its curve and checkpoint under ``run``."""
    return reoptimize(
        trained,
        steps,
        episodes=2,
        seed=0,
        progress=False,
        net_arch=(16, 16),
        curve_path=run / "reopt_curve.csv",
        checkpoint_dir=run / REOPT_CHECKPOINT,
        **kw,
    )


def _curve_steps(run: Path) -> list[int]:
    with (run / "reopt_curve.csv").open() as f:
        return [int(r["env_steps"]) for r in csv.DictReader(f)]


def test_a_killed_reoptimisation_resumes_from_its_last_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed at step 250 with checkpoints every 100: the rerun starts at 200, keeps the
    episodes seen by then, and ends at the new budget with its counts carried on."""
    trained = constant_cost_run(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    step_curve = reopt_module._ReoptCurve._on_step

    def killed_at_250(self: Any) -> bool:
        if self.num_timesteps == 250:
            raise KeyboardInterrupt
        return step_curve(self)

    saved: list[int] = []
    save = reopt_module.save_reopt_checkpoint

    walls: list[float | None] = []

    def counted_save(sac: Any, d: Path, settings: str, wall_clock_s: float | None) -> None:
        saved.append(sac.num_timesteps)
        walls.append(wall_clock_s)
        save(sac, d, settings, wall_clock_s)

    monkeypatch.setattr(reopt_module, "save_reopt_checkpoint", counted_save)
    monkeypatch.setattr(reopt_module._ReoptCurve, "_on_step", killed_at_250)
    with pytest.raises(KeyboardInterrupt):
        _reopt(trained, run, 400, checkpoint_every=100)
    assert saved == [100, 200]
    monkeypatch.setattr(reopt_module._ReoptCurve, "_on_step", step_curve)
    state, arrays = read_checkpoint(run / REOPT_CHECKPOINT)
    assert state["num_timesteps"] == 200
    assert len(arrays["replay/observations"]) == 200  # every stored transition, no more
    before = [s for s in _curve_steps(run) if s <= 200]
    assert before and max(_curve_steps(run)) > 200  # the killed run had gone past it

    out = _reopt(trained, run, 400, checkpoint_every=100)
    assert "resumes at step 200 of 400" in capsys.readouterr().out
    assert saved == [100, 200, 300, 400]  # every 100 steps; the last once, after its training
    # Training time accumulates across the kill: the resumed run starts from the time saved
    # at 200, and the record reports the sum; the rate is this call's 200 steps.
    known = [w for w in walls if w is not None]
    assert len(known) == len(walls) and all(w > 0 for w in known) and known == sorted(known)
    assert out["reoptimized_resumed_at"] == 200
    assert known[1] < known[-1] <= out["reoptimized_wall_clock_s"]
    assert read_checkpoint(run / REOPT_CHECKPOINT)[0]["wall_clock_s"] == known[-1]
    assert out["steps_per_s"] > 0
    steps = _curve_steps(run)
    assert steps[: len(before)] == before and np.all(np.diff(steps) > 0) and steps[-1] <= 400
    state, arrays = read_checkpoint(run / REOPT_CHECKPOINT)
    assert state["num_timesteps"] == 400 and len(arrays["replay/observations"]) == 400
    # One gradient step per env step after learning_starts (400 // 10 = 40): 360 in an
    # unbroken run; the checkpoint at 200 is taken between storing step 200 and training on it.
    assert state["n_updates"] == 359
    assert np.isfinite(out["reoptimized_normalized_return"])


def test_a_finished_reoptimisation_is_scored_again_without_training(tmp_path: Path) -> None:
    """Rerun with the same budget, the saved SAC is restored exactly: the same actor gives the
    same deterministic returns; with reopt_resume=false it retrains from scratch."""
    trained = constant_cost_run(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    first = _reopt(trained, run, 200, save_dir=run)
    actor = (run / "reopt_actor.safetensors").read_bytes()
    again = _reopt(trained, run, 200, save_dir=run)
    assert again["reoptimized_return_mean"] == first["reoptimized_return_mean"]
    assert again["reoptimized_last10_true_return"] == first["reoptimized_last10_true_return"]
    # Nothing trained again: no rate, and the training time is the first call's.
    assert first["reoptimized_resumed_at"] is None and first["steps_per_s"] > 0
    assert again["reoptimized_resumed_at"] == 200 and again["steps_per_s"] is None
    saved_wall = read_checkpoint(run / REOPT_CHECKPOINT)[0]["wall_clock_s"]
    assert 0 < saved_wall <= first["reoptimized_wall_clock_s"]
    assert again["reoptimized_wall_clock_s"] == saved_wall
    assert (run / "reopt_actor.safetensors").read_bytes() == actor
    # A fresh SAC with another seed: a different actor, and the checkpoint is replaced.
    reoptimize(
        trained,
        200,
        episodes=2,
        seed=1,
        progress=False,
        net_arch=(16, 16),
        checkpoint_dir=run / REOPT_CHECKPOINT,
        resume=False,
        save_dir=run,
    )
    assert (run / "reopt_actor.safetensors").read_bytes() != actor
    assert '"seed": 1' in read_checkpoint(run / REOPT_CHECKPOINT)[0]["settings"]


def test_the_temperature_and_optimisers_survive_a_checkpoint(tmp_path: Path) -> None:
    """Save then load into a fresh SAC of the same settings: every tensor equal."""
    from stable_baselines3 import SAC

    from irl.reoptimize import load_reopt_checkpoint, save_reopt_checkpoint
    from irl_envs import make_env

    def fresh() -> Any:
        return SAC(
            "MlpPolicy",
            make_env("InvertedPendulum-v5"),
            seed=0,
            learning_starts=20,
            policy_kwargs={"net_arch": [8]},
            device="cpu",
        )

    a = fresh().learn(60)
    save_reopt_checkpoint(a, tmp_path / "ck", "s", 12.5)
    b = fresh()
    assert load_reopt_checkpoint(b, tmp_path / "ck", "s") == (60, 12.5)
    # A checkpoint without a wall-clock (written before it was kept) loads, as unknown.
    save_reopt_checkpoint(a, tmp_path / "old", "s")
    assert load_reopt_checkpoint(fresh(), tmp_path / "old", "s") == (60, None)
    for k, v in a.policy.state_dict().items():
        assert torch.equal(v, b.policy.state_dict()[k]), k
    assert torch.equal(a.log_ent_coef, b.log_ent_coef) and a.log_ent_coef.item() != 0.0
    for name in ("actor", "critic"):
        sa = getattr(a, name).optimizer.state_dict()["state"]
        sb = getattr(b, name).optimizer.state_dict()["state"]
        assert sa.keys() == sb.keys() and sa
        for i in sa:
            assert torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"])
    np.testing.assert_array_equal(
        a.replay_buffer.observations[:60], b.replay_buffer.observations[:60]
    )
    assert (b.replay_buffer.pos, b._n_updates) == (60, a._n_updates)
    with pytest.raises(CheckpointError, match=r"other settings.*reopt_resume=false"):
        load_reopt_checkpoint(fresh(), tmp_path / "ck", "other")


def test_a_corrupt_or_mismatched_reopt_checkpoint_is_named(tmp_path: Path) -> None:
    """A truncated state file, or a checkpoint of a longer run than asked for, is refused with
    the checkpoint's path and what to do."""
    trained = constant_cost_run(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    _reopt(trained, run, 120)
    with pytest.raises(CheckpointError, match="more than reopt_steps=100"):
        _reopt(trained, run, 100)
    with pytest.raises(CheckpointError, match="other settings"):
        _reopt(trained, run, 200, ent_coef=1.0)
    state = run / REOPT_CHECKPOINT / "state.pt"
    state.write_bytes(state.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=re.escape(f"{run / REOPT_CHECKPOINT}: cannot read")):
        _reopt(trained, run, 200)


def test_reward_normalisation_divides_ppos_reward_by_its_return_std(tmp_path: Path) -> None:
    """reopt_normalize_reward: PPO trains on VecNormalize's scaled rewards (observations as
    they are), the curve and the score stay in the env's units; SAC refuses the option."""
    from stable_baselines3.common.vec_env import VecNormalize

    trained = constant_cost_run(tmp_path)
    agent = reopt_module._reopt_agent(
        trained, 0.99, "learned", 0, 0.99, "auto", (16, 16), 256, "ppo", normalize_reward=True
    )
    venv = agent.get_env()
    assert isinstance(venv, VecNormalize) and venv.norm_reward and not venv.norm_obs
    plain = reopt_module._reopt_agent(
        trained, 0.99, "learned", 0, 0.99, "auto", (16, 16), 256, "ppo"
    )
    assert not isinstance(plain.get_env(), VecNormalize)
    curves = {}
    for normalise in (False, True):
        run = tmp_path / f"run-{normalise}"
        run.mkdir()
        out = reoptimize(
            trained, 256, episodes=2, seed=0, progress=False, net_arch=(16, 16), algo="ppo",
            curve_path=run / "reopt_curve.csv", normalize_reward=normalise,
        )  # fmt: skip
        assert out["reoptimized_normalize_reward"] is normalise
        with (run / "reopt_curve.csv").open() as f:
            curves[normalise] = list(csv.DictReader(f))
    # One rollout of the same first policy: the same episodes, priced in the reward's units.
    assert len(curves[True]) > 3 and curves[True] == curves[False]
    with pytest.raises(ValueError, match="ppo only"):
        reoptimize(trained, 64, episodes=1, seed=0, progress=False, normalize_reward=True)


def test_squashed_ppo_keeps_its_actions_inside_the_bounds(tmp_path: Path) -> None:
    """reopt_squash: the PPO's distribution is the tanh-squashed Gaussian rescaled to the action
    box, so a mean pushed far past the bounds still gives actions inside them whose log-density
    is finite; the plain PPO's Gaussian then samples outside (the env clips them). Recorded as
    reoptimized_squash; SAC and the other optimisers refuse the option."""
    from irl.sb3_adapter import SquashedActorCriticPolicy

    trained = constant_cost_run(tmp_path)
    low, high = trained.make_env().action_space.low, trained.make_env().action_space.high
    obs = torch.zeros((256, int(trained.artifacts["obs_dim"])))
    for squash in (False, True):
        agent = reopt_module._reopt_agent(
            trained, 0.99, "learned", 0, 0.99, "auto", (16, 16), 256, "ppo", squash=squash
        )
        assert isinstance(agent.policy, SquashedActorCriticPolicy) is squash
        with torch.no_grad():
            agent.policy.action_net.bias.fill_(5.0)  # a mean far past the upper bound
            agent.policy.action_net.weight.zero_()
            acts, _, logp = agent.policy(obs)
        scaled = agent.policy.unscale_action(acts.numpy()) if squash else acts.numpy()
        inside = np.all((scaled >= low - 1e-6) & (scaled <= high + 1e-6))
        assert inside is np.bool_(squash) and torch.isfinite(logp).all()
    out = reoptimize(
        trained, 128, episodes=1, seed=0, progress=False, net_arch=(16, 16), algo="ppo",
        squash=True,
    )  # fmt: skip
    assert out["reoptimized_squash"] is True
    with pytest.raises(ValueError, match="ppo only"):
        reoptimize(trained, 64, episodes=1, seed=0, progress=False, squash=True)
    from irl.validate import ConfigError, validate_eval_config

    base = {"reopt_reward": "learned", "reopt_algo": "ppo"}
    validate_eval_config({**base, "reopt_squash": True})
    with pytest.raises(ConfigError, match="reopt_squash='yes' is not allowed"):
        validate_eval_config({**base, "reopt_squash": "yes"})
    with pytest.raises(ConfigError, match="reopt_squash=true applies to reopt_algo=ppo only"):
        validate_eval_config({**base, "reopt_algo": "sac", "reopt_squash": True})


@pytest.mark.parametrize(
    ("value", "algo", "on"),
    [("auto", "ppo", True), ("auto", "sac", False), ("auto", "ars", False),
     (False, "ppo", False), (True, "ppo", True)],
)  # fmt: skip
def test_reward_normalisation_is_on_by_default_for_ppo(value: Any, algo: str, on: bool) -> None:
    """irl-eval's reopt_normalize_reward=auto (the default) normalises the PPO re-optimisation
    only: the other optimisers have no such option (true with them is refused)."""
    from omegaconf import OmegaConf

    from irl.cli.evaluate import reopt_normalize_reward

    cfg = OmegaConf.create({"reopt_normalize_reward": value, "reopt_algo": algo})
    assert reopt_normalize_reward(cfg) is on
    default = OmegaConf.load(Path(irl.__file__).parent / "conf" / "eval.yaml")
    assert default.reopt_normalize_reward == "auto"


def test_the_control_keeps_its_files_apart_from_the_learned_rewards(tmp_path: Path) -> None:
    """irl-eval's control (reopt_reward=true) in the run's own env writes its actor, curves and
    eval.json (and SAC's checkpoint) under <run_dir>/reopt_control: the learned reward's stay as
    they were."""
    from hydra import compose, initialize_config_dir

    from irl.cli import CONF_DIR
    from irl.cli.evaluate import REOPT_CONTROL_DIR, evaluate_run

    run_dir = constant_cost_run(tmp_path).dir

    def evaluate(reward: str) -> dict[str, Any]:
        overrides = [
            f"run_dir={run_dir}", f"reopt_reward={reward}", "reopt_algo=ppo", "reopt_steps=256",
            "reopt_net_arch=[16,16]", "episodes=1", "random_episodes=1",
            "learned_return_episodes=1", "figures=false", "progress_bar=false",
        ]  # fmt: skip
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            return evaluate_run(compose("eval", overrides=overrides))

    learned = evaluate("learned")
    files = ("reopt_actor.safetensors", "reopt_curve.csv", "reopt_evals.csv", "eval.json")
    kept = {name: (run_dir / name).read_bytes() for name in files}
    control = evaluate("true")
    assert learned["reoptimized_reward"] == "learned" and control["reoptimized_reward"] == "true"
    for name in files:
        assert (run_dir / name).read_bytes() == kept[name], name
        assert (run_dir / REOPT_CONTROL_DIR / name).stat().st_size > 0, name
    on_disk = json.loads((run_dir / REOPT_CONTROL_DIR / "eval.json").read_text())
    assert on_disk["reoptimized_reward"] == "true"


def test_a_killed_ppo_reoptimisation_resumes_between_its_updates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """PPO is saved when a rollout starts (its update on the last one done): killed during its
    third 2048-step rollout, the rerun starts at 4096 with the saved policy, optimiser and
    reward-normalisation statistics, and ends at the budget; no replay arrays are kept."""
    trained = constant_cost_run(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    step_curve = reopt_module._ReoptCurve._on_step
    saved: list[int] = []
    save = reopt_module.save_reopt_checkpoint
    kept: dict[str, Any] = {}

    def killed_at_4200(self: Any) -> bool:
        if self.num_timesteps == 4200:
            kept["policy"] = {k: v.clone() for k, v in self.model.policy.state_dict().items()}
            kept["ret_var"] = float(self.model.get_vec_normalize_env().ret_rms.var[()])
            raise KeyboardInterrupt
        return step_curve(self)

    def counted_save(agent: Any, d: Path, settings: str, wall_clock_s: float | None) -> None:
        saved.append(agent.num_timesteps)
        save(agent, d, settings, wall_clock_s)

    monkeypatch.setattr(reopt_module, "save_reopt_checkpoint", counted_save)
    monkeypatch.setattr(reopt_module._ReoptCurve, "_on_step", killed_at_4200)
    ppo = {"algo": "ppo", "normalize_reward": True}
    with pytest.raises(KeyboardInterrupt):
        _reopt(trained, run, 6144, checkpoint_every=2000, **ppo)
    assert saved == [2048, 4096]
    state, arrays = read_checkpoint(run / REOPT_CHECKPOINT)
    assert state["num_timesteps"] == 4096 and arrays == {}
    assert '"algo": "ppo"' in state["settings"] and state["ret_rms"]["count"] > 4096
    # The policy did not change between the save at 4096 and the kill (no update in between);
    # the statistics did (they follow every step).
    for k, v in state["policy"].items():
        assert torch.equal(v, kept["policy"][k]), k
    assert float(state["ret_rms"]["var"]) != kept["ret_var"]

    loaded: list[Any] = []
    load = reopt_module.load_reopt_checkpoint

    def seen_load(agent: Any, d: Path, settings: str) -> tuple[int, float | None]:
        out = load(agent, d, settings)
        loaded.append((agent, float(agent.get_vec_normalize_env().ret_rms.var[()])))
        return out

    monkeypatch.setattr(reopt_module, "load_reopt_checkpoint", seen_load)
    monkeypatch.setattr(reopt_module._ReoptCurve, "_on_step", step_curve)
    out = _reopt(trained, run, 6144, checkpoint_every=2000, **ppo)
    assert "resumes at step 4096 of 6144" in capsys.readouterr().out
    assert loaded[0][1] == float(state["ret_rms"]["var"])
    assert out["reoptimized_resumed_at"] == 4096 and out["reoptimized_algo"] == "ppo"
    assert saved == [2048, 4096, 6144]
    assert read_checkpoint(run / REOPT_CHECKPOINT)[0]["num_timesteps"] == 6144
    # Budgets PPO overshoots (whole rollouts) are finished, not "more than reopt_steps".
    again = _reopt(trained, run, 5000, checkpoint_every=2000, **ppo)
    assert again["reoptimized_resumed_at"] == 6144 and again["steps_per_s"] is None
    assert again["reoptimized_return_mean"] == out["reoptimized_return_mean"]
    with pytest.raises(CheckpointError, match="more than reopt_steps=4000"):
        _reopt(trained, run, 4000, **ppo)
    # A SAC, or a PPO without reward normalisation, does not carry this checkpoint on.
    for other in ({}, {"algo": "ppo"}):
        with pytest.raises(CheckpointError, match="other settings"):
            _reopt(trained, run, 8192, **other)

"""The MuJoCo IRL loop: every trainer x sampler runs, resume is exact, GAN-GCL learns, irl-eval."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from safetensors.torch import load_file

import irl
from irl.build import build_trainer, config_digest, file_digest, has_companion
from irl.checkpoint import CheckpointError
from irl.cli import CONF_DIR
from irl.nn import RunningNorm
from irl.records import cpu_description
from irl.run import Run, load_run, save_artifacts
from irl.sb3_adapter import ObsNormExtractor
from irl.trainer import DIAGNOSTICS, Trainer, diagnostics_series

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# The loop's defaults before the measured recipe became the default (no BC warm start, the cost
# scores the executed action, unscaled rewards, no weight average): a run that learns from scratch.
PLAIN = (
    "algo.bc_warmstart_epochs=0",
    "sampler.cost_action=executed",
    "sampler.normalize_reward=false",
    "sampler.policy_ema=null",
)
NO_WARMSTART = "algo.bc_warmstart_epochs=0"


def make_cfg(*overrides: str) -> dict[str, Any]:
    """The irl-train config as the CLI composes it, as a plain dict."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        cfg = compose("train", overrides=list(overrides))
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    return container  # type: ignore[return-value]


def make_trainer(run_dir: Path, *overrides: str) -> Trainer:
    """A built, untrained trainer of the composed config (no metrics files)."""
    return build_trainer(make_cfg(*overrides), run_dir, log=False)


def save_run(trainer: Trainer, cfg: dict[str, Any]) -> Run:
    """Write the trainer's run directory as ``irl-train`` does (config and artefacts), load it."""
    assert trainer.demo_file is not None
    (trainer.run_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(cfg)))
    save_artifacts(trainer, cfg, trainer.demo_file, file_digest(trainer.demo_file))
    return load_run(trainer.run_dir)


def constant_cost_run(tmp_path: Path, absorbing: float | None = None) -> Run:
    """An untrained debug-config run whose cost is 1 on every step and h ≡ 0; with
    ``absorbing``, an absorbing step costs that (through the floor), otherwise 1 as well."""
    extra = () if absorbing is None else ("algo.absorbing_floor=0.5",)
    cfg = make_cfg("debug=tiny", *extra)
    run = save_run(build_trainer(cfg, tmp_path, log=False), cfg)
    assert run.cost is not None and run.reward is not None
    with torch.no_grad():
        for net in (run.cost.cost, run.cost.h):
            assert net is not None
            for p in net.parameters():
                p.zero_()
        last = run.cost.cost.net[-1]
        assert isinstance(last, torch.nn.Linear)
        last.bias.fill_(1.0)
    if absorbing is not None:
        run.cost.set_absorbing_floor(absorbing)
    run.reward.termination_floor = None  # saved from the weights before they were set
    return run


def _finite_metrics(stats: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in stats.items() if not k.startswith("time/") and math.isfinite(v)}


@pytest.mark.parametrize("sampler", ["ppo", "sac"])
@pytest.mark.parametrize("algo", ["gan_gcl", "gcl", "airl", "airl_state", "gail", "bc"])
def test_every_trainer_and_sampler_runs_two_iterations(
    tmp_path: Path, algo: str, sampler: str
) -> None:
    """Each algorithm with each sampler (its default settings, BC warm start included)
    finishes a tiny budget with finite metrics, a checkpoint and a result."""
    trainer = make_trainer(tmp_path, "debug=tiny", f"algo={algo}", f"sampler={sampler}")
    result = trainer.train(progress=False)
    assert result["algo"] == algo
    assert np.isfinite(result["return_mean"])
    if algo == "bc":
        assert result["env_steps"] == 0 and trainer.cost is None
        assert np.isfinite(trainer.history[-1]["bc/nll"])
        return
    assert trainer.iteration == 2
    assert result["env_steps"] == 256
    for stats in trainer.history:
        assert np.isfinite(stats["disc/loss"]), stats
        assert np.isfinite(stats["rollout/learned_reward_mean"]), stats
        assert 0.0 <= stats["disc/heldout_accuracy"] <= 1.0
        assert 0.0 <= stats["disc/heldout_cost_auc"] <= 1.0
    if algo in ("gan_gcl", "gcl"):
        ess = trainer.history[-1]["disc/ess_frac"]
        assert 0.0 < ess <= 1.0
    assert (tmp_path / "checkpoint" / "state.pt").exists()
    # The loop writes checkpoints only; the run's files are irl.cli.train.run_training's.
    assert not (tmp_path / "result.json").exists()


@pytest.mark.parametrize(
    ("sampler", "extra"),
    [
        ("ppo", ()),  # the recipe: BC warm start, drawn action, scaled rewards, policy EMA
        ("sac", ()),
        (
            "ppo",
            (
                "sampler.normalize_reward=false",
                "sampler.policy_ema=null",
                "experimental.ppo_squash=true",
                "algo.absorbing_floor=0.5",
                "sampler.obs_norm=true",
            ),
        ),
        ("ppo", ("experimental.coverage_episodes=2",)),  # a fixed sampler in the store
        ("ppo", ("experimental.scratch_sampler=true",)),  # a second sampler, checkpointed too
    ],
)
def test_resume_gives_the_same_next_iteration_metrics(
    tmp_path: Path, sampler: str, extra: tuple[str, ...]
) -> None:
    """3 uninterrupted iterations == 2 iterations, a checkpoint, a new process state, 1 more."""
    over = ("debug=tiny", "algo=gan_gcl", f"sampler={sampler}", *extra, "total_env_steps=384")
    full = make_trainer(tmp_path / "full", *over)
    full_result = full.train(progress=False)
    assert full.iteration == 3

    part = make_trainer(tmp_path / "part", *over[:-1], "total_env_steps=256")
    part.train(progress=False)
    # Perturb every global RNG, as a fresh process would have them, before resuming.
    torch.manual_seed(12345)
    np.random.seed(54321)  # noqa: NPY002 - SB3's global numpy RNG must be restored by resume
    resumed = make_trainer(tmp_path / "part", *over)
    result = resumed.train(progress=False)
    assert resumed.iteration == 3
    # The result names where the run started and was resumed, and on which CPU.
    cpu = cpu_description()
    assert full_result["segments"] == [{"env_steps": 0, "cpu": cpu}]
    at = part.sampler.num_timesteps
    assert at > 0 and result["segments"] == [
        {"env_steps": 0, "cpu": cpu},
        {"env_steps": at, "cpu": cpu},
    ]
    want = _finite_metrics(full.history[-1])
    got = _finite_metrics(resumed.history[-1])
    assert want.keys() == got.keys()
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-9, abs=1e-9), k


def test_resume_refuses_a_checkpoint_of_another_config(tmp_path: Path) -> None:
    """A changed config in the same run directory is an error naming the checkpoint, not a mix."""
    make_trainer(tmp_path, "debug=tiny", NO_WARMSTART).train(progress=False)
    with pytest.raises(CheckpointError, match="checkpoint"):
        make_trainer(tmp_path, "debug=tiny", NO_WARMSTART, "algo.lr=0.5").train(progress=False)


def test_corrupt_checkpoint_gives_a_clear_error(tmp_path: Path) -> None:
    """Garbage in the checkpoint file: CheckpointError naming the directory, no torch traceback."""
    make_trainer(tmp_path, "debug=tiny", NO_WARMSTART).train(progress=False)
    state = tmp_path / "checkpoint" / "state.pt"
    state.write_bytes(state.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"checkpoint.*cannot read"):
        make_trainer(tmp_path, "debug=tiny", NO_WARMSTART).train(progress=False)


def test_gan_gcl_improves_heldout_accuracy_and_return_on_inverted_pendulum(
    tmp_path: Path,
) -> None:
    """Within a short budget and from scratch (no warm start, none of the recipe's measures) the
    learned cost ranks held-out demos below fresh samples, D classifies them, and the sampler's
    return rises far above its start (expert: 1000)."""
    trainer = make_trainer(
        tmp_path,
        "total_env_steps=40000",
        "eval.every_iters=1000",
        "eval.final_episodes=5",
        "video.enabled=false",
        *PLAIN,
    )
    result = trainer.train(progress=False)
    first, last = trainer.history[0], trainer.history[-3:]
    # D = p~/(p~ + q) tells fresh samples from demos by their log q from the start; what is
    # learned is the cost, so the held-out test is the cost's AUC (demo windows cheaper).
    assert first["disc/heldout_cost_auc"] < 0.8
    assert np.mean([h["disc/heldout_cost_auc"] for h in last]) > 0.9
    assert np.mean([h["disc/heldout_accuracy"] for h in last]) > 0.9
    start = first["rollout/true_return_mean"]
    assert result["return_mean"] > max(5 * start, 100.0), (start, result["return_mean"])


def test_irl_train_and_irl_eval_write_their_artefacts(tmp_path: Path) -> None:
    """The two commands end to end: run directory contents, eval table and eval.json."""
    run = tmp_path / "run"
    env = {
        "MUJOCO_GL": "egl",
        "OMP_NUM_THREADS": "1",
        "PATH": str(BIN) + ":/usr/bin:/bin",
    }
    subprocess.run(
        [
            str(BIN / "irl-train"),
            "debug=tiny",
            "video.enabled=true",
            "video.max_steps=20",
            f"hydra.run.dir={run}",
        ],
        check=True,
        cwd=ROOT,
        env=env,
        capture_output=True,
    )
    for name in (
        "config.yaml",
        "progress.csv",
        "learning_curve.png",
        "policy.mp4",
        "policy.safetensors",
        "cost.safetensors",
        "artifacts.json",
        "result.json",
    ):
        assert (run / name).stat().st_size > 0, name
    assert list(run.glob("events.out.tfevents.*"))
    header = (run / "progress.csv").read_text().splitlines()[0].split(",")
    for key in ("disc/loss", "disc/log_z", "disc/ess_frac", "rollout/learned_reward_mean"):
        assert key in header
    out = subprocess.run(
        [
            str(BIN / "irl-eval"),
            f"run_dir={run}",
            "episodes=2",
            "reopt_video_steps=20",
            "reopt_reward=learned",
            "reopt_steps=200",
            "reopt_ent_coef=1.0",
            "random_episodes=2",
        ],
        check=True,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    assert "expert-normalised" in out
    ev = json.loads((run / "eval.json").read_text())
    assert ev["eval_episodes"] == 2
    for key in ("return_mean", "normalized_return", "reoptimized_normalized_return"):
        assert np.isfinite(ev[key]), key
    assert ev["reoptimized_ent_coef"] == "1.0"
    # The record's wall-clock is the whole call's, the SAC's training a part of it.
    assert 0 < ev["reoptimized_wall_clock_s"] < ev["wall_clock_s"] and ev["steps_per_s"] > 0
    # InvertedPendulum pays 1 per step the pole stays up and 0 for the step that drops it.
    curve = np.loadtxt(run / "reopt_curve.csv", delimiter=",", skiprows=1, ndmin=2)
    steps, length, terminated, true_return = curve[:, 0], curve[:, 1], curve[:, 2], curve[:, 3]
    assert len(curve) >= 2 and np.all(np.diff(steps) > 0) and steps[-1] <= 200
    np.testing.assert_allclose(true_return, length - terminated)
    assert np.all(np.isfinite(curve[:, 4]))
    assert ev["reoptimized_last10_true_return"] == pytest.approx(true_return[-10:].mean())
    assert (run / "reopt_policy.mp4").stat().st_size > 0
    actor = load_file(str(run / "reopt_actor.safetensors"))
    assert actor and all(torch.isfinite(v).all() for v in actor.values())
    assert -1.0 <= ev["pearson_random"] <= 1.0
    assert np.isfinite(ev["learned_return_demos"]) and np.isfinite(ev["learned_return_policy"])
    assert "held-out demos / policy" in out


def test_learned_return_prices_an_early_end_with_its_absorbing_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With c ≡ 1 everywhere (absorbing state included) every episode costs the horizon."""
    from irl.evaluation import absorbing_step_reward, learned_returns

    run = constant_cost_run(tmp_path)
    assert run.cost is not None
    out = learned_returns(run, 2, 0)
    # Demos run the full 1000 steps; the untrained policy drops the pole within a few dozen
    # steps, and the absorbing tail charges it for the rest of the horizon.
    assert out["learned_return_demos"] == pytest.approx(-1000.0)
    assert out["learned_return_policy"] == pytest.approx(-1000.0)
    assert out["learned_reward_demo_step"] == pytest.approx(-1.0)
    assert out["learned_reward_absorbing_step"] == pytest.approx(-1.0)
    # An absorbing state cheaper than a step: ending early pays under the learned reward.
    monkeypatch.setattr(run.cost, "absorbing_cost", lambda: torch.tensor(0.25, dtype=torch.float64))
    out = learned_returns(run, 2, 0)
    assert out["learned_reward_demo_step"] == pytest.approx(-1.0)
    assert out["learned_reward_absorbing_step"] == pytest.approx(-0.25)
    policy, demos = out["learned_return_policy"], out["learned_return_demos"]
    assert policy is not None and demos is not None and policy > demos
    run.cost.absorbing = False
    assert absorbing_step_reward(run) is None
    policy = learned_returns(run, 2, 0)["learned_return_policy"]
    assert policy is not None and policy > -100.0


@pytest.mark.parametrize("tail_gamma", [0.99, 1.0])
def test_reopt_reward_pays_a_stop_as_the_absorbing_state_in_the_optimisers_discount(
    tmp_path: Path, tail_gamma: float
) -> None:
    """c ≡ 1 per step, 2 per absorbing step: an episode that drops the pole at step t has the
    discounted return, at the tail's γ, of the same steps followed by absorbing steps up to the
    horizon (1000)."""
    from irl.wrappers import LearnedRewardWrapper
    from irl_envs import make_env

    run = constant_cost_run(tmp_path, absorbing=2.0)
    reward = dataclasses.replace(run.learned_reward, tail_gamma=tail_gamma)
    assert reward.horizon == 1000
    env = LearnedRewardWrapper(make_env(run.env_id), reward)
    env.reset(seed=0)
    rewards, term = [], False
    while not term:
        _, r, term, trunc, _ = env.step(np.ones(1, np.float32))
        rewards.append(r)
        assert not trunc
    t = len(rewards)
    assert t < 1000
    g = tail_gamma ** np.arange(1000)
    expected = -g[:t].sum() - 2.0 * g[t:].sum()
    assert float(np.dot(g[:t], rewards)) == pytest.approx(expected, rel=1e-9)
    # The control pays the env's own reward: 1 per step the pole is up, 0 for the drop.
    control = LearnedRewardWrapper(make_env(run.env_id), reward, pay_true_reward=True)
    control.reset(seed=0)
    paid = [control.step(np.ones(1, np.float32))[1] for _ in range(t)]
    assert paid == [1.0] * (t - 1) + [0.0]


def test_irl_eval_names_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    """irl-eval on an empty directory fails with one line naming it and the missing file."""
    proc = subprocess.run(
        [str(BIN / "irl-eval"), f"run_dir={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert str(tmp_path) in proc.stderr and "config.yaml" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("cost_action", ["executed", "drawn"])
def test_ppo_cost_scores_the_executed_or_the_drawn_action(tmp_path: Path, cost_action: str) -> None:
    """cost_action=executed: the cost sees the clipped action; drawn: the Gaussian draw itself."""
    trainer = make_trainer(
        tmp_path, "debug=tiny", "sampler=ppo", f"sampler.cost_action={cost_action}"
    )
    assert trainer.reward is not None
    wide = torch.tensor([[-7.5], [0.5], [9.0]], dtype=torch.float64)  # box: [-3, 3]
    expected = [-3.0, 0.5, 3.0] if cost_action == "executed" else [-7.5, 0.5, 9.0]
    assert trainer.reward.cost_actions(wide).flatten().tolist() == expected


def test_unknown_cost_action_is_refused(tmp_path: Path) -> None:
    """A misspelt sampler.cost_action fails at construction, naming the key and the value."""
    with pytest.raises(ValueError, match=r"sampler\.cost_action.*'clipped'"):
        make_trainer(tmp_path, "debug=tiny", "sampler.cost_action=clipped")


def test_squashed_ppo_sampler_stores_env_unit_actions(tmp_path: Path) -> None:
    """experimental.ppo_squash: PPO acts through tanh rescaled to the bounds; the store sees env
    units."""
    from irl.sb3_adapter import SquashedActorCriticPolicy

    cfg = make_cfg("debug=tiny", "sampler=ppo", "experimental.ppo_squash=true", NO_WARMSTART)
    trainer = build_trainer(cfg, tmp_path, log=False)
    result = trainer.train(progress=False)
    sampler = trainer.sampler
    assert isinstance(sampler.model.policy, SquashedActorCriticPolicy)
    assert np.isfinite(result["return_mean"])
    data = sampler.recorder.stacked()
    acts = np.abs(data["actions"])
    half = float((sampler.act_high - sampler.act_low).max()) / 2  # InvertedPendulum: 3
    assert acts.max() <= half
    assert acts.max() > 1.0  # rescaled from SB3's [-1, 1] units
    assert all(np.isfinite(s["rollout/learned_reward_mean"]) for s in trainer.history)
    # The saved run rebuilds the squashed policy class: the same deterministic actions.
    run = save_run(trainer, cfg)
    assert isinstance(run.policy.sb3, SquashedActorCriticPolicy)
    obs = data["obs"][:5, 0]
    with sampler.recovered_policy() as model:
        want = model.predict(obs, deterministic=True)[0]
    np.testing.assert_allclose(run.policy(obs), want, rtol=1e-6)


def test_absorbing_floor_prices_a_fall_above_that_quantile_of_living_steps(tmp_path: Path) -> None:
    """algo.absorbing_floor=q: an absorbing step costs at least q of the rollout's step prices."""
    trainer = make_trainer(
        tmp_path, "debug=tiny", "algo.absorbing_floor=0.9", "sampler.cost_action=drawn"
    )
    stats = trainer.iterate()
    assert trainer.cost is not None and trainer.reward is not None
    c_abs = stats["disc/absorbing_cost"]
    assert c_abs >= stats["disc/absorbing_floor"]
    data = trainer.sampler.recorder.stacked()
    trainer._set_absorbing_floor(data)  # again, with the policy and cost as they are now
    obs = torch.as_tensor(data["obs"]).reshape(-1, data["obs"].shape[-1])
    acts = torch.as_tensor(data["actions"]).reshape(-1, data["actions"].shape[-1])
    with torch.no_grad():
        _, log_pi, _ = trainer.sampler.model.policy.evaluate_actions(obs.float(), acts.float())
        cost = trainer.cost.step_cost(obs.double(), acts.double())
        c_abs = float(trainer.cost.absorbing_cost())
    price = cost + trainer.reward.alpha * log_pi.double()  # what a living step costs the sampler
    floor = float(torch.quantile(price, 0.9))
    assert float(trainer.cost.abs_floor) == pytest.approx(floor, rel=1e-6)
    assert c_abs >= floor
    assert float((price <= c_abs).double().mean()) >= 0.9


def test_absorbing_floor_outside_zero_one_is_refused(tmp_path: Path) -> None:
    """A quantile above 1 fails before anything is built, naming the key and the value."""
    with pytest.raises(ValueError, match=r"algo\.absorbing_floor=1\.5"):
        make_trainer(tmp_path, "debug=tiny", "algo.absorbing_floor=1.5")
    assert not tmp_path.joinpath("checkpoint").exists()


def test_train_kwargs_change_the_rollout_env_only(tmp_path: Path) -> None:
    """env.train_kwargs reach the sampler's envs; evaluation keeps the registered task."""
    over = ("debug=tiny", "env=hopper", "+env.train_kwargs.terminate_when_unhealthy=false")
    trainer = make_trainer(tmp_path, *over)
    rollout_env = trainer.sampler.env.envs[0].unwrapped  # type: ignore[attr-defined]
    assert rollout_env._terminate_when_unhealthy is False
    assert "terminate_when_unhealthy" not in trainer.s.env_kwargs  # what evaluation builds
    trainer.iterate()  # 64 steps per env with random-ish actions: a Hopper falls in ~20
    assert not trainer.sampler.recorder.stacked()["terminated"].any()
    plain = make_trainer(tmp_path / "plain", "debug=tiny", "env=hopper")
    assert plain.sampler.env.envs[0].unwrapped._terminate_when_unhealthy is True  # type: ignore[attr-defined]
    plain.iterate()
    assert plain.sampler.recorder.stacked()["terminated"].any()  # the same rollouts do fall


def test_reward_scale_is_an_ema_of_the_discounted_return_std(tmp_path: Path) -> None:
    """reward_scale: std of returns summed back to each episode start, EMA 0.9 per call."""
    from irl.samplers import PPOSampler

    sampler = make_trainer(tmp_path, "debug=tiny", "sampler.normalize_reward=true").sampler
    assert isinstance(sampler, PPOSampler)
    g = sampler.model.gamma
    r1 = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 4.0]])
    starts = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    ret1 = [1.0, 2.0, g * 1.0 + 3.0, -1.0, 0.5, -g + 4.0]
    assert sampler.reward_scale(r1, starts) == pytest.approx(math.sqrt(np.var(ret1) + 1e-8))
    assert sampler.return_var == pytest.approx(np.var(ret1))
    r2 = 3.0 * r1
    want = 0.9 * np.var(ret1) + 0.1 * np.var(ret1) * 9.0
    assert sampler.reward_scale(r2, starts) == pytest.approx(math.sqrt(want + 1e-8))


def test_normalize_reward_divides_the_relabelled_rollout_by_its_return_scale(
    tmp_path: Path,
) -> None:
    """Same seed with and without: PPO's rewards differ by the logged scale, returns have std 1."""
    plain = make_trainer(tmp_path / "plain", "debug=tiny", "sampler.normalize_reward=false")
    plain.iterate()
    scaled = make_trainer(tmp_path / "scaled", "debug=tiny", "sampler.normalize_reward=true")
    stats = scaled.iterate()
    scale = stats["rollout/reward_scale"]
    assert scale > 0 and scale != pytest.approx(1.0)
    r_plain = plain.sampler.model.rollout_buffer.rewards.astype(np.float64)
    r_scaled = scaled.sampler.model.rollout_buffer.rewards.astype(np.float64)
    np.testing.assert_allclose(r_scaled * scale, r_plain, rtol=1e-5, atol=1e-5)
    # The first iteration's estimate is its own rollout's: its discounted returns have std 1.
    model = scaled.sampler.model
    g, starts = model.gamma, model.rollout_buffer.episode_starts
    ret, returns = np.zeros(r_scaled.shape[1]), []
    for t in range(r_scaled.shape[0]):
        ret = ret * g * (1.0 - starts[t]) + r_scaled[t]
        returns.append(ret)
    assert float(np.std(returns)) == pytest.approx(1.0, rel=1e-4)


def test_normalize_reward_is_refused_for_sac(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="normalize_reward applies to PPO"):
        make_trainer(tmp_path, "debug=tiny", "sampler=sac", "+sampler.normalize_reward=true")


def test_policy_ema_averages_the_weights_and_is_what_is_evaluated_and_saved(
    tmp_path: Path,
) -> None:
    """EMA = β·old + (1 − β)·new per iteration; evaluation, policy.safetensors and the loaded
    run's policy use it."""
    cfg = make_cfg("debug=tiny", "sampler.policy_ema=0.75")
    trainer = build_trainer(cfg, tmp_path, log=False)
    sampler = trainer.sampler
    pol = sampler.model.policy
    names = [k for k, v in pol.state_dict().items() if v.is_floating_point()]
    with torch.no_grad():
        for p in pol.parameters():
            p.fill_(1.0)
    sampler.update_recovered_policy()  # the first update copies the weights
    with torch.no_grad():
        for p in pol.parameters():
            p.fill_(3.0)
    sampler.update_recovered_policy()
    assert sampler.ema_state is not None
    for k in names:
        torch.testing.assert_close(sampler.ema_state[k], torch.full_like(pol.state_dict()[k], 1.5))
    with sampler.recovered_policy() as model:
        assert float(model.policy.state_dict()[names[0]].flatten()[0]) == 1.5
    assert float(pol.state_dict()[names[0]].flatten()[0]) == 3.0  # the sampler's own restored
    run = save_run(trainer, cfg)
    saved = load_file(str(tmp_path / "policy.safetensors"))
    assert all(float(saved[k].flatten()[0]) == 1.5 for k in names)
    loaded = run.policy.sb3.state_dict()
    assert all(float(loaded[k].flatten()[0]) == 1.5 for k in names)


def test_policy_ema_leaves_the_sampler_training_unchanged(tmp_path: Path) -> None:
    """Same seed with and without an EMA: identical sampler weights after evaluated iterations."""
    runs = {}
    for name, ema in (("plain", "null"), ("ema", "0.5")):
        trainer = make_trainer(
            tmp_path / name, "debug=tiny", NO_WARMSTART, f"sampler.policy_ema={ema}"
        )
        trainer.train(progress=False)  # evaluates after every iteration (debug=tiny)
        runs[name] = trainer.sampler
    live = runs["plain"].model.policy.state_dict()
    for k, v in runs["ema"].model.policy.state_dict().items():
        torch.testing.assert_close(v, live[k], rtol=0, atol=0)
    assert runs["plain"].ema_state is None
    averaged = runs["ema"].ema_state
    assert averaged is not None
    assert any(not torch.equal(averaged[k], live[k]) for k in live)


def test_policy_ema_of_one_or_more_is_refused(tmp_path: Path) -> None:
    """A decay of 1 would freeze the recovered policy at its first weights: refused by name."""
    with pytest.raises(ValueError, match=r"sampler\.policy_ema=1\.0"):
        make_trainer(tmp_path, "debug=tiny", "sampler.policy_ema=1.0")


def _obs_norm(policy: torch.nn.Module) -> RunningNorm:
    (norm,) = [m.norm for m in policy.modules() if isinstance(m, ObsNormExtractor)]
    return norm


def test_obs_norm_standardises_the_policy_input_from_the_demos_then_every_rollout(
    tmp_path: Path,
) -> None:
    """sampler.obs_norm: the statistics start as the training demos' and take in each rollout;
    the policy's weight average carries the latest statistics, not an average of them; the
    saved run's policy has them and acts as the recovered policy does."""
    cfg = make_cfg("debug=tiny", "sampler.obs_norm=true", "sampler.policy_ema=0.5")
    trainer = build_trainer(cfg, tmp_path, log=False)
    norm = _obs_norm(trainer.sampler.model.policy)
    demo_obs = np.concatenate([d.obs for d in trainer.demos]).astype(np.float64)
    assert float(norm.count) == len(demo_obs)
    np.testing.assert_allclose(norm.mean.numpy(), demo_obs.mean(0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(norm.var.numpy(), demo_obs.var(0), rtol=1e-9, atol=1e-12)
    x = torch.as_tensor(demo_obs[:5], dtype=torch.float32)
    want = ((x.double() - norm.mean) / (norm.var + 1e-6).sqrt()).clamp(-10, 10).float()
    torch.testing.assert_close(trainer.sampler.model.policy.extract_features(x), want)

    rollout_obs = []
    for _ in range(2):
        trainer.iterate()
        rollout_obs.append(trainer.sampler.recorder.stacked()["obs"].reshape(-1, demo_obs.shape[1]))
    seen = np.concatenate([demo_obs, *rollout_obs])
    assert float(norm.count) == len(seen)
    np.testing.assert_allclose(norm.mean.numpy(), seen.mean(0), rtol=1e-6, atol=1e-9)
    ema = trainer.sampler.ema_state
    assert ema is not None
    for k, v in trainer.sampler.model.policy.state_dict().items():
        if k.endswith(("norm.mean", "norm.var", "norm.count")):
            torch.testing.assert_close(ema[k], v)  # copied: the sampler's latest statistics

    run = save_run(trainer, cfg)
    assert run.artifacts["obs_norm"] is True
    torch.testing.assert_close(_obs_norm(run.policy.sb3).mean, norm.mean)
    with trainer.sampler.recovered_policy() as model:
        expect = model.predict(demo_obs[:5].astype(np.float32), deterministic=True)[0]
    np.testing.assert_allclose(run.policy(demo_obs[:5].astype(np.float32)), expect, rtol=1e-6)


def test_obs_norm_is_refused_for_sac_and_leaves_older_digests_alone(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="obs_norm applies to the PPO sampler only"):
        make_trainer(tmp_path, "debug=tiny", "sampler=sac", "+sampler.obs_norm=true")
    off = make_cfg("debug=tiny")
    before = {**off, "sampler": {k: v for k, v in off["sampler"].items() if k != "obs_norm"}}
    assert config_digest(off) == config_digest(before)  # checkpoints from before the key resume
    assert config_digest(make_cfg("debug=tiny", "sampler.obs_norm=true")) != config_digest(off)


def test_sampler_companion_and_its_older_name_turn_the_companion_on(tmp_path: Path) -> None:
    """sampler.companion (the per-task default) and experimental.scratch_sampler (its older
    name, in recorded commands) build the same companion; off, the digest is the one from
    before the key existed, so older checkpoints resume."""
    over = ("debug=tiny", "total_env_steps=128")
    on, legacy = (
        make_cfg(*over, "sampler.companion=true"),
        make_cfg(*over, "experimental.scratch_sampler=true"),
    )
    assert has_companion(on) and has_companion(legacy) and not has_companion(make_cfg(*over))
    assert make_trainer(tmp_path / "on", *over, "sampler.companion=true").companion is not None
    off = make_cfg(*over)
    before = {**off, "sampler": {k: v for k, v in off["sampler"].items() if k != "companion"}}
    assert config_digest(off) == config_digest(before)
    assert config_digest(on) != config_digest(off) != config_digest(legacy)


def test_result_carries_the_drift_diagnostics_at_each_evaluation(tmp_path: Path) -> None:
    """result.json's "diagnostics": one value per evaluation of each diagnostic, the mean of
    the iterations since the previous evaluation (the issue's σ / AUC / energies over time)."""
    history = [
        {"time/env_steps": 100, "rollout/policy_std_mean": 0.1, "disc/demo_energy": 1.0},
        {
            "time/env_steps": 200,
            "rollout/policy_std_mean": 0.3,
            "eval/normalized_return": 0.5,
            "companion/true_return_mean": -40.0,
            "disc/torque_weight": 0.1,
        },
        {"time/env_steps": 300, "rollout/policy_std_mean": float("nan")},
        {"time/env_steps": 400, "rollout/policy_std_mean": 0.6, "eval/normalized_return": 0.7},
    ]
    series = diagnostics_series(history)
    assert series["env_steps"] == [200, 400]
    assert series["policy_std"] == pytest.approx([0.2, 0.6])  # NaN rows are skipped
    assert series["demo_energy"] == [1.0, None]
    assert series["companion_true_return"] == [-40.0, None]
    assert series["torque_weight"] == [0.1, None]
    assert set(series) == {"env_steps", *DIAGNOSTICS}
    result = irl.train(["debug=tiny", "video.enabled=false"], run_dir=tmp_path / "run").result
    diag = result["diagnostics"]
    assert diag["env_steps"] == [int(k) for k, _ in result["curve"]][: len(diag["env_steps"])]
    assert diag["env_steps"] and all(v is not None for v in diag["policy_std"])
    assert all(0.0 <= v <= 1.0 for v in diag["heldout_auc"] if v is not None)


def test_coverage_episodes_join_the_store_as_a_fixed_sampler(tmp_path: Path) -> None:
    """experimental.coverage_episodes=2: two uniformly random episodes are stored once, under
    their exact uniform density, and stay through every iteration's eviction; the key joins
    the checkpoint digest only when on, so older checkpoints still resume."""
    over = ("debug=tiny", "algo.max_samplers=1", "total_env_steps=384")
    trainer = make_trainer(tmp_path, *over, "experimental.coverage_episodes=2")
    trainer.train(progress=False)
    store = trainer.store
    assert store is not None and store.fixed == {0} and trainer.iteration == 3
    assert store.live_samplers == [0, 3]  # the coverage and the newest snapshot
    coverage = [e for e in store.samples if e.owner == 0]
    assert len(coverage) == 2
    width = trainer.sampler.env.action_space.high - trainer.sampler.env.action_space.low
    uniform = -np.log(width.astype(np.float64)).sum()
    for e in coverage:
        assert np.allclose(e.log_pi[:, store.slot_of[0]], uniform)
        assert np.isfinite(e.log_pi[:, store.slot_of[3]]).all()
    assert "coverage_episodes" not in config_digest(make_cfg(*over))
    assert "coverage_episodes" in config_digest(make_cfg(*over, "experimental.coverage_episodes=2"))


def test_a_scratch_companion_trains_on_the_learned_reward_and_feeds_the_store(
    tmp_path: Path,
) -> None:
    """experimental.scratch_sampler=true: a second sampler, never behaviour-cloned, collects as
    many steps as the first each iteration; both snapshots score every stored step and both
    rollouts join the store; the result counts the companion's env steps apart."""
    over = ("debug=tiny", "total_env_steps=384", "algo.max_samplers=4")
    trainer = make_trainer(tmp_path, *over, "experimental.scratch_sampler=true")
    companion = trainer.companion
    assert companion is not None
    start = {k: v.clone() for k, v in companion.model.policy.state_dict().items()}
    trainer.train(progress=False)
    assert trainer.iteration == 3 and companion.num_timesteps == trainer.sampler.num_timesteps
    store = trainer.store
    assert store is not None and store.live_samplers == [2, 3, 4, 5]  # two per iteration
    assert {e.owner for e in store.samples} == {2, 3, 4, 5}
    assert all(np.isfinite(e.log_pi[:, list(store.slot_of.values())]).all() for e in store.samples)
    moved = any(
        not torch.equal(v, companion.model.policy.state_dict()[k]) for k, v in start.items()
    )
    assert moved  # it trained on the learned reward
    last = trainer.history[-1]
    assert last["companion/env_steps"] == 384 and "companion/rollout/learned_reward_mean" in last
    result = trainer.result(trainer.evaluate(1))
    assert result["env_steps"] == 384 and result["companion_env_steps"] == 384
    # The BC warm start is the main sampler's alone: the companion starts from its own seed.
    plain = make_trainer(tmp_path / "plain", *over)
    assert plain.companion is None
    assert "scratch_sampler" not in config_digest(make_cfg(*over))


def test_result_carries_the_training_wall_clock_of_each_evaluation(tmp_path: Path) -> None:
    """result.json's "curve_wall_clock_s": one (env steps, wall-clock) per point of "curve", the
    wall-clock rising and ending at the run's own (evaluations left out), and the BC warm start's
    seconds apart in "warmstart_s": what time-to-0.9 in the side-by-side job is read from."""
    result = irl.train(
        ["debug=tiny", "video.enabled=false", "algo.bc_warmstart_epochs=2"], run_dir=tmp_path / "r"
    ).result
    walls = result["curve_wall_clock_s"]
    assert [k for k, _ in walls] == [k for k, _ in result["curve"]] and len(walls) >= 2
    seconds = [w for _, w in walls]
    assert seconds[0] > 0 and seconds == sorted(seconds)
    assert seconds[-1] == pytest.approx(result["wall_clock_s"])
    assert result["warmstart_s"] > 0 and result["curve_eval_episodes"] == 1  # debug=tiny
    plain = irl.train(
        ["debug=tiny", "video.enabled=false", "algo.bc_warmstart_epochs=0"], run_dir=tmp_path / "p"
    ).result
    assert plain["warmstart_s"] == 0.0


def test_sac_replay_discounts_the_absorbing_tail_by_sacs_gamma(tmp_path: Path) -> None:
    """SAC's relabelled replay charges a termination followed by n absorbing steps
    γ Σ_{i<n} γ^i c_abs (its own γ), where the MaxEnt reward (γ = 1) charges n c_abs; other steps
    are priced alike, and ``improve`` relabels with the discounted reward."""
    trainer = make_trainer(tmp_path, "debug=tiny", "sampler=sac")
    trainer.train(progress=False)
    assert trainer.reward is not None and trainer.cost is not None
    gamma = float(trainer.sampler.model.gamma)
    replay = trainer.sampler.replay_reward(trainer.reward)
    rng = np.random.default_rng(0)
    env = trainer.sampler.env
    obs = torch.as_tensor(rng.normal(size=(3, *env.observation_space.shape)))
    acts = torch.as_tensor(rng.uniform(-1, 1, size=(3, *env.action_space.shape)))
    term = torch.tensor([False, True, True])
    n = torch.tensor([0.0, 1.0, 150.0], dtype=torch.float64)
    base = trainer.reward.torch(obs, acts, obs, term, n)
    disc = replay.torch(obs, acts, obs, term, n)
    c_abs = trainer.reward.absorbing_price()
    assert c_abs != 0.0
    # A termination with no absorbing step left pays no tail (and the same shaping).
    step = trainer.reward.torch(obs, acts, obs, term, torch.zeros(3, dtype=torch.float64))
    expected_tail = gamma * c_abs * (1 - gamma**n) / (1 - gamma)
    assert torch.allclose(step - disc, expected_tail, rtol=1e-9, atol=1e-9)
    assert torch.allclose(step - base, c_abs * n, rtol=1e-9, atol=1e-9)
    buffer_fn = trainer.sampler.model.replay_buffer.reward_fn
    assert torch.allclose(buffer_fn(obs, acts, obs, term, n), disc)


def test_sac_policy_std_is_its_gaussians_sigma_over_the_last_rollout(tmp_path: Path) -> None:
    """The SAC sampler reports the σ of its state-dependent Gaussian (a diagnostic the records
    keep): finite after a rollout, and doubled when the actor's log σ head is shifted by log 2."""
    trainer = make_trainer(tmp_path, "debug=tiny", "sampler=sac")
    sampler = trainer.sampler
    assert np.isnan(sampler.policy_std())
    sampler.collect(seed=0)
    sigma = sampler.policy_std()
    assert np.isfinite(sigma) and sigma > 0
    with torch.no_grad():
        sampler.model.actor.log_std.bias += np.log(2.0)
    assert sampler.policy_std() == pytest.approx(2 * sigma, rel=1e-5)

"""The MuJoCo IRL loop: every trainer x sampler runs, resume is exact, GAN-GCL learns, irl-eval."""

from __future__ import annotations

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

from irl.cli import CONF_DIR
from irl.trainer import CheckpointError, Trainer

ROOT = Path(__file__).resolve().parents[1]


def make_cfg(*overrides: str) -> dict[str, Any]:
    """The irl-train config as the CLI composes it, as a plain dict."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        cfg = compose("train", overrides=list(overrides))
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    return container  # type: ignore[return-value]


def constant_cost_trainer(tmp_path: Path, absorbing: float | None = None) -> Trainer:
    """A debug-config trainer whose cost is 1 on every step and h ≡ 0; with ``absorbing``, an
    absorbing step costs that (through the floor), otherwise 1 as well."""
    extra = () if absorbing is None else ("algo.absorbing_floor=0.5",)
    trainer = Trainer(make_cfg("debug=tiny", *extra), tmp_path, log=False)
    assert trainer.disc is not None
    with torch.no_grad():
        for net in (trainer.disc.cost, trainer.disc.h):
            assert net is not None
            for p in net.parameters():
                p.zero_()
        trainer.disc.cost.net[-1].bias.fill_(1.0)
    if absorbing is not None:
        trainer.disc.set_absorbing_floor(absorbing)
    return trainer


def _finite_metrics(stats: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in stats.items() if not k.startswith("time/") and math.isfinite(v)}


@pytest.mark.parametrize("sampler", ["ppo", "sac"])
@pytest.mark.parametrize("algo", ["gan_gcl", "gcl", "airl", "airl_state", "gail", "bc"])
def test_every_trainer_and_sampler_runs_two_iterations(
    tmp_path: Path, algo: str, sampler: str
) -> None:
    """Each algorithm with each sampler finishes a tiny budget with finite metrics and a result."""
    cfg = make_cfg("debug=tiny", f"algo={algo}", f"sampler={sampler}")
    trainer = Trainer(cfg, tmp_path, log=False)
    result = trainer.train(progress=False)
    assert result["algo"] == algo
    assert np.isfinite(result["return_mean"])
    if algo == "bc":
        assert result["env_steps"] == 0
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
    assert (tmp_path / "cost.safetensors").exists()


@pytest.mark.parametrize(
    ("sampler", "extra"),
    [
        ("ppo", ()),
        ("sac", ()),
        ("ppo", ("sampler.normalize_reward=true", "sampler.policy_ema=0.5")),
    ],
)
def test_resume_gives_the_same_next_iteration_metrics(
    tmp_path: Path, sampler: str, extra: tuple[str, ...]
) -> None:
    """3 uninterrupted iterations == 2 iterations, a checkpoint, a new process state, 1 more."""
    over = ("debug=tiny", "algo=gan_gcl", f"sampler={sampler}", *extra, "total_env_steps=384")
    full = Trainer(make_cfg(*over), tmp_path / "full", log=False)
    full.train(progress=False)
    assert full.iteration == 3

    part_cfg = make_cfg(*over[:-1], "total_env_steps=256")
    part = Trainer(part_cfg, tmp_path / "part", log=False)
    part.train(progress=False)
    # Perturb every global RNG, as a fresh process would have them, before resuming.
    torch.manual_seed(12345)
    np.random.seed(54321)  # noqa: NPY002 - SB3's global numpy RNG must be restored by resume
    resumed = Trainer(make_cfg(*over), tmp_path / "part", log=False)
    resumed.train(progress=False)
    assert resumed.iteration == 3
    want = _finite_metrics(full.history[-1])
    got = _finite_metrics(resumed.history[-1])
    assert want.keys() == got.keys()
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-9, abs=1e-9), k


def test_resume_refuses_a_checkpoint_of_another_config(tmp_path: Path) -> None:
    """A changed config in the same run directory is an error naming the checkpoint, not a mix."""
    Trainer(make_cfg("debug=tiny"), tmp_path, log=False).train(progress=False)
    with pytest.raises(CheckpointError, match="checkpoint"):
        Trainer(make_cfg("debug=tiny", "algo.lr=0.5"), tmp_path, log=False).train(progress=False)


def test_corrupt_checkpoint_gives_a_clear_error(tmp_path: Path) -> None:
    """Garbage in the checkpoint file: CheckpointError naming the directory, no torch traceback."""
    Trainer(make_cfg("debug=tiny"), tmp_path, log=False).train(progress=False)
    state = tmp_path / "checkpoint" / "state.pt"
    state.write_bytes(state.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"checkpoint.*cannot read"):
        Trainer(make_cfg("debug=tiny"), tmp_path, log=False).train(progress=False)


def test_gan_gcl_improves_heldout_accuracy_and_return_on_inverted_pendulum(
    tmp_path: Path,
) -> None:
    """Within a short budget the learned cost ranks held-out demos below fresh samples, D
    classifies them, and the sampler's return rises far above its start (expert: 1000)."""
    cfg = make_cfg(
        "total_env_steps=40000",
        "eval.every_iters=1000",
        "eval.final_episodes=5",
        "video.enabled=false",
    )
    trainer = Trainer(cfg, tmp_path, log=False)
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
    env = {"MUJOCO_GL": "egl", "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    subprocess.run(
        [
            str(Path(sys.executable).parent / "irl-train"),
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
        "result.json",
    ):
        assert (run / name).stat().st_size > 0, name
    assert list(run.glob("events.out.tfevents.*"))
    header = (run / "progress.csv").read_text().splitlines()[0].split(",")
    for key in ("disc/loss", "disc/log_z", "disc/ess_frac", "rollout/learned_reward_mean"):
        assert key in header
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "irl-eval"),
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
    from irl.cli.evaluate import absorbing_step_reward, learned_returns

    trainer = constant_cost_trainer(tmp_path)
    assert trainer.disc is not None
    out = learned_returns(trainer, 2, 0)
    # Demos run the full 1000 steps; the untrained policy drops the pole within a few dozen
    # steps, and the absorbing tail charges it for the rest of the horizon.
    assert out["learned_return_demos"] == pytest.approx(-1000.0)
    assert out["learned_return_policy"] == pytest.approx(-1000.0)
    assert out["learned_reward_demo_step"] == pytest.approx(-1.0)
    assert out["learned_reward_absorbing_step"] == pytest.approx(-1.0)
    # An absorbing state cheaper than a step: ending early pays under the learned reward.
    monkeypatch.setattr(
        trainer.disc, "absorbing_cost", lambda: torch.tensor(0.25, dtype=torch.float64)
    )
    out = learned_returns(trainer, 2, 0)
    assert out["learned_reward_demo_step"] == pytest.approx(-1.0)
    assert out["learned_reward_absorbing_step"] == pytest.approx(-0.25)
    assert out["learned_return_policy"] > out["learned_return_demos"]
    trainer.disc.absorbing = False
    assert absorbing_step_reward(trainer) is None
    assert learned_returns(trainer, 2, 0)["learned_return_policy"] > -100.0


@pytest.mark.parametrize("tail_gamma", [0.99, 1.0])
def test_reopt_reward_pays_a_stop_as_the_absorbing_state_in_the_optimisers_discount(
    tmp_path: Path, tail_gamma: float
) -> None:
    """c ≡ 1 per step, 2 per absorbing step: an episode that drops the pole at step t has the
    discounted return, at the tail's γ, of the same steps followed by absorbing steps up to the
    horizon (1000)."""
    from envs import make_env
    from irl.cli.evaluate import LearnedRewardWrapper

    trainer = constant_cost_trainer(tmp_path, absorbing=2.0)
    env = LearnedRewardWrapper(make_env(trainer.env_id), trainer, 1000, tail_gamma)
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
    control = LearnedRewardWrapper(make_env(trainer.env_id), trainer, 1000, tail_gamma, True)
    control.reset(seed=0)
    paid = [control.step(np.ones(1, np.float32))[1] for _ in range(t)]
    assert paid == [1.0] * (t - 1) + [0.0]


def test_irl_eval_names_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    """irl-eval on an empty directory fails with one line naming it and the missing file."""
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "irl-eval"), f"run_dir={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert str(tmp_path) in proc.stderr and "config.yaml" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ppo_noise_is_capped_at_max_std_of_the_action_half_range(tmp_path: Path) -> None:
    """The clipped Gaussian's −α log π would widen σ without bound; the cap holds it."""
    cfg = make_cfg("debug=tiny", "sampler=ppo", "sampler.max_std=0.05")
    trainer = Trainer(cfg, tmp_path, log=False)
    trainer.train(progress=False)
    half = float((trainer.act_high - trainer.act_low).max()) / 2  # InvertedPendulum: 3
    std = trainer.model.policy.log_std.exp().detach()
    assert float(std.max()) <= 0.05 * half + 1e-6
    assert trainer.history[-1]["rollout/policy_std_mean"] == pytest.approx(float(std.mean()))
    uncapped = Trainer(make_cfg("debug=tiny", "sampler.max_std=null"), tmp_path / "u", log=False)
    uncapped.train(progress=False)
    assert float(uncapped.model.policy.log_std.detach().exp().min()) > 0.05 * half


@pytest.mark.parametrize("cost_action", ["executed", "drawn"])
def test_ppo_cost_scores_the_executed_or_the_drawn_action(tmp_path: Path, cost_action: str) -> None:
    """cost_action=executed: the cost sees the clipped action; drawn: the Gaussian draw itself."""
    cfg = make_cfg("debug=tiny", "sampler=ppo", f"sampler.cost_action={cost_action}")
    trainer = Trainer(cfg, tmp_path, log=False)
    wide = torch.tensor([[-7.5], [0.5], [9.0]], dtype=torch.float64)  # box: [-3, 3]
    expected = [-3.0, 0.5, 3.0] if cost_action == "executed" else [-7.5, 0.5, 9.0]
    assert trainer._cost_actions(wide).flatten().tolist() == expected


def test_unknown_cost_action_is_refused(tmp_path: Path) -> None:
    """A misspelt sampler.cost_action fails at construction, naming the key and the value."""
    with pytest.raises(ValueError, match=r"sampler\.cost_action.*'clipped'"):
        Trainer(make_cfg("debug=tiny", "sampler.cost_action=clipped"), tmp_path, log=False)


def test_squashed_ppo_sampler_stores_env_unit_actions(tmp_path: Path) -> None:
    """sampler.squash: PPO acts through tanh rescaled to the bounds; the store sees env units."""
    from irl.sb3_adapter import SquashedActorCriticPolicy

    trainer = Trainer(
        make_cfg("debug=tiny", "sampler=ppo", "sampler.squash=true"), tmp_path, log=False
    )
    result = trainer.train(progress=False)
    assert isinstance(trainer.model.policy, SquashedActorCriticPolicy)
    assert np.isfinite(result["return_mean"])
    acts = np.abs(trainer.recorder.stacked()["actions"])
    half = float((trainer.act_high - trainer.act_low).max()) / 2  # InvertedPendulum: 3
    assert acts.max() <= half
    assert acts.max() > 1.0  # rescaled from SB3's [-1, 1] units
    assert all(np.isfinite(s["rollout/learned_reward_mean"]) for s in trainer.history)


def test_absorbing_floor_prices_a_fall_above_that_quantile_of_living_steps(tmp_path: Path) -> None:
    """algo.absorbing_floor=q: an absorbing step costs at least q of the rollout's step prices."""
    cfg = make_cfg("debug=tiny", "algo.absorbing_floor=0.9", "sampler.cost_action=drawn")
    trainer = Trainer(cfg, tmp_path, log=False)
    stats = trainer.iterate()
    assert trainer.disc is not None
    c_abs = stats["disc/absorbing_cost"]
    assert c_abs >= stats["disc/absorbing_floor"]
    trainer._set_absorbing_floor()  # again, with the policy and cost as they are now
    data = trainer.recorder.stacked()
    obs = torch.as_tensor(data["obs"]).reshape(-1, trainer.obs_dim)
    acts = torch.as_tensor(data["actions"]).reshape(-1, trainer.act_dim)
    with torch.no_grad():
        _, log_pi, _ = trainer.model.policy.evaluate_actions(obs.float(), acts.float())
        cost = trainer.disc.step_cost(obs.double(), acts.double())
        c_abs = float(trainer.disc.absorbing_cost())
    price = cost + trainer.alpha * log_pi.double()  # what a living step costs the sampler
    floor = float(torch.quantile(price, 0.9))
    assert float(trainer.disc.abs_floor) == pytest.approx(floor, rel=1e-6)
    assert c_abs >= floor
    assert float((price <= c_abs).double().mean()) >= 0.9


def test_absorbing_floor_outside_zero_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"quantile in \[0, 1\] \(or null\), got 1\.5"):
        Trainer(make_cfg("debug=tiny", "algo.absorbing_floor=1.5"), tmp_path, log=False)


def test_train_kwargs_change_the_rollout_env_only(tmp_path: Path) -> None:
    """env.train_kwargs reach the sampler's envs; evaluation keeps the registered task."""
    over = ("debug=tiny", "env=hopper", "+env.train_kwargs.terminate_when_unhealthy=false")
    trainer = Trainer(make_cfg(*over), tmp_path, log=False)
    rollout_env = trainer.env.envs[0].unwrapped
    assert rollout_env._terminate_when_unhealthy is False  # type: ignore[attr-defined]
    assert "terminate_when_unhealthy" not in trainer.env_kwargs  # what evaluation builds
    trainer.iterate()  # 128 steps per env with random-ish actions: a Hopper falls in ~20
    assert not trainer.recorder.stacked()["terminated"].any()
    plain = Trainer(make_cfg("debug=tiny", "env=hopper"), tmp_path / "plain", log=False)
    assert plain.env.envs[0].unwrapped._terminate_when_unhealthy is True  # type: ignore[attr-defined]
    plain.iterate()
    assert plain.recorder.stacked()["terminated"].any()  # the same rollouts do fall


def test_reward_scale_is_an_ema_of_the_discounted_return_std(tmp_path: Path) -> None:
    """reward_scale: std of returns summed back to each episode start, EMA 0.9 per call."""
    trainer = Trainer(make_cfg("debug=tiny", "sampler.normalize_reward=true"), tmp_path, log=False)
    g = trainer.model.gamma
    r1 = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 4.0]])
    starts = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    ret1 = [1.0, 2.0, g * 1.0 + 3.0, -1.0, 0.5, -g + 4.0]
    assert trainer.reward_scale(r1, starts) == pytest.approx(math.sqrt(np.var(ret1) + 1e-8))
    r2 = 3.0 * r1
    want = 0.9 * np.var(ret1) + 0.1 * np.var(ret1) * 9.0
    assert trainer.reward_scale(r2, starts) == pytest.approx(math.sqrt(want + 1e-8))


def test_normalize_reward_divides_the_relabelled_rollout_by_its_return_scale(
    tmp_path: Path,
) -> None:
    """Same seed with and without: PPO's rewards differ by the logged scale, returns have std 1."""
    plain = Trainer(make_cfg("debug=tiny"), tmp_path / "plain", log=False)
    plain.iterate()
    cfg = make_cfg("debug=tiny", "sampler.normalize_reward=true")
    scaled = Trainer(cfg, tmp_path / "scaled", log=False)
    stats = scaled.iterate()
    scale = stats["rollout/reward_scale"]
    assert scale > 0 and scale != pytest.approx(1.0)
    r_plain = plain.model.rollout_buffer.rewards.astype(np.float64)
    r_scaled = scaled.model.rollout_buffer.rewards.astype(np.float64)
    np.testing.assert_allclose(r_scaled * scale, r_plain, rtol=1e-5, atol=1e-5)
    # The first iteration's estimate is its own rollout's: its discounted returns have std 1.
    g, starts = scaled.model.gamma, scaled.model.rollout_buffer.episode_starts
    ret, returns = np.zeros(r_scaled.shape[1]), []
    for t in range(r_scaled.shape[0]):
        ret = ret * g * (1.0 - starts[t]) + r_scaled[t]
        returns.append(ret)
    assert float(np.std(returns)) == pytest.approx(1.0, rel=1e-4)


def test_normalize_reward_is_refused_for_sac(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="normalize_reward applies to PPO"):
        Trainer(
            make_cfg("debug=tiny", "sampler=sac", "+sampler.normalize_reward=true"),
            tmp_path,
            log=False,
        )


def test_policy_ema_averages_the_weights_and_is_what_is_evaluated_and_saved(
    tmp_path: Path,
) -> None:
    """EMA = β·old + (1 − β)·new per iteration; evaluation and policy.safetensors use it."""
    from safetensors.torch import load_file

    trainer = Trainer(make_cfg("debug=tiny", "sampler.policy_ema=0.75"), tmp_path, log=False)
    pol = trainer.model.policy
    names = [k for k, v in pol.state_dict().items() if v.is_floating_point()]
    with torch.no_grad():
        for p in pol.parameters():
            p.fill_(1.0)
    trainer._update_policy_ema()  # the first update copies the weights
    with torch.no_grad():
        for p in pol.parameters():
            p.fill_(3.0)
    trainer._update_policy_ema()
    assert trainer.ema_state is not None
    for k in names:
        torch.testing.assert_close(trainer.ema_state[k], torch.full_like(pol.state_dict()[k], 1.5))
    with trainer.recovered_policy():
        assert float(pol.state_dict()[names[0]].flatten()[0]) == 1.5
    assert float(pol.state_dict()[names[0]].flatten()[0]) == 3.0  # the sampler's own restored
    trainer.save_artifacts()
    saved = load_file(str(tmp_path / "policy.safetensors"))
    assert all(float(saved[k].flatten()[0]) == 1.5 for k in names)


def test_policy_ema_leaves_the_sampler_training_unchanged(tmp_path: Path) -> None:
    """Same seed with and without an EMA: identical sampler weights after evaluated iterations."""
    runs = {}
    for name, extra in (("plain", ()), ("ema", ("sampler.policy_ema=0.5",))):
        trainer = Trainer(make_cfg("debug=tiny", *extra), tmp_path / name, log=False)
        trainer.train(progress=False)  # evaluates after every iteration (debug=tiny)
        runs[name] = trainer
    live = runs["plain"].model.policy.state_dict()
    for k, v in runs["ema"].model.policy.state_dict().items():
        torch.testing.assert_close(v, live[k], rtol=0, atol=0)
    assert runs["ema"].ema_state is not None
    ema = runs["ema"].ema_state
    assert any(not torch.equal(ema[k], live[k]) for k in live)


def test_policy_ema_of_one_or_more_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"policy_ema must be a decay in \[0, 1\)"):
        Trainer(make_cfg("debug=tiny", "sampler.policy_ema=1.0"), tmp_path, log=False)

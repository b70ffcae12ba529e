"""The public API: ``irl.train`` and ``irl.load_run`` give a :class:`irl.run.Run` whose learned
reward is the cost with its absorbing tail; both reward wrappers pay it; a run directory fails
clearly when its demo file moved or changed; a video that cannot be rendered costs no result;
a run that fails before training writes nothing."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.vec_env import DummyVecEnv

import irl
from irl.demos import DemoFileError
from irl.reward import termination_floor
from irl.run import Run, RunDirError
from irl.wrappers import LearnedRewardWrapper, RewardVecEnvWrapper

ROOT = Path(__file__).resolve().parents[1]
# A tiny InvertedPendulum run: 2 iterations of 128 env steps, 2 demos, no warm start, no video.
TINY = (
    "env=inverted_pendulum",
    "debug=tiny",
    "video.enabled=false",
    "algo.bc_warmstart_epochs=0",
)
END = 5  # Countdown terminates after this many steps


class Countdown(gym.Env[np.ndarray, np.ndarray]):
    """InvertedPendulum's spaces (4-dim observations, 1-dim actions in [-3, 3]); terminates
    after ``END`` steps and pays ``10 + t`` at step t (1-based)."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float64)
    action_space = gym.spaces.Box(-3.0, 3.0, (1,), np.float32)

    def __init__(self) -> None:
        self.t = 0

    def _obs(self) -> np.ndarray:
        noise = self.np_random.normal(scale=0.05, size=4)
        return np.array([0.1 * self.t, -0.05 * self.t, 0.2, -0.1]) + noise

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Episode step 0."""
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One step; terminated at step ``END``."""
        self.t += 1
        return self._obs(), 10.0 + self.t, self.t >= END, False, {}


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped InvertedPendulum demos (the tests move and change copies)."""
    path = tmp_path_factory.mktemp("demos") / "pendulum_demos.npz"
    shutil.copy(ROOT / "demos" / "InvertedPendulum-v5.npz", path)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, demo_file: Path) -> tuple[Run, Path]:
    """One tiny run through irl.train: what it returned, and its directory."""
    run_dir = tmp_path_factory.mktemp("api") / "run"
    return irl.train([*TINY, f"demo_path={demo_file}"], run_dir=run_dir), run_dir


def _constant_cost(run: Run, step: float, absorbing: float, h: float) -> None:
    """Make the run's cost c ≡ ``step`` on living steps and ``absorbing`` on an absorbing
    step (through the absorbing flag input), and the potential h ≡ ``h``."""
    assert run.cost is not None and run.cost.h is not None
    nets = (run.cost.cost.net, run.cost.h.net)
    with torch.no_grad():
        for net in nets:
            for p in net.parameters():
                p.zero_()
        first, second, last = (m for m in run.cost.cost.net if isinstance(m, torch.nn.Linear))
        flag = first.in_features - 1 - int(run.artifacts["act_dim"])  # after obs, before acts
        first.weight[0, flag] = 1.0  # unit 0 of each layer carries the flag
        second.weight[0, 0] = 1.0
        last.weight[0, 0] = absorbing - step
        last.bias.fill_(step)
        h_last = [m for m in run.cost.h.net if isinstance(m, torch.nn.Linear)][-1]
        h_last.bias.fill_(h)


def test_train_returns_the_loaded_run(trained: tuple[Run, Path]) -> None:
    """irl.train writes the run directory as irl-train does and returns it loaded."""
    run, run_dir = trained
    assert isinstance(run, irl.Run) and run.dir == run_dir.resolve()
    for name in ("config.yaml", "artifacts.json", "result.json"):
        assert (run_dir / name).is_file(), name
    assert run.env_id == "InvertedPendulum-v5" and run.horizon == 1000
    assert run.result["env_steps"] == 256 and run.result["iterations"] == 2
    assert run.config["n_demos"] == 2 and run.artifacts["algo"] == "gan_gcl"
    assert isinstance(run.reward, irl.LearnedReward) and run.reward is run.learned_reward
    assert len(run.demos.train) == 2 and run.demos.heldout


def test_load_run_from_another_directory_builds_no_env(
    trained: tuple[Run, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative run path from another working directory loads; neither the sampler, its
    envs nor any gymnasium env is built for the run, its reward or its policy."""
    import gymnasium.envs.registration

    import irl.build
    import irl.samplers
    import irl_envs

    _, run_dir = trained
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("load_run built an environment or a sampler")

    rng = np.random.default_rng(1)
    obs = rng.normal(scale=0.1, size=(6, 4))
    acts = rng.uniform(-3, 3, size=(5, 1))
    with monkeypatch.context() as m:
        for module, name in (
            (irl.samplers, "make_sampler"),
            (irl.build, "make_sampler"),
            (irl_envs, "make_env"),
            (irl.build, "make_env"),
            (gym, "make"),
            (gymnasium.envs.registration, "make"),
        ):
            m.setattr(module, name, refuse)
        run = irl.load_run(os.path.relpath(run_dir, elsewhere))
        assert run.dir == run_dir.resolve()
        policy_acts = run.policy(obs)
        assert policy_acts.shape == (6, 1) and np.all(np.isfinite(policy_acts))
        r = run.learned_reward(obs[:-1], acts, obs[1:], np.zeros(5, bool))
        assert r.shape == (5,) and np.all(np.isfinite(r))
    # The demo file is found by its recorded absolute path (its check against the task's
    # spaces may build the env).
    assert len(run.demos.train) == 2


def test_reward_is_minus_the_cost_plus_shaping_minus_the_absorbing_tail(
    trained: tuple[Run, Path],
) -> None:
    """By hand, with c ≡ 1, c_abs = 3 and h ≡ 0.5 (GAN-GCL, γ = 1): a living step pays
    −1 + h(x') − h(x) = −1; a termination with n absorbing steps left pays −1 − h(x) − 3n
    (the default n is horizon − 1); a tail discounted by g pays −3 g Σ_{i<n} g^i."""
    _, run_dir = trained
    run = irl.load_run(run_dir)  # a fresh copy: its cost is changed below
    reward = dataclasses.replace(run.learned_reward, termination_floor=None)  # c_abs as learned
    _constant_cost(run, step=1.0, absorbing=3.0, h=0.5)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(4, 4)).astype(np.float32)
    next_obs = rng.normal(size=(4, 4)).astype(np.float32)
    acts = rng.uniform(-3, 3, size=(4, 1)).astype(np.float32)
    term = np.array([False, True, True, False])
    r = reward(obs, acts, next_obs, term)
    assert r.dtype == np.float64 and r.shape == (4,)
    np.testing.assert_allclose(r, [-1.0, -1.5 - 3 * 999, -1.5 - 3 * 999, -1.0], rtol=1e-12)
    r = reward(obs, acts, next_obs, term, steps_left=np.array([7.0, 10.0, 0.0, 5.0]))
    np.testing.assert_allclose(r, [-1.0, -31.5, -1.5, -1.0], rtol=1e-12)
    np.testing.assert_array_equal(
        reward(obs, acts, next_obs), reward(obs, acts, next_obs, np.zeros(4, bool))
    )
    half = dataclasses.replace(reward, tail_gamma=0.5)
    r = half(obs[1:2], acts[1:2], next_obs[1:2], np.array([True]), np.array([10.0]))
    assert r[0] == pytest.approx(-1.5 - 3 * 0.5 * (1 - 0.5**10) / (1 - 0.5), rel=1e-12)


def test_a_termination_is_priced_no_better_than_the_costliest_training_demo_step(
    trained: tuple[Run, Path], tmp_path: Path
) -> None:
    """The reward a run hands out floors the absorbing cost at the highest step cost of its
    training demos, saved in artifacts.json (and computed from the demos for a run saved
    without it), a demo that falls counting with its living steps; with c ≡ 1, c_abs = 3 a
    floor of 5 makes a termination with n absorbing steps left pay −1 − h(x) − 5n, a floor of
    2 leaves c_abs; a run whose floor cannot be known warns and pays c_abs as learned."""
    run, run_dir = trained
    assert run.cost is not None and run.cost.absorbing
    with torch.no_grad():
        highest = max(
            float(run.cost.step_cost(torch.tensor(d.obs[:-1], dtype=torch.float64),
                                     torch.tensor(d.acts, dtype=torch.float64)).max())
            for d in run.demos.train
        )  # fmt: skip
    floor = run.learned_reward.termination_floor
    assert floor == pytest.approx(highest, rel=1e-12)
    artifacts = json.loads((run_dir / "artifacts.json").read_text())
    assert artifacts["termination_floor"] == pytest.approx(highest, rel=1e-12)
    learned = float(run.cost.absorbing_cost().detach())
    assert run.learned_reward.absorbing_price() == max(highest, learned)

    fell = run.demos.train[0]  # a demo that ends in a fall counts with its living steps
    term = np.zeros(len(fell), bool)
    term[-1] = True
    fell = dataclasses.replace(fell, terminated=term, truncated=np.zeros(len(fell), bool))
    assert termination_floor(run.learned_reward, [fell, *run.demos.train[1:]]) == floor

    old = tmp_path / "old"  # a run saved before the floor was: the demos give the same one
    shutil.copytree(run_dir, old)
    del artifacts["termination_floor"]
    (old / "artifacts.json").write_text(json.dumps(artifacts))
    assert irl.load_run(old).learned_reward.termination_floor == pytest.approx(highest, 1e-12)

    fresh = irl.load_run(run_dir)
    _constant_cost(fresh, step=1.0, absorbing=3.0, h=0.5)
    obs, next_obs = np.zeros((1, 4), np.float32), np.ones((1, 4), np.float32)
    acts, term = np.zeros((1, 1), np.float32), np.array([True])
    for floor, price in ((5.0, 5.0), (2.0, 3.0)):
        r = dataclasses.replace(fresh.learned_reward, termination_floor=floor)
        assert r.absorbing_price() == pytest.approx(price, rel=1e-12)
        got = r(obs, acts, next_obs, term, np.array([10.0]))
        assert got[0] == pytest.approx(-1.5 - price * 10, rel=1e-12)

    artifacts["demo_path"] = str(tmp_path / "gone.npz")
    (old / "artifacts.json").write_text(json.dumps(artifacts))
    with pytest.warns(UserWarning, match="no termination floor saved and its demos cannot"):
        assert irl.load_run(old).learned_reward.termination_floor is None
    artifacts["termination_floor"] = "high"
    (old / "artifacts.json").write_text(json.dumps(artifacts))
    with pytest.raises(RunDirError, match="invalid termination_floor 'high'"):
        irl.load_run(old)


def test_reward_composes_the_trained_cost_its_shaping_and_its_tail(
    trained: tuple[Run, Path],
) -> None:
    """With the trained weights: r = −c(x, u) + γ h(x') [not at a termination] − h(x)
    − [terminated] γ c_abs Σ_{i<n} γ^i, term by term from the cost model's own parts."""
    run, _ = trained
    cost = run.cost
    assert cost is not None and cost.gamma == 1.0
    demo = run.demos.train[0]
    obs, acts = demo.obs[:8].astype(np.float64), demo.acts[:8].astype(np.float64)
    next_obs = demo.obs[1:9].astype(np.float64)
    term = np.arange(8) % 3 == 2
    left = np.where(term, np.arange(8) * 10.0, 0.0)
    r = run.learned_reward(obs, acts, next_obs, term, left)
    t = torch.as_tensor
    with torch.no_grad():
        c = cost.step_cost(t(obs), t(acts)).numpy()
        h, h_next = cost.potential(t(obs)).numpy(), cost.potential(t(next_obs)).numpy()
        floor = run.learned_reward.termination_floor
        assert floor is not None
        c_abs = max(float(cost.absorbing_cost()), floor)  # the termination's price
    want = -c + np.where(term, 0.0, h_next) - h - np.where(term, c_abs * left, 0.0)
    np.testing.assert_allclose(r, want, rtol=1e-10, atol=1e-10)


def _gym_episode(env: gym.Env[Any, Any], n: int) -> dict[str, Any]:
    """``n`` steps of fixed actions; the transitions, paid and true rewards, last info."""
    obs, _ = env.reset(seed=3)
    rows: dict[str, list[Any]] = {k: [] for k in ("obs", "acts", "next", "term", "r", "true")}
    info: dict[str, Any] = {}
    for step in range(n):
        a = np.array([0.5 * step - 1.0], np.float32)
        nxt, r, term, trunc, info = env.step(a)
        for k, v in zip(rows, (obs, a, nxt, term, r, info["true_reward"]), strict=True):
            rows[k].append(v)
        obs = nxt
        if term or trunc:
            break
    return {k: np.array(v) for k, v in rows.items()} | {"info": info, "trunc": trunc}


def test_gym_wrapper_pays_the_learned_reward_and_the_tail_at_a_termination(
    trained: tuple[Run, Path],
) -> None:
    """LearnedRewardWrapper: the step reward is run.reward of the transition (a termination at
    step t with horizon − t absorbing steps), the env's reward stays in info; a time-limit
    truncation pays no tail."""
    run, _ = trained
    h = run.horizon
    ep = _gym_episode(LearnedRewardWrapper(Countdown(), run.learned_reward), 10)
    assert len(ep["r"]) == END and ep["term"][-1] and not ep["term"][:-1].any()
    left = np.where(ep["term"], h - np.arange(1, END + 1), 0)
    want = run.learned_reward(ep["obs"], ep["acts"], ep["next"], ep["term"], left)
    np.testing.assert_allclose(ep["r"], want, rtol=1e-12)
    np.testing.assert_array_equal(ep["true"], 10.0 + np.arange(1, END + 1))
    # The tail is that of h − END absorbing steps at the cost's γ (1): c_abs each.
    no_tail = run.learned_reward(
        ep["obs"][-1:], ep["acts"][-1:], ep["next"][-1:], np.array([True]), np.array([0])
    )[0]
    c_abs = run.learned_reward.absorbing_price()
    assert ep["r"][-1] - no_tail == pytest.approx(-c_abs * (h - END), rel=1e-9)
    assert ep["info"]["episode_returns"] == {
        "length": END,
        "terminated": 1,
        "true_return": pytest.approx(float(ep["true"].sum())),
        "learned_return": pytest.approx(float(ep["r"].sum())),
    }
    cut = _gym_episode(LearnedRewardWrapper(TimeLimit(Countdown(), 3), run.learned_reward), 10)
    assert len(cut["r"]) == 3 and cut["trunc"] and not cut["term"].any()
    want = run.learned_reward(cut["obs"], cut["acts"], cut["next"], cut["term"])
    np.testing.assert_allclose(cut["r"], want, rtol=1e-12)
    assert cut["info"]["episode_returns"]["terminated"] == 0


def test_vec_env_wrapper_pays_the_learned_reward_with_terminal_observations(
    trained: tuple[Run, Path],
) -> None:
    """RewardVecEnvWrapper over DummyVecEnv: one env terminating at step END, one truncated
    every 3 steps (SB3 auto-resets both): each reward is run.reward of the true transition
    (the terminal observation at an end), with the tail only at the termination."""
    run, _ = trained
    h = run.horizon
    venv = RewardVecEnvWrapper(
        DummyVecEnv([Countdown, lambda: TimeLimit(Countdown(), 3)]), run.learned_reward
    )
    venv.seed(5)
    obs = venv.reset()
    for step in range(END):
        acts = np.array([[0.3 * step], [-0.4 * step]], np.float32)
        nxt, r, dones, infos = venv.step(acts)
        t = np.array([step + 1, step % 3 + 1])
        assert [i["true_reward"] for i in infos] == list(10.0 + t)
        ends = np.array([bool(d) for d in dones])
        next_obs = np.array(
            [
                i["terminal_observation"] if d else n
                for i, d, n in zip(infos, ends, nxt, strict=True)
            ]
        )
        term = np.array(
            [
                d and not i.get("TimeLimit.truncated", False)
                for d, i in zip(ends, infos, strict=True)
            ]
        )
        assert term.tolist() == [step + 1 == END, False]
        assert ends.tolist() == [step + 1 == END, t[1] == 3]
        want = run.learned_reward(obs, acts, next_obs, term, np.where(term, h - t, 0))
        assert r.dtype == np.float32
        np.testing.assert_allclose(r, want, rtol=1e-6)
        assert not np.allclose(r, 10.0 + t)
        obs = nxt
    venv.close()


def test_a_moved_or_changed_demo_file_is_a_clear_run_dir_error(
    trained: tuple[Run, Path], tmp_path: Path
) -> None:
    """run.demos reads the demo file the run recorded, checked by its SHA-256: moved, it is a
    RunDirError naming it; changed, one saying so. The rest of the run loads without it."""
    _, run_dir = trained
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    demos = tmp_path / "demos.npz"
    art = json.loads((copy / "artifacts.json").read_text())
    shutil.copy(art["demo_path"], demos)
    art["demo_path"] = str(demos)
    (copy / "artifacts.json").write_text(json.dumps(art))
    assert len(irl.load_run(copy).demos.train) == 2
    demos.rename(tmp_path / "moved.npz")
    run = irl.load_run(copy)
    with pytest.raises(RunDirError, match=rf"{re.escape(str(demos))} is missing"):
        _ = run.demos
    assert run.reward is not None and run.learned_reward(
        np.zeros((1, 4)), np.zeros((1, 1)), np.zeros((1, 4))
    ).shape == (1,)
    demos.write_bytes((tmp_path / "moved.npz").read_bytes() + b"\0")
    with pytest.raises(RunDirError, match=r"changed since training \(SHA-256 differs\)"):
        _ = irl.load_run(copy).demos


def test_a_video_that_cannot_be_rendered_is_a_warning_and_the_result_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """irl-train env=pendulum video.enabled=true without a working renderer: a warning, and
    the run's result.json and artefacts are there."""
    import irl.cli.train

    def no_renderer(*_args: Any, **_kwargs: Any) -> int:
        raise RuntimeError("no EGL display")

    monkeypatch.setattr(irl.cli.train, "write_policy_video", no_renderer)
    over = ["env=pendulum", "debug=tiny", "video.enabled=true", "algo.bc_warmstart_epochs=0"]
    with pytest.warns(UserWarning, match="no video.*no EGL display"):
        run = irl.train(over, run_dir=tmp_path / "run")
    assert (tmp_path / "run" / "result.json").is_file()
    assert not (tmp_path / "run" / "policy.mp4").exists()
    assert run.env_id == "Pendulum-v1" and run.result["env_steps"] == 256


def test_more_demos_than_the_file_holds_is_a_clear_error(tmp_path: Path) -> None:
    """n_demos above the file's episode count: one error naming the file and both numbers, and
    no run directory written."""
    run_dir = tmp_path / "run"
    with pytest.raises(
        ValueError, match=r"InvertedPendulum-v5\.npz.*holds \d+ episodes; n_demos=100000"
    ):
        irl.train([*TINY, "n_demos=100000"], run_dir=run_dir)
    assert not run_dir.exists() or not any(run_dir.iterdir())


def test_a_run_that_fails_before_training_writes_no_files(tmp_path: Path) -> None:
    """A demo path that does not exist: a DemoFileError naming it, and no config.yaml or any
    other file in the run directory."""
    run_dir = tmp_path / "run"
    missing = tmp_path / "nowhere" / "demos.npz"
    with pytest.raises(DemoFileError, match=re.escape(str(missing))):
        irl.train([*TINY, f"demo_path={missing}"], run_dir=run_dir)
    assert not run_dir.exists() or not any(run_dir.iterdir())


def _copy_run(run_dir: Path, dest: Path) -> Path:
    shutil.copytree(run_dir, dest)
    return dest


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("config.yaml", "a: [unclosed\n", "config.yaml: cannot read"),
        ("config.yaml", "- just\n- a list\n", "config.yaml: expected a mapping"),
        ("artifacts.json", "{not json", "artifacts.json: cannot read"),
        ("artifacts.json", "[1, 2]", "artifacts.json: expected a JSON object"),
        ("artifacts.json", '{"sampler": "ppo"}', "artifacts.json: invalid"),
        ("artifacts.json", "[" * 100_000, "artifacts.json: cannot read"),
        ("policy.safetensors", "garbage", "policy.safetensors: cannot load weights"),
        ("cost.safetensors", "garbage", "cost.safetensors: cannot load weights"),
    ],
)
def test_a_bad_run_directory_file_is_one_clear_error(
    trained: tuple[Run, Path], tmp_path: Path, name: str, content: str, match: str
) -> None:
    run_dir = _copy_run(trained[1], tmp_path / "run")
    (run_dir / name).write_text(content)
    with pytest.raises(RunDirError, match=match):
        irl.load_run(run_dir)


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda s: s.pop("sampler"),  # a missing key
        lambda s: s.__setitem__("iteration", "two"),  # a wrong type
        lambda s: s["sampler"].__setitem__("policy", {"bogus": torch.zeros(3)}),  # bad weights
        lambda s: s.__setitem__("history", "{not json"),  # bad embedded JSON
    ],
)
def test_a_corrupt_but_loadable_checkpoint_is_one_clear_error(
    trained: tuple[Run, Path], tmp_path: Path, corrupt: Any
) -> None:
    from irl.build import build_trainer
    from irl.checkpoint import CheckpointError, read_checkpoint, write_checkpoint

    run_dir = _copy_run(trained[1], tmp_path / "run")
    state, arrays = read_checkpoint(run_dir / "checkpoint")
    corrupt(state)
    write_checkpoint(run_dir / "checkpoint", state, arrays)
    trainer = build_trainer(trained[0].config, run_dir, log=False)
    with pytest.raises(CheckpointError, match="corrupt checkpoint"):
        trainer.load_checkpoint()


def test_rerunning_a_finished_run_adds_no_second_record(
    trained: tuple[Run, Path], tmp_path: Path, demo_file: Path
) -> None:
    records = tmp_path / "records.jsonl"
    run_dir = tmp_path / "run"
    overrides = [*TINY, f"demo_path={demo_file}", f"record.path={records}"]
    first = irl.train(overrides, run_dir=run_dir)
    second = irl.train(overrides, run_dir=run_dir)  # resumes at its end, scores again
    assert first.result["normalized_return"] == second.result["normalized_return"]
    lines = records.read_text().splitlines()
    assert len(lines) == 1

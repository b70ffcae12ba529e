"""Bring your own data: `irl.demos.from_arrays`, recording from any policy (a callable or an SB3
model file), demos without rewards, and a user's own env through ``env.module=`` (video on)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

import irl
from irl.demo_arrays import DemoArrayError, split_episode_ends
from irl.demos import DemoFileError, load_demos, load_metadata, normalized_score
from irl.paths import safe_name
from irl.rollouts import random_policy, rollout
from irl.types import flatten_trajectories
from irl_envs import make_env

ROOT = Path(__file__).resolve().parents[1]
TINY = ("debug=tiny", "algo.bc_warmstart_epochs=0", "video.enabled=false")


def _pendulum_arrays(episodes: int = 3) -> dict[str, np.ndarray]:
    """The first shipped Pendulum-v1 expert episodes (200 steps each, never terminating) as
    flat arrays."""
    trajs = load_demos(ROOT / "demos" / "Pendulum-v1.npz")[:episodes]
    flat = flatten_trajectories(trajs)
    return {
        "obs": np.asarray(flat.obs),
        "acts": np.asarray(flat.acts),
        "next_obs": np.asarray(flat.next_obs),
        "rews": np.asarray(flat.rews),
        "episode_lengths": np.array([len(t) for t in trajs]),
    }


def test_demos_no_better_than_random_are_refused_with_the_reason() -> None:
    env = make_env("Pendulum-v1")
    trajs = rollout(env, random_policy(env), 2, 0)
    flat = flatten_trajectories(trajs)
    with pytest.raises(DemoArrayError, match="does not exceed a random policy's"):
        irl.demos.from_arrays(
            flat.obs, flat.acts, episode_lengths=[200, 200], env_id="Pendulum-v1",
            next_obs=flat.next_obs, rews=flat.rews - 20.0, random_episodes=2,
        )  # fmt: skip


def test_from_arrays_round_trip_keeps_every_step(tmp_path: Path) -> None:
    a = _pendulum_arrays()
    path = tmp_path / "own.npz"
    trajs = irl.demos.from_arrays(
        a["obs"], a["acts"], episode_lengths=a["episode_lengths"], env_id="Pendulum-v1",
        next_obs=a["next_obs"], rews=a["rews"], path=path, random_episodes=2,
    )  # fmt: skip
    again = load_demos(path, env_id="Pendulum-v1")
    assert [len(t) for t in again] == [200, 200, 200] == [len(t) for t in trajs]
    np.testing.assert_array_equal(np.concatenate([t.acts for t in again]), a["acts"])
    np.testing.assert_array_equal(np.concatenate([t.obs[:-1] for t in again]), a["obs"])
    np.testing.assert_array_equal(np.stack([t.obs[-1] for t in again]), a["next_obs"][199::200])
    np.testing.assert_allclose(np.concatenate([t.rews for t in again]), a["rews"])
    # Pendulum never terminates: every episode reached the time limit, so each end truncated.
    assert all(t.truncated[-1] and not t.terminated.any() for t in again)
    meta = load_metadata(path)
    assert meta["rewards_available"] is True and meta["source"] == "arrays"
    assert "time limit (200)" in meta["episode_ends"]
    assert meta["expert_return_mean"] == pytest.approx(float(a["rews"].sum()) / 3, rel=1e-5)


def test_without_next_obs_the_last_step_of_each_episode_is_dropped(tmp_path: Path) -> None:
    a = _pendulum_arrays(2)
    trajs = irl.demos.from_arrays(
        a["obs"], a["acts"], episode_lengths=a["episode_lengths"], env_id="Pendulum-v1",
        rews=a["rews"], random_episodes=2,
    )  # fmt: skip
    assert [len(t) for t in trajs] == [199, 199]
    np.testing.assert_array_equal(trajs[1].obs, a["obs"][200:400])  # the last row is final
    assert trajs[1].truncated[-1]  # the episode still ended (at the dropped step)


def test_without_rewards_every_score_is_unavailable(tmp_path: Path) -> None:
    a = _pendulum_arrays(2)
    path = tmp_path / "norew.npz"
    irl.demos.from_arrays(
        a["obs"], a["acts"], episode_lengths=a["episode_lengths"], env_id="Pendulum-v1",
        next_obs=a["next_obs"], path=path, random_episodes=2,
    )  # fmt: skip
    meta = load_metadata(path)
    assert meta["rewards_available"] is False and meta["expert_return_mean"] is None
    assert normalized_score(-100.0, meta) is None
    with pytest.raises(ValueError, match="no rewards"):
        irl.demos.normalized_return(-100.0, meta)
    run = irl.train(["env=pendulum", *TINY, f"demo_path={path}"], run_dir=tmp_path / "run")
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["normalized_return"] is None and result["expert_return"] is None
    assert run.result["normalized_return"] is None
    header = (tmp_path / "run" / "progress.csv").read_text().splitlines()[0]
    assert "normalized_return" not in header  # never a number standing in for a missing score


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"acts": None}, "acts is missing"),
        ({"acts": "wide"}, "acts has dim 2 but Pendulum-v1 has act shape (1,)"),
        ({"obs": "short"}, "obs has 599 rows, expected one per step (600)"),
        ({"episode_lengths": [300, 0, 300]}, "episode 1 has length 0"),
        ({"episode_lengths": [300, 200]}, "sum to 500 but obs and acts hold 600 rows"),
        ({"acts": "big"}, "acts out of the Pendulum-v1 act bounds"),
        ({"terminated": "middle"}, "terminated is set at step 5, inside an episode"),
    ],
)
def test_bad_arrays_are_one_clear_error(change: dict[str, object], message: str) -> None:
    a: dict[str, object] = dict(_pendulum_arrays())
    acts = np.asarray(a["acts"])
    variants = {
        "wide": np.concatenate([acts, acts], axis=1),
        "short": np.asarray(a["obs"])[:-1],
        "big": acts * 10.0,
        "middle": np.eye(1, 600, 5, dtype=bool)[0],
    }
    for key, value in change.items():
        a[key] = variants[value] if isinstance(value, str) else value
    with pytest.raises(DemoArrayError, match=message.replace("(", r"\(").replace(")", r"\)")):
        irl.demos.from_arrays(
            a["obs"], a["acts"], episode_lengths=a["episode_lengths"], env_id="Pendulum-v1",
            next_obs=a["next_obs"], terminated=a.get("terminated"), random_episodes=1,
        )  # fmt: skip


def test_a_short_episode_without_termination_flags_is_refused_on_hopper() -> None:
    """Hopper can terminate: an episode shorter than its limit is ambiguous without flags."""
    env = make_env("Hopper-v5")
    trajs = rollout(env, random_policy(env), 2, 0)  # random Hopper falls within ~100 steps
    env.close()
    flat = flatten_trajectories(trajs)
    kwargs = {
        "episode_lengths": [len(t) for t in trajs],
        "env_id": "Hopper-v5",
        "next_obs": flat.next_obs,
        "random_episodes": 1,
    }
    with pytest.raises(DemoArrayError, match=r"not the env's time limit \(1000\), and no term"):
        irl.demos.from_arrays(flat.obs, flat.acts, **kwargs)  # type: ignore[arg-type]
    out = irl.demos.from_arrays(flat.obs, flat.acts, terminated=flat.terminated, **kwargs)  # type: ignore[arg-type]
    assert all(t.terminated[-1] and not t.truncated.any() for t in out)


def test_split_episode_ends_is_the_time_limit_rule() -> None:
    lengths = np.array([1000, 37, 1000])
    term, trunc, rule = split_episode_ends(lengths, 1000, terminal=np.array([True, True, True]))
    ends = np.cumsum(lengths) - 1
    assert trunc[ends].tolist() == [True, False, True]
    assert term[ends].tolist() == [False, True, False]
    assert term.sum() == 1 and trunc.sum() == 2 and "time limit (1000" in rule
    with pytest.raises(DemoArrayError, match="episode 1 has 37 steps"):
        split_episode_ends(lengths, 1000)


def test_recording_from_a_callable_and_an_sb3_zip_then_training(tmp_path: Path) -> None:
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", make_env("Pendulum-v1"), n_steps=64, batch_size=32, n_epochs=1,
                seed=0, device="cpu")  # fmt: skip
    model.learn(64)
    model.save(tmp_path / "ppo_pendulum.zip")
    meta = irl.demos.record(
        tmp_path / "ppo_pendulum.zip", "Pendulum-v1", 2, tmp_path / "sb3.npz", random_episodes=1
    )
    assert meta["n_trajectories"] == 2 and "SB3 model ppo_pendulum.zip" in meta["policy"]
    expected = rollout(
        make_env("Pendulum-v1"), lambda o: model.predict(o, deterministic=True)[0], 2, 0
    )
    got = load_demos(tmp_path / "sb3.npz")
    np.testing.assert_allclose(got[1].acts, expected[1].acts)
    meta = irl.demos.record(
        lambda o: np.zeros(1, np.float32), "Pendulum-v1", 2, tmp_path / "zero.npz",
        random_episodes=1,
    )  # fmt: skip
    assert "callable" in meta["policy"]
    assert not np.asarray(load_demos(tmp_path / "zero.npz")[0].acts).any()
    irl.train(["env=pendulum", *TINY, f"demo_path={tmp_path / 'sb3.npz'}"], run_dir=tmp_path / "r")
    assert (tmp_path / "r" / "result.json").is_file()


def test_an_sb3_zip_of_something_else_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "model.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a Stable-Baselines3 model zip"):
        irl.demos.record(str(bad), "Pendulum-v1", 1, tmp_path / "x.npz")


POINT_ENV = '''
"""A user's own package: a point that moves towards the origin (registered on import)."""
import gymnasium as gym
import numpy as np


class Point(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    observation_space = gym.spaces.Box(-5.0, 5.0, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def __init__(self, render_mode=None):
        self.render_mode = render_mode

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = self.np_random.uniform(-2, 2, 2).astype(np.float32)
        return self.x.copy(), {}

    def step(self, action):
        self.x = np.clip(self.x + 0.2 * np.asarray(action, np.float32), -5, 5).astype(np.float32)
        dist = float(np.linalg.norm(self.x))
        return self.x.copy(), -dist, dist < 0.05, False, {}

    def render(self):
        frame = np.zeros((32, 32, 3), np.uint8)
        i, j = (np.clip((self.x + 5) / 10 * 31, 0, 31)).astype(int)
        frame[i, j] = 255
        return frame


class Blind(Point):
    metadata = {"render_modes": []}

    def render(self):
        raise NotImplementedError("no rendering here")


gym.register("irltest/Point-v0", entry_point=Point, max_episode_steps=30)
gym.register("irltest/Blind-v0", entry_point=Blind, max_episode_steps=30)
'''


@pytest.mark.parametrize(
    ("env_id", "video"), [("irltest/Point-v0", True), ("irltest/Blind-v0", False)]
)
def test_an_env_from_the_users_module_trains_with_video(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env_id: str, video: bool
) -> None:
    (tmp_path / "my_irl_envs.py").write_text(textwrap.dedent(POINT_ENV))
    monkeypatch.syspath_prepend(str(tmp_path))
    import my_irl_envs  # noqa: F401  (registers the ids, as env.module= will)

    demos = tmp_path / "point.npz"
    irl.demos.record(lambda o: -np.clip(o, -1, 1), env_id, 4, demos, random_episodes=2)
    over = [
        f"env.id={env_id}", "env.module=my_irl_envs", *TINY[:2], "video.enabled=true",
        "video.max_steps=10", f"demo_path={demos}",
    ]  # fmt: skip
    run_dir = tmp_path / "run"
    if video:
        irl.train(over, run_dir=run_dir)
        assert (run_dir / "policy.mp4").stat().st_size > 0
    else:
        with pytest.warns(UserWarning, match="no video"):
            irl.train(over, run_dir=run_dir)
        assert not (run_dir / "policy.mp4").exists()
    run = irl.load_run(run_dir)
    assert run.env_module == "my_irl_envs" and run.result["env_steps"] > 0
    env = run.make_env()
    assert env.observation_space.shape == (2,)


def test_an_env_module_that_cannot_be_imported_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ImportError, match=r"env\.module='no_such_module_xyz' cannot be imported"):
        irl.train(["env.module=no_such_module_xyz", *TINY], run_dir=tmp_path / "run")


def test_run_directories_are_named_safely_for_any_env_id() -> None:
    from irl.cli.train import compose_config

    assert safe_name("irltest/Point-v0") == "irltest__Point-v0"
    assert safe_name("my.pkg:Env-v0") == "my.pkg_Env-v0"
    _, run_dir = compose_config(["env.id=my.pkg:Ns/Env-v0"])
    assert "my.pkg_Ns__Env-v0" in str(run_dir) and ":" not in str(run_dir)


def test_files_that_are_not_demos_name_the_problem(tmp_path: Path) -> None:
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(DemoFileError, match=str(text)):
        load_demos(text)
    with pytest.raises(DemoFileError, match="directory"):
        load_demos(tmp_path)


def test_every_command_writes_and_reads_demos_in_one_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """irl-expert / irl-record / irl-import write where irl-train reads: $IRL_DEMO_DIR here."""
    from irl.build import demo_path
    from irl.paths import demo_write_dir

    monkeypatch.setenv("IRL_DEMO_DIR", str(tmp_path))
    assert demo_write_dir() == tmp_path
    cfg = {"env": {"id": "irl/PointMazeLeft-v0"}, "demo_path": None, "demo_dir": None}
    with pytest.raises(FileNotFoundError, match=r"irl__PointMazeLeft-v0\.npz"):
        demo_path(cfg)
    (tmp_path / "irl__PointMazeLeft-v0.npz").write_bytes(b"")
    assert demo_path(cfg) == (tmp_path / "irl__PointMazeLeft-v0.npz").resolve()

"""Importers and exporters of other libraries' demonstrations (irl.demo_formats).

The imitation fixtures are written by hand here, following imitation's on-disk layouts (its
``serialize.save`` datasets folder: Arrow IPC stream + state.json + dataset_info.json; its older
``np.savez_compressed`` file), not with our exporter. Minari datasets are made with
``minari.DataCollector`` under a temporary ``MINARI_DATASETS_PATH``.
"""

from __future__ import annotations

import csv
import json
import pickle
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pyarrow as pa
import pyarrow.ipc
import pytest

import irl
from irl.demo_archive import DemoFileError
from irl.demo_arrays import DemoArrayError
from irl.demos import (
    from_arrays,
    from_imitation,
    from_minari,
    load_demos,
    load_demos_with_metadata,
    to_imitation,
    to_minari,
)
from irl.types import Trajectory

ROOT = Path(__file__).resolve().parents[1]
PENDULUM = "InvertedPendulum-v5"
FAST = {"random_episodes": 2}
Episode = tuple[np.ndarray, np.ndarray, np.ndarray]  # obs (T+1, d), acts (T, k), rews (T,)


def pendulum_episodes(n: int = 3, steps: int = 40) -> list[Episode]:
    """The first ``steps`` steps of ``n`` shipped expert episodes (obs as float64, like MuJoCo)."""
    trajs = load_demos(ROOT / "demos" / f"{PENDULUM}.npz")[:n]
    return [
        (t.obs[: steps + 1].astype(np.float64), t.acts[:steps], t.rews[:steps].astype(np.float64))
        for t in trajs
    ]


def rollout(env_id: str, seed: int, max_steps: int) -> tuple[Episode, bool]:
    """A seeded random-action episode of at most ``max_steps``; and whether it terminated."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    rows, acts, rews, terminated = [obs], [], [], False
    while len(acts) < max_steps and not terminated:
        act = env.action_space.sample()
        obs, rew, terminated, _, _ = env.step(act)
        rows.append(obs)
        acts.append(act)
        rews.append(rew)
    env.close()
    return (np.array(rows), np.array(acts, np.float32), np.array(rews)), bool(terminated)


def write_imitation_folder(
    folder: Path, episodes: list[Episode], terminal: list[bool], rews: bool = True
) -> Path:
    """imitation's ``serialize.save`` folder (datasets ``save_to_disk``), one row per episode."""
    value = {"float64": {"dtype": "float64", "_type": "Value"}}
    f32 = {"dtype": "float32", "_type": "Value"}
    features: dict[str, Any] = {
        "obs": {"feature": {"feature": value["float64"], "_type": "List"}, "_type": "List"},
        "acts": {"feature": {"feature": f32, "_type": "List"}, "_type": "List"},
        "infos": {"feature": {"dtype": "string", "_type": "Value"}, "_type": "List"},
        "terminal": {"dtype": "bool", "_type": "Value"},
    }
    columns = {
        "obs": pa.array([o.tolist() for o, _, _ in episodes], pa.list_(pa.list_(pa.float64()))),
        "acts": pa.array([a.tolist() for _, a, _ in episodes], pa.list_(pa.list_(pa.float32()))),
        "infos": pa.array([["{}"] * len(a) for _, a, _ in episodes], pa.list_(pa.string())),
        "terminal": pa.array(terminal, pa.bool_()),
    }
    if rews:
        columns["rews"] = pa.array([r.tolist() for _, _, r in episodes], pa.list_(pa.float64()))
        features["rews"] = {"feature": value["float64"], "_type": "List"}
    table = pa.table(columns)
    table = table.replace_schema_metadata(
        {"huggingface": json.dumps({"info": {"features": features}})}
    )
    folder.mkdir(parents=True)
    shard = "data-00000-of-00001.arrow"
    with pa.OSFile(str(folder / shard), "wb") as f, pa.ipc.new_stream(f, table.schema) as w:
        w.write_table(table)
    state = {"_data_files": [{"filename": shard}], "_fingerprint": "0123456789abcdef"}
    state.update(_format_columns=None, _format_kwargs={}, _format_type=None)
    state.update(_output_all_columns=False, _split=None)
    (folder / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True))
    (folder / "dataset_info.json").write_text(json.dumps({"features": features}, indent=2))
    return folder


def write_imitation_npz(path: Path, episodes: list[Episode], terminal: list[bool]) -> Path:
    """imitation's older ``.npz`` (its ``infos`` is a pickled object array, never read)."""
    lengths = [len(a) for _, a, _ in episodes]
    np.savez_compressed(
        path,
        obs=np.concatenate([o for o, _, _ in episodes]),
        acts=np.concatenate([a for _, a, _ in episodes]),
        infos=np.array([{} for _ in range(sum(lengths))], dtype=object),
        terminal=np.array(terminal),
        indices=np.cumsum(lengths[:-1]),
        rews=np.concatenate([r for _, _, r in episodes]),
    )
    return path


def ends(trajs: list[Trajectory]) -> list[str]:
    """Each episode's end: 'terminated', 'truncated' or 'none'."""
    return [
        "terminated" if t.terminated[-1] else "truncated" if t.truncated[-1] else "none"
        for t in trajs
    ]


def assert_same_data(trajs: list[Trajectory], episodes: list[Episode]) -> None:
    assert len(trajs) == len(episodes)
    for t, (obs, acts, rews) in zip(trajs, episodes, strict=True):
        np.testing.assert_array_equal(t.obs, obs.astype(np.float32))
        np.testing.assert_array_equal(t.acts, acts.astype(np.float32))
        np.testing.assert_array_equal(t.rews, rews.astype(np.float32))


# --------------------------------------------------------------------------------------------
# imitation


def test_imitation_folder_imports_validates_and_records_the_rule(tmp_path: Path) -> None:
    """Every step is kept (T + 1 observations), flags converted and the rule recorded."""
    episodes = pendulum_episodes()
    folder = write_imitation_folder(tmp_path / "rollouts", episodes, [True, True, True])
    out = tmp_path / "demos.npz"
    trajs = from_imitation(folder, PENDULUM, out=out, time_limit=40, **FAST)
    assert_same_data(trajs, episodes)
    loaded, meta = load_demos_with_metadata(out, env_id=PENDULUM)
    assert_same_data(loaded, episodes)
    assert ends(loaded) == ["truncated"] * 3
    assert meta["n_steps"] == 120 and meta["rewards_available"] is True
    assert meta["source"] == "imitation" and meta["import_format"] == "imitation datasets folder"
    assert meta["end_rule"] == "time_limit" and meta["time_limit"] == 40
    assert "time limit (40 steps) is a truncation" in meta["episode_ends"]
    assert meta["imported_from"] == str(folder.resolve())


def test_imitation_npz_gives_the_same_demos_as_the_folder(tmp_path: Path) -> None:
    episodes = pendulum_episodes()
    terminal = [True, True, False]
    folder = write_imitation_folder(tmp_path / "rollouts", episodes, terminal)
    npz = write_imitation_npz(tmp_path / "rollouts.npz", episodes, terminal)
    a = from_imitation(folder, PENDULUM, **FAST)
    b, meta = (
        from_imitation(npz, PENDULUM, out=tmp_path / "b.npz", **FAST),
        load_demos_with_metadata(tmp_path / "b.npz")[1],
    )
    for x, y in zip(a, b, strict=True):
        for name in ("obs", "acts", "rews", "terminated", "truncated"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name))
    # Registered limit 1000: the 40-step episodes that ended terminated; the fragment truncated.
    assert ends(b) == ["terminated", "terminated", "truncated"]
    assert meta["import_format"] == "imitation npz" and meta["imitation_fragments"] == 1
    assert meta["time_limit"] == 1000


def test_imitation_without_rewards_records_none(tmp_path: Path) -> None:
    folder = write_imitation_folder(tmp_path / "r", pendulum_episodes(2), [True, True], rews=False)
    from_imitation(folder, PENDULUM, out=tmp_path / "d.npz", time_limit=40, **FAST)
    _, meta = load_demos_with_metadata(tmp_path / "d.npz")
    assert meta["rewards_available"] is False and meta["expert_return_mean"] is None


def test_hopper_short_episode_terminated_and_one_at_the_limit_truncated(tmp_path: Path) -> None:
    """Hopper terminates: a random episode that fell is a termination; one cut at the time
    limit (here 12 steps) a truncation. end_rule overrides the rule."""
    fell, terminated = rollout("Hopper-v5", seed=0, max_steps=1000)
    cut, cut_terminated = rollout("Hopper-v5", seed=1, max_steps=12)
    assert terminated and len(fell[1]) != 12 and not cut_terminated and len(cut[1]) == 12
    folder = write_imitation_folder(tmp_path / "hop", [fell, cut], [True, True], rews=False)
    trajs = from_imitation(folder, "Hopper-v5", time_limit=12, **FAST)
    assert ends(trajs) == ["terminated", "truncated"]
    assert [len(t) for t in trajs] == [len(fell[1]), 12]
    forced = from_imitation(folder, "Hopper-v5", end_rule="truncated", out=tmp_path / "h.npz")
    assert ends(forced) == ["truncated", "truncated"]
    meta = load_demos_with_metadata(tmp_path / "h.npz")[1]
    assert meta["end_rule"] == "truncated" and "every episode end" in meta["episode_ends"]


def test_halfcheetah_never_terminates_every_end_at_the_limit_is_truncation(
    tmp_path: Path,
) -> None:
    """HalfCheetah has no termination: full 1000-step episodes are truncations under the
    registered limit; a shorter cut episode needs end_rule='truncated' (the rule would call
    it a termination, which this task never has)."""
    full = [rollout("HalfCheetah-v5", seed=s, max_steps=1000)[0] for s in (0, 1)]
    folder = write_imitation_folder(tmp_path / "hc", full, [True, True], rews=False)
    assert ends(from_imitation(folder, "HalfCheetah-v5", **FAST)) == ["truncated", "truncated"]
    short = [(o[:21], a[:20], r[:20]) for o, a, r in full]
    folder = write_imitation_folder(tmp_path / "hc20", short, [True, True], rews=False)
    assert ends(from_imitation(folder, "HalfCheetah-v5", **FAST)) == ["terminated"] * 2
    assert (
        ends(from_imitation(folder, "HalfCheetah-v5", time_limit=20, **FAST)) == ["truncated"] * 2
    )
    forced = from_imitation(folder, "HalfCheetah-v5", end_rule="truncated", **FAST)
    assert ends(forced) == ["truncated"] * 2


def test_to_imitation_writes_imitations_layout_and_round_trips(tmp_path: Path) -> None:
    episodes = pendulum_episodes()
    src = tmp_path / "src.npz"
    trajs = from_arrays(
        np.concatenate([o[:-1] for o, _, _ in episodes]),
        np.concatenate([a for _, a, _ in episodes]),
        episode_lengths=[40, 40, 40],
        env_id=PENDULUM,
        next_obs=np.concatenate([o[1:] for o, _, _ in episodes]),
        rews=np.concatenate([r for _, _, r in episodes]),
        truncated=np.tile(np.arange(40) == 39, 3),
        path=src,
        **FAST,
    )
    folder = to_imitation(src, tmp_path / "exported")
    state = json.loads((folder / "state.json").read_text())
    assert state["_data_files"] == [{"filename": "data-00000-of-00001.arrow"}]
    info = json.loads((folder / "dataset_info.json").read_text())
    assert list(info["features"]) == ["obs", "acts", "infos", "terminal", "rews"]
    with pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "rb") as f:
        table = pa.ipc.open_stream(f).read_all()
    assert table.schema.field("obs").type == pa.list_(pa.list_(pa.float32()))
    assert table.schema.field("infos").type == pa.list_(pa.string())
    assert table.column("terminal").to_pylist() == [True, True, True]
    assert [len(x) for x in table.column("obs").to_pylist()] == [41, 41, 41]
    back = from_imitation(folder, PENDULUM, time_limit=40, **FAST)
    assert_same_data(back, episodes)
    assert ends(back) == ends(trajs) == ["truncated"] * 3
    with pytest.raises(FileExistsError, match="not an empty folder"):
        to_imitation(trajs, folder)


# --------------------------------------------------------------------------------------------
# Bad input: one clear message each


def test_pickle_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rollouts.pkl"
    path.write_bytes(pickle.dumps([{"obs": [0.0]}]))
    with pytest.raises(DemoFileError, match="pickle file: pickled trajectories are refused"):
        from_imitation(path, PENDULUM)


def test_missing_folder_and_not_a_dataset_folder(tmp_path: Path) -> None:
    with pytest.raises(DemoFileError, match="not found"):
        from_imitation(tmp_path / "nowhere", PENDULUM)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DemoFileError, match=r"no state\.json"):
        from_imitation(tmp_path / "empty", PENDULUM)


def test_dict_observations_are_refused(tmp_path: Path) -> None:
    folder = write_imitation_folder(tmp_path / "r", pendulum_episodes(1), [True])
    shard = folder / "data-00000-of-00001.arrow"
    obs = pa.array([[{"pos": [0.0, 0.0], "vel": [0.0, 0.0]}] * 41])
    table = pa.table({"obs": obs, "acts": pa.array([[[0.0]] * 40]), "terminal": [True]})
    with pa.OSFile(str(shard), "wb") as f, pa.ipc.new_stream(f, table.schema) as w:
        w.write_table(table)
    with pytest.raises(DemoFileError, match="dict observations/actions are not supported"):
        from_imitation(folder, PENDULUM)


def test_dims_not_matching_the_env_are_refused(tmp_path: Path) -> None:
    folder = write_imitation_folder(tmp_path / "r", pendulum_episodes(2), [True, True])
    with pytest.raises(DemoArrayError, match=r"obs has dim 4 but Hopper-v5 has ob shape \(11,\)"):
        from_imitation(folder, "Hopper-v5", time_limit=40)


def test_inconsistent_imitation_data_is_refused(tmp_path: Path) -> None:
    (obs, acts, rews), *_ = pendulum_episodes(1)
    folder = write_imitation_folder(tmp_path / "r", [(obs[:-1], acts, rews)], [True])
    with pytest.raises(DemoFileError, match="40 observations for 40 actions"):
        from_imitation(folder, PENDULUM)
    npz = tmp_path / "bad.npz"
    np.savez_compressed(npz, obs=obs, acts=acts, terminal=np.array([True]))
    with pytest.raises(DemoFileError, match=r"lacks \['indices'\]"):
        from_imitation(npz, PENDULUM)
    single = write_imitation_npz(tmp_path / "one.npz", [(obs, acts, rews)], [True])
    with pytest.raises(ValueError, match="end_rule must be one of"):
        from_imitation(single, PENDULUM, end_rule="sometimes")
    # One trajectory: imitation writes its indices as np.cumsum([]), an empty float64 array.
    assert len(from_imitation(single, PENDULUM, **FAST)) == 1


# --------------------------------------------------------------------------------------------
# Minari


def collect_minari(dataset_id: str) -> None:
    """A Minari dataset from DataCollector: 3 expert episodes cut at 30 steps, 1 random fall."""
    import minari

    from irl.actor import load_expert

    expert = load_expert(ROOT / "demos" / f"{PENDULUM}.actor")
    env = minari.DataCollector(gym.make(PENDULUM, max_episode_steps=30))
    env.action_space.seed(0)
    for seed in range(4):
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            act = expert(obs).reshape(-1) if seed < 3 else env.action_space.sample()
            obs, _, terminated, truncated, _ = env.step(act)
            done = terminated or truncated
    env.create_dataset(
        dataset_id,
        algorithm_name="irl expert actor",
        author="irl tests",
        author_email="tests@example.invalid",
        code_permalink="tests/test_demo_formats.py",
        description="InvertedPendulum test data",
        eval_env=PENDULUM,
    )
    env.close()


@pytest.fixture
def minari_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def test_minari_dataset_imports_with_its_flags_and_exports_back(
    tmp_path: Path, minari_root: Path
) -> None:
    collect_minari("irltest/pendulum-v0")
    out = tmp_path / "m.npz"
    trajs = from_minari("irltest/pendulum-v0", out=out, **FAST)  # env id from the dataset
    assert [len(t) for t in trajs][:3] == [30, 30, 30]
    assert ends(trajs) == ["truncated"] * 3 + ["terminated"]
    _, meta = load_demos_with_metadata(out, env_id=PENDULUM)
    assert meta["source"] == "minari" and meta["minari_dataset_id"] == "irltest/pendulum-v0"
    assert meta["episode_ends"] == "Minari's terminations and truncations as recorded"
    by_path = from_minari(minari_root / "irltest" / "pendulum-v0", PENDULUM, **FAST)
    assert [len(t) for t in by_path] == [len(t) for t in trajs]

    folder = to_minari(out, "irltest/back-v0")
    assert folder == minari_root / "irltest" / "back-v0"
    back = from_minari("irltest/back-v0", **FAST)
    for x, y in zip(trajs, back, strict=True):
        for name in ("obs", "acts", "rews", "terminated", "truncated"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name))


def test_minari_dataset_not_stored_locally_is_not_downloaded(minari_root: Path) -> None:
    with pytest.raises(DemoFileError, match="Nothing is downloaded"):
        from_minari("D4RL/door/human-v2")
    assert not (minari_root / "D4RL").exists()


def test_minari_missing_package_says_how_to_install(
    minari_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = minari_root / "x" / "y-v0" / "data"
    data.mkdir(parents=True)
    (data / "metadata.json").write_text(json.dumps({"env_spec": json.dumps({"id": PENDULUM})}))
    monkeypatch.setitem(sys.modules, "minari", None)
    with pytest.raises(ImportError, match=r"pip install 'irl\[minari\]'"):
        from_minari("x/y-v0")


# --------------------------------------------------------------------------------------------
# Training on imported demos


def progress(run_dir: Path) -> list[dict[str, str]]:
    """progress.csv rows without the wall-clock columns (time/*_s)."""
    with open(run_dir / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    return [{k: v for k, v in r.items() if not k.endswith("_s")} for r in rows]


def test_imported_demos_train_exactly_like_the_same_data_in_our_format(tmp_path: Path) -> None:
    """Same episodes, one set imported from imitation's layout, one written by from_arrays:
    two tiny training iterations with the same seed give identical metrics."""
    episodes = pendulum_episodes()
    folder = write_imitation_folder(tmp_path / "rollouts", episodes, [True, True, True])
    from_imitation(folder, PENDULUM, out=tmp_path / "imported.npz", time_limit=40, **FAST)
    from_arrays(
        np.concatenate([o[:-1] for o, _, _ in episodes]),
        np.concatenate([a for _, a, _ in episodes]),
        episode_lengths=[40, 40, 40],
        env_id=PENDULUM,
        next_obs=np.concatenate([o[1:] for o, _, _ in episodes]),
        rews=np.concatenate([r for _, _, r in episodes]),
        truncated=np.tile(np.arange(40) == 39, 3),
        path=tmp_path / "own.npz",
        **FAST,
    )
    runs = {}
    for name in ("imported", "own"):
        over = ["debug=tiny", "seed=0", f"demo_path={tmp_path / name}.npz"]
        runs[name] = irl.train(over, run_dir=tmp_path / f"run_{name}")
    assert runs["imported"].result["iterations"] == 2
    rows = progress(tmp_path / "run_imported")
    assert len(rows) == 2 and rows == progress(tmp_path / "run_own")
    for key in ("return_mean", "normalized_return", "random_return", "expert_return"):
        assert runs["imported"].result[key] == runs["own"].result[key]


def test_minari_import_trains_two_iterations(tmp_path: Path, minari_root: Path) -> None:
    collect_minari("irltest/train-v0")
    from_minari("irltest/train-v0", out=tmp_path / "m.npz", **FAST)
    run = irl.train(["debug=tiny", f"demo_path={tmp_path / 'm.npz'}"], run_dir=tmp_path / "run")
    assert run.result["iterations"] == 2 and run.env_id == PENDULUM
    assert len(progress(tmp_path / "run")) == 2

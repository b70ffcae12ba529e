"""Demo file format: round trip, every bad-file case, random corruption, trajectory checks."""

from __future__ import annotations

import io
import json
import os
import struct
import time
import tracemalloc
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from irl.demos import (
    DemoFileError,
    describe_space,
    eligible_episodes,
    load_demos,
    load_demos_with_metadata,
    load_metadata,
    normalized_return,
    save_demos,
    select_demos,
)
from irl.rollouts import random_policy, rollout
from irl.types import Trajectory, flatten_trajectories, returns
from irl_envs import make_env

ENV_ID = "Pendulum-v1"


def _trajectories(n: int = 3, steps: int = 20, seed: int = 0) -> list[Trajectory]:
    env = make_env(ENV_ID, max_episode_steps=steps)
    try:
        return rollout(env, random_policy(env), n, seed=seed)
    finally:
        env.close()


def _metadata(**overrides: Any) -> dict[str, Any]:
    env = make_env(ENV_ID)
    meta = {
        "env_id": ENV_ID,
        "env_kwargs": {},
        "gymnasium_version": gym.__version__,
        "mujoco_version": mujoco.__version__,
        "observation_space": describe_space(env.observation_space),
        "action_space": describe_space(env.action_space),
        "random_return_mean": -1200.0,
        "random_return_std": 100.0,
        "seed": 0,
        "command": "pytest",
    }
    env.close()
    meta.update(overrides)
    return meta


@pytest.fixture(scope="module")
def good_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demos") / "good.npz"
    save_demos(path, _trajectories(), _metadata())
    return path


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _write(path: Path, arrays: dict[str, Any]) -> Path:
    np.savez_compressed(path, **arrays)
    return path


def _set_meta(arrays: dict[str, np.ndarray], **changes: Any) -> dict[str, np.ndarray]:
    meta = json.loads(str(arrays["metadata"][()]))
    meta.update(changes)
    return {**arrays, "metadata": np.array(json.dumps(meta))}


def _expect_error(path: Path, problem: str, env_id: str | None = None) -> DemoFileError:
    with pytest.raises(DemoFileError) as info:
        load_demos(path, env_id=env_id)
    message = str(info.value)
    assert str(path) in message, message
    assert problem in message, message
    assert isinstance(info.value, ValueError)
    return info.value


# ----------------------------------------------------------------------------- round trip


def test_round_trip_identical_arrays_and_metadata(tmp_path: Path) -> None:
    trajs = _trajectories(n=4, steps=25)
    written = save_demos(tmp_path / "d.npz", trajs, _metadata())
    loaded, meta = load_demos_with_metadata(tmp_path / "d.npz", env_id=ENV_ID)
    assert meta == written == load_metadata(tmp_path / "d.npz")
    assert len(loaded) == len(trajs) == meta["n_trajectories"]
    for a, b in zip(trajs, loaded, strict=True):
        for name in ("obs", "acts", "rews", "terminated", "truncated"):
            x, y = getattr(a, name), getattr(b, name)
            assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert meta["expert_return_mean"] == pytest.approx(returns(trajs).mean())
    assert meta["n_steps"] == 100
    # Pendulum never terminates: every episode ends by truncation at the time limit.
    assert all(t.truncated[-1] and not t.terminated.any() for t in loaded)


def test_file_is_plain_npz_with_embedded_json(good_file: Path) -> None:
    with zipfile.ZipFile(good_file) as zf:
        names = sorted(zf.namelist())
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
    assert "metadata.npy" in names and not any(n.endswith(".json") for n in names)
    arrays = _arrays(good_file)
    assert arrays["observations"].dtype == np.float32
    # Observations are stored once per step; next observations are derived.
    assert arrays["observations"].shape == (60, 3)
    assert arrays["final_observations"].shape == (3, 3)


def test_next_obs_derived_from_final_observation(good_file: Path) -> None:
    trajs = load_demos(good_file)
    arrays = _arrays(good_file)
    assert np.array_equal(trajs[0].next_obs[:-1], arrays["observations"][1:20])
    assert np.array_equal(trajs[0].next_obs[-1], arrays["final_observations"][0])
    flat = flatten_trajectories(trajs)
    assert flat.obs.shape == flat.next_obs.shape == (60, 3)
    assert np.array_equal(flat.next_obs[19], arrays["final_observations"][0])


def test_save_refuses_zero_trajectories(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="zero trajectories"):
        save_demos(tmp_path / "d.npz", [], _metadata())
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- bad files


def test_missing_file(tmp_path: Path) -> None:
    _expect_error(tmp_path / "nope.npz", "file not found")


def test_truncated_archive(good_file: Path, tmp_path: Path) -> None:
    data = good_file.read_bytes()
    path = tmp_path / "truncated.npz"
    path.write_bytes(data[: len(data) // 2])
    _expect_error(path, "truncated or corrupt archive")


def test_corrupt_archive(good_file: Path, tmp_path: Path) -> None:
    data = bytearray(good_file.read_bytes())
    data[200:260] = bytes(60)  # zero out compressed payload of the first member
    path = tmp_path / "corrupt.npz"
    path.write_bytes(bytes(data))
    _expect_error(path, "truncated or corrupt archive")


def test_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "text.npz"
    path.write_text("not a zip file")
    _expect_error(path, "truncated or corrupt archive")


@pytest.mark.parametrize(
    "name", ["observations", "final_observations", "actions", "rewards", "episode_lengths"]
)
def test_missing_array(good_file: Path, tmp_path: Path, name: str) -> None:
    arrays = _arrays(good_file)
    del arrays[name]
    _expect_error(_write(tmp_path / "missing.npz", arrays), f"missing array {name!r}")


def test_missing_metadata(good_file: Path, tmp_path: Path) -> None:
    arrays = _arrays(good_file)
    del arrays["metadata"]
    _expect_error(_write(tmp_path / "nometa.npz", arrays), "missing array 'metadata'")


def test_wrong_shape(good_file: Path, tmp_path: Path) -> None:
    arrays = _arrays(good_file)
    arrays["actions"] = arrays["actions"][:-1]
    _expect_error(_write(tmp_path / "shape.npz", arrays), "wrong shape: array 'actions'")


def test_wrong_dtype(good_file: Path, tmp_path: Path) -> None:
    arrays = _arrays(good_file)
    arrays["observations"] = arrays["observations"].astype(np.float64)
    _expect_error(_write(tmp_path / "dtype.npz", arrays), "dtype float64, expected float32")


def test_obs_dim_mismatch_with_env(good_file: Path, tmp_path: Path) -> None:
    arrays = _arrays(good_file)
    arrays["observations"] = np.pad(arrays["observations"], ((0, 0), (0, 1)))
    arrays["final_observations"] = np.pad(arrays["final_observations"], ((0, 0), (0, 1)))
    space = describe_space(gym.spaces.Box(-8.0, 8.0, (4,), np.float32))
    path = _write(tmp_path / "dim.npz", _set_meta(arrays, observation_space=space))
    assert len(load_demos(path)) == 3  # self-consistent without an env...
    _expect_error(path, "observation dim mismatch: file has 4", env_id=ENV_ID)  # ...not with it


def test_obs_dim_mismatch_with_recorded_space(good_file: Path, tmp_path: Path) -> None:
    arrays = _arrays(good_file)
    arrays["observations"] = np.pad(arrays["observations"], ((0, 0), (0, 1)))
    _expect_error(_write(tmp_path / "dim2.npz", arrays), "wrong shape: array 'observations'")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", ["observations", "actions", "rewards", "final_observations"])
def test_non_finite_values(good_file: Path, tmp_path: Path, bad: float, name: str) -> None:
    arrays = _arrays(good_file)
    arrays[name] = arrays[name].copy()
    arrays[name].reshape(-1)[5 % arrays[name].size] = bad
    _expect_error(_write(tmp_path / "nan.npz", arrays), f"array {name!r} has 1 non-finite")


def test_object_array_refused(good_file: Path, tmp_path: Path) -> None:
    arrays: dict[str, Any] = _arrays(good_file)
    arrays["rewards"] = np.array([{"evil": 1}] * len(arrays["rewards"]), dtype=object)
    path = tmp_path / "object.npz"
    np.savez(path, **arrays)  # writing object arrays pickles them
    _expect_error(path, "object array (refused: no pickle)")


def test_zero_trajectories(good_file: Path, tmp_path: Path) -> None:
    arrays = _arrays(good_file)
    for name in ("observations", "final_observations", "actions"):
        arrays[name] = arrays[name][:0]
    for name in ("rewards", "terminated", "truncated", "episode_lengths"):
        arrays[name] = arrays[name][:0]
    path = _write(tmp_path / "zero.npz", _set_meta(arrays, n_trajectories=0, n_steps=0))
    _expect_error(path, "zero trajectories")


def test_env_id_mismatch(good_file: Path) -> None:
    _expect_error(good_file, "recorded for env 'Pendulum-v1', not 'Hopper-v5'", env_id="Hopper-v5")


def test_actions_out_of_bounds(good_file: Path, tmp_path: Path) -> None:
    arrays = _arrays(good_file)
    arrays["actions"] = arrays["actions"] * 0 + 2.5  # Pendulum torque is in [-2, 2]
    _expect_error(_write(tmp_path / "bounds.npz", arrays), "actions out of the recorded")


def test_observations_out_of_env_bounds(good_file: Path, tmp_path: Path) -> None:
    arrays = _arrays(good_file)
    arrays["observations"] = arrays["observations"].copy()
    arrays["observations"][3, 0] = 1.5  # cos(theta) cannot exceed 1
    space = describe_space(gym.spaces.Box(-9.0, 9.0, (3,), np.float32))
    path = _write(tmp_path / "obsb.npz", _set_meta(arrays, observation_space=space))
    _expect_error(path, "observations out of the Pendulum-v1 observation space", env_id=ENV_ID)


def test_invalid_metadata_json(good_file: Path, tmp_path: Path) -> None:
    arrays = _arrays(good_file)
    arrays["metadata"] = np.array("{not json")
    _expect_error(_write(tmp_path / "json.npz", arrays), "metadata is not valid JSON")


def test_metadata_missing_key(good_file: Path, tmp_path: Path) -> None:
    arrays = _arrays(good_file)
    meta = json.loads(str(arrays["metadata"][()]))
    del meta["env_id"]
    arrays["metadata"] = np.array(json.dumps(meta))
    _expect_error(_write(tmp_path / "key.npz", arrays), "metadata lacks key 'env_id'")


def test_metadata_disagrees_with_data(good_file: Path, tmp_path: Path) -> None:
    arrays = _arrays(good_file)
    path = _write(tmp_path / "n.npz", _set_meta(arrays, n_trajectories=7))
    _expect_error(path, "n_trajectories=7 but file holds 3")
    path = _write(tmp_path / "r.npz", _set_meta(arrays, expert_return_mean=123.0))
    _expect_error(path, "disagrees with the stored rewards")


def test_flag_in_middle_of_episode(good_file: Path, tmp_path: Path) -> None:
    arrays = _arrays(good_file)
    arrays["terminated"] = arrays["terminated"].copy()
    arrays["terminated"][5] = True
    _expect_error(_write(tmp_path / "flag.npz", arrays), "in the middle of an episode")


def test_unexpected_member(good_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "extra.npz"
    path.write_bytes(good_file.read_bytes())
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("payload.pkl", b"\x80\x04")
    _expect_error(path, "unexpected archive member 'payload.pkl'")


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    edits=st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
        min_size=1,
        max_size=8,
    ),
    cut=st.one_of(st.none(), st.integers(min_value=0)),
)
def test_random_corruption_gives_clear_error(
    good_file: Path, tmp_path: Path, edits: list[tuple[int, int]], cut: int | None
) -> None:
    """Any byte edits/truncation: either a DemoFileError naming the file, or identical data."""
    original, original_meta = load_demos_with_metadata(good_file)
    data = bytearray(good_file.read_bytes())
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    path = tmp_path / "fuzz.npz"
    path.write_bytes(bytes(data))
    try:
        loaded, meta = load_demos_with_metadata(path, env_id=ENV_ID)
    except DemoFileError as e:
        assert str(path) in str(e)
        return
    # Edits that only touched bytes no reader uses (e.g. timestamps) must leave data intact.
    assert meta == original_meta
    for a, b in zip(original, loaded, strict=True):
        assert np.array_equal(a.obs, b.obs) and np.array_equal(a.acts, b.acts)
        assert np.array_equal(a.rews, b.rews)


# ----------------------------------------------------------------------------- Trajectory


def _traj(**changes: Any) -> Trajectory:
    base: dict[str, Any] = {
        "obs": np.zeros((4, 2), np.float32),
        "acts": np.zeros((3, 1), np.float32),
        "rews": np.ones(3, np.float32),
        "terminated": np.array([False, False, True]),
        "truncated": np.zeros(3, bool),
    }
    base.update(changes)
    return Trajectory(**base)


def test_trajectory_properties() -> None:
    t = _traj(obs=np.arange(8, dtype=np.float32).reshape(4, 2))
    assert len(t) == 3 and t.ret == 3.0
    assert np.array_equal(t.next_obs, np.arange(2, 8, dtype=np.float32).reshape(3, 2))
    assert t.dones.tolist() == [False, False, True]
    with pytest.raises(ValueError):
        t.obs[0, 0] = 1.0  # read-only


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"obs": np.zeros((3, 2), np.float32)}, "T \\+ 1"),
        ({"obs": np.zeros((4, 2), np.float64)}, "dtype float64"),
        ({"rews": np.ones(2, np.float32)}, "rews has shape"),
        ({"acts": np.full((3, 1), np.nan, np.float32)}, "NaN or inf"),
        ({"terminated": np.array([True, False, False])}, "before its last step"),
        ({"acts": np.zeros((0, 1), np.float32), "obs": np.zeros((1, 2), np.float32)}, "one step"),
    ],
)
def test_trajectory_checks(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _traj(**changes)


# ----------------------------------------------------------------------------- scores


def test_normalized_return(good_file: Path) -> None:
    meta = load_metadata(good_file)
    expert, random = meta["expert_return_mean"], meta["random_return_mean"]
    assert normalized_return(expert, meta) == pytest.approx(1.0)
    assert normalized_return(random, good_file) == pytest.approx(0.0)
    mid = normalized_return(np.array([random, (random + expert) / 2]), meta)
    assert isinstance(mid, np.ndarray)
    np.testing.assert_allclose(mid, [0.0, 0.5])
    with pytest.raises(ValueError, match="undefined"):
        normalized_return(1.0, {"expert_return_mean": 1.0, "random_return_mean": 1.0})


# ----------------------------------------------------------------------------- hostile files
# Regression tests for issue #20 (hostile input): each built inside the test, never committed.


def _deflate_zeros(mib: int) -> bytes:
    """Raw deflate stream of ``mib`` MiB of zeros, built without compressing them all.

    After a full flush the compressor state is reset, so every 1 MiB chunk compresses to the
    same bytes; repeating them gives a valid stream at ~1/1000 of the inflated size.
    """
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    block = co.compress(chunk) + co.flush(zlib.Z_FULL_FLUSH)
    assert co.compress(chunk) + co.flush(zlib.Z_FULL_FLUSH) == block
    return block * mib + co.flush()


def _raw_zip(path: Path, members: list[tuple[str, bytes, int, int]]) -> Path:
    """Write a zip by hand: (name, raw deflate data, declared inflated size, declared CRC-32)."""
    out, central = bytearray(), bytearray()
    for name, data, size, crc in members:
        fields = (20, 0, 8, 0, 0, crc, len(data), size, len(name), 0)
        central += struct.pack("<I6H3I5H2I", 0x02014B50, 20, *fields, 0, 0, 0, 0, len(out))
        central += name.encode()
        out += struct.pack("<I5H3I2H", 0x04034B50, *fields) + name.encode() + data
    eocd = struct.pack(
        "<I4H2IH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(out), 0
    )
    path.write_bytes(bytes(out + central + eocd))
    return path


def _bounded(fn: Any, max_bytes: int, max_seconds: float) -> Any:
    """Run ``fn()``; assert its peak traced allocation and its wall time stay under limits."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        return fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < max_bytes, f"peak allocation {peak} bytes"
        assert time.perf_counter() - start < max_seconds


@pytest.mark.timeout(30)
def test_total_inflated_size_is_capped_before_inflating(tmp_path: Path) -> None:
    """Three members of 1 GiB of zeros each (a ~3 MiB file): each under the per-member cap,
    together over the per-file cap, refused from the zip directory before inflating a byte."""
    data = _deflate_zeros(1024)
    crc = 0
    for _ in range(1024):
        crc = zlib.crc32(bytes(1 << 20), crc)
    names = ["observations.npy", "actions.npy", "rewards.npy"]
    path = _raw_zip(tmp_path / "bomb.npz", [(n, data, 1 << 30, crc) for n in names])
    assert path.stat().st_size < 4 << 20
    err = _bounded(lambda: _expect_error(path, f"inflate to {3 << 30} bytes in all"), 16 << 20, 2)
    assert "zip bomb" in err.problem


@pytest.mark.timeout(10)
def test_member_lying_about_its_size_inflates_in_bounded_steps(tmp_path: Path) -> None:
    """A member declaring 1 KiB whose deflate stream holds 256 MiB is read in bounded steps
    (reading it whole inflated the entire stream before cutting it to the declared size)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (256,)}
    )
    head = header.getvalue()
    co = zlib.compressobj(1, zlib.DEFLATED, -15)
    data = co.compress(head) + co.flush(zlib.Z_FULL_FLUSH) + _deflate_zeros(256)
    crc = zlib.crc32(bytes(1024), zlib.crc32(head))
    path = _raw_zip(tmp_path / "liar.npz", [("rewards.npy", data, len(head) + 1024, crc)])
    _bounded(lambda: _expect_error(path, "missing array"), 32 << 20, 2)


def _with_member(good_file: Path, path: Path, name: str, payload: bytes) -> Path:
    path.write_bytes(good_file.read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr(name, payload)
    return path


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def test_unknown_npy_member_refused(good_file: Path, tmp_path: Path) -> None:
    path = _with_member(good_file, tmp_path / "x.npz", "extra.npy", _npy(np.zeros(3)))
    _expect_error(path, "unexpected archive member 'extra.npy'")


def test_duplicate_member_refused(good_file: Path, tmp_path: Path) -> None:
    rewards = np.zeros(60, np.float32)
    path = _with_member(good_file, tmp_path / "dup.npz", "rewards.npy", _npy(rewards))
    _expect_error(path, "duplicate archive member 'rewards.npy'")


@pytest.mark.parametrize("shape", [(1 << 40,), (1 << 62, 1 << 62), (-5,)])
def test_npy_header_shape_checked_before_allocating(
    good_file: Path, tmp_path: Path, shape: tuple[int, ...]
) -> None:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": shape}
    )
    arrays = {k: v for k, v in _arrays(good_file).items() if k != "rewards"}
    path = _with_member(
        _write(tmp_path / "base.npz", arrays), tmp_path / "h.npz", "rewards.npy", header.getvalue()
    )
    _bounded(lambda: _expect_error(path, "array 'rewards'"), 4 << 20, 2)


def test_directory_refused(tmp_path: Path) -> None:
    _expect_error(tmp_path, "is a directory, expected a .npz demo file")


@pytest.mark.timeout(5)
def test_fifo_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "demos.npz"
    os.mkfifo(fifo)
    _expect_error(fifo, "is a FIFO, not a regular file")


@pytest.mark.timeout(5)
def test_character_device_refused(tmp_path: Path) -> None:
    _expect_error(Path("/dev/zero"), "is a character device, not a regular file")
    link = tmp_path / "zero.npz"
    link.symlink_to("/dev/zero")
    _expect_error(link, "is a character device")


@pytest.mark.parametrize("depth", [100_000, 40])
def test_deeply_nested_metadata(good_file: Path, tmp_path: Path, depth: int) -> None:
    arrays = _arrays(good_file)
    meta = json.loads(str(arrays["metadata"][()]))
    text = json.dumps(meta)[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    path = _write(tmp_path / "deep.npz", {**arrays, "metadata": np.array(text)})
    _expect_error(path, "metadata JSON is nested too deeply")


def test_episode_lengths_sum_overflowing_int64(good_file: Path, tmp_path: Path) -> None:
    """Four lengths summing to 2**64 + 60 wrapped to the 60 stored rows (IndexError before)."""
    arrays = _arrays(good_file)
    arrays["episode_lengths"] = np.array([1 << 62] * 3 + [(1 << 62) + 60], np.int64)
    arrays["final_observations"] = np.concatenate([arrays["final_observations"]] * 2)[:4]
    path = _write(tmp_path / "lengths.npz", _set_meta(arrays, n_trajectories=4))
    _expect_error(path, "do not fit the 60 rows of 'observations'")


def test_unrepresentable_space_bound(good_file: Path, tmp_path: Path) -> None:
    """An integer bound too large for float64 (OverflowError before) is a DemoFileError."""
    arrays = _arrays(good_file)
    space = describe_space(gym.spaces.Box(-9.0, 9.0, (3,), np.float32))
    space["high"][0] = 10**400
    path = _write(tmp_path / "big.npz", _set_meta(arrays, observation_space=space))
    _expect_error(path, "metadata space bounds are invalid")


def test_unexpected_exception_named_as_demo_file_error(
    good_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import irl.demos

    def boom(*args: Any) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(irl.demos, "_check_bounds", boom)
    err = _expect_error(good_file, "invalid demo file (KeyError")
    assert isinstance(err.__cause__, KeyError)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"random_return_mean": "expert"}, "must exceed random_return_mean"),
        ({"random_return_mean": "expert+1"}, "must exceed random_return_mean"),
        ({"random_return_mean": "1e999"}, "random_return_mean=inf is not a finite"),
        ({"expert_return_std": -1.0}, "expert_return_std=-1.0 is not a finite"),
        ({"random_return_std": 10**400}, "is not a finite mean / std"),
    ],
)
def test_untrustworthy_return_metadata(
    good_file: Path, tmp_path: Path, changes: dict[str, Any], problem: str
) -> None:
    arrays = _arrays(good_file)
    expert = load_metadata(good_file)["expert_return_mean"]
    values = {"expert": expert, "expert+1": expert + 1.0, "1e999": 1234.5}
    resolved = {k: values.get(v, v) for k, v in changes.items()}
    arrays = _set_meta(arrays, **resolved)
    # json cannot write 1e999 (it is inf), but a hostile file can hold that literal.
    text = str(arrays["metadata"][()]).replace("1234.5", "1e999")
    _expect_error(_write(tmp_path / "ret.npz", {**arrays, "metadata": np.array(text)}), problem)


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_return_literal_refused(good_file: Path, tmp_path: Path, bad: str) -> None:
    arrays = _arrays(good_file)
    text = str(arrays["metadata"][()]).replace('"random_return_mean": -1200.0', f'"x": {bad}')
    text = text[:-1] + f', "random_return_mean": {bad}}}'
    path = _write(tmp_path / "nan.npz", {**arrays, "metadata": np.array(text)})
    _expect_error(path, f"non-finite number {bad}")


@pytest.mark.parametrize(
    ("expert", "random"), [(1.0, 1.0), (np.nan, 0.0), (1.0, np.inf), (1e308, -1e308)]
)
def test_normalized_return_refuses_undefined_scores(expert: float, random: float) -> None:
    with pytest.raises(ValueError, match="normalised score undefined"):
        normalized_return(1.0, {"expert_return_mean": expert, "random_return_mean": random})


# ----------------------------------------------------------------------------- selection


def _reference_select(
    trajs: list[Any], n: int, seed: int
) -> tuple[list[Any], list[Any], list[int]]:
    """The trainer's selection rule, restated: seeded permutation, first n sorted = train."""
    order = np.random.default_rng(seed).permutation(len(trajs))
    train, held = sorted(order[:n].tolist()), sorted(order[n:].tolist())
    return [trajs[i] for i in train], [trajs[i] for i in held], train


@pytest.mark.parametrize(("n", "seed"), [(1, 0), (2, 0), (3, 1), (5, 7), (8, 123)])
def test_select_demos_matches_trainer_rule(n: int, seed: int) -> None:
    trajs = [_traj(rews=np.full(3, i, np.float32)) for i in range(8)]
    assert select_demos(trajs, n, seed) == _reference_select(trajs, n, seed)
    train, held, idx = select_demos(trajs, n, seed)
    assert len(train) == n and len(held) == 8 - n and idx == sorted(idx)


def test_select_demos_refuses_bad_counts(good_file: Path) -> None:
    trajs = load_demos(good_file)
    with pytest.raises(DemoFileError) as info:
        select_demos(trajs, 4, 0, path=good_file)
    assert str(good_file) in str(info.value)
    assert "the demo file holds 3 episodes; n_demos=4 asks for more" in str(info.value)
    with pytest.raises(ValueError, match="holds 3 episodes; n_demos=9 asks for more") as plain:
        select_demos(trajs, 9, 0)
    assert not isinstance(plain.value, DemoFileError)
    for n in (0, -2):
        with pytest.raises(ValueError, match=f"n_demos={n} must be at least 1"):
            select_demos(trajs, n, 0)


def test_not_terminated_selection_leaves_falls_out_and_keeps_file_indices() -> None:
    falls = {1, 4, 6}  # episodes that terminate; the rest reach the time limit
    trajs = [
        _traj(
            rews=np.full(3, i, np.float32),
            terminated=np.array([False, False, i in falls]),
            truncated=np.array([False, False, i not in falls]),
        )
        for i in range(9)
    ]
    assert eligible_episodes(trajs, "not_terminated") == [0, 2, 3, 5, 7, 8]
    for seed in range(5):
        train, held, idx = select_demos(trajs, 4, seed, episodes="not_terminated")
        assert not falls & set(idx) and idx == sorted(idx)
        assert [t.rews[0] for t in train] == idx  # indices count every episode of the file
        assert sorted(idx + [int(t.rews[0]) for t in held]) == [0, 2, 3, 5, 7, 8]
    assert select_demos(trajs, 4, 3, episodes="all") == select_demos(trajs, 4, 3)
    with pytest.raises(ValueError, match="holds 6 not_terminated episodes; n_demos=7"):
        select_demos(trajs, 7, 0, episodes="not_terminated")
    with pytest.raises(ValueError, match="demo_episodes='best'"):
        eligible_episodes(trajs, "best")

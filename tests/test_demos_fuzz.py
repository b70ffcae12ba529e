"""Fuzzing the demo file loader with hostile edits (issue #20: reliability under hostile input).

One small valid demo file is built with `save_demos`; each example applies 1-3 random edits
(truncation, byte flips, renamed/duplicated/dropped/swapped zip members, edited `.npy` headers,
edited metadata JSON) and loads the result. Every load must end within 2 s and allocate under
500 MB, and its outcome must be exactly one of:

- one `DemoFileError` naming the file (no other exception type, no hang);
- a valid load. Truncation and byte flips are detected (zip CRC-32, header checks), so a file
  edited only by those must load identical to the original. Member swaps, header edits and
  metadata edits can produce a different but well-formed file (e.g. ``terminated`` and
  ``truncated`` swapped, or a changed ``command`` string) that no checksum-free format can tell
  from a genuine one; such a load must return exactly what numpy's own reader finds in the
  edited file: the loader never misreads.
"""

from __future__ import annotations

import ast
import io
import itertools
import json
import signal
import tracemalloc
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from irl.demos import DemoFileError, load_demos_with_metadata, save_demos
from irl.types import Trajectory

Edit = tuple[Any, ...]
MEMBERS = [
    "observations.npy",
    "final_observations.npy",
    "actions.npy",
    "rewards.npy",
    "terminated.npy",
    "truncated.npy",
    "episode_lengths.npy",
    "metadata.npy",
]
MAX_SECONDS, MAX_BYTES = 2.0, 500 << 20


def _trajectory(steps: int, seed: int, terminated: bool) -> Trajectory:
    rng = np.random.default_rng(seed)
    flags = np.zeros(steps, bool)
    flags[-1] = True
    return Trajectory(
        obs=rng.uniform(-1, 1, (steps + 1, 2)).astype(np.float32),
        acts=rng.uniform(-1, 1, (steps, 1)).astype(np.float32),
        rews=rng.uniform(0, 1, steps).astype(np.float32),
        terminated=flags if terminated else np.zeros(steps, bool),
        truncated=np.zeros(steps, bool) if terminated else flags,
    )


def _space(dim: int, bound: float | None) -> dict[str, Any]:
    low = [None if bound is None else -bound] * dim
    return {"type": "Box", "shape": [dim], "dtype": "float32", "low": low, "high": [bound] * dim}


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The valid file's bytes, members, loaded trajectories and metadata, and a scratch path."""
    folder = tmp_path_factory.mktemp("fuzz")
    trajs = [_trajectory(2, 0, True), _trajectory(3, 1, False), _trajectory(4, 2, False)]
    meta = {
        "env_id": "Fuzz-v0",
        "env_kwargs": {},
        "gymnasium_version": "0",
        "mujoco_version": "0",
        "observation_space": _space(2, None),
        "action_space": _space(1, 1.0),
        "random_return_mean": -5.0,
        "random_return_std": 1.0,
        "seed": 0,
        "command": "pytest",
    }
    path = folder / "good.npz"
    save_demos(path, trajs, meta)
    with zipfile.ZipFile(path) as zf:
        members = [(name, zf.read(name)) for name in zf.namelist()]
    loaded, written = load_demos_with_metadata(path)
    yield {
        "bytes": path.read_bytes(),
        "members": members,
        "trajs": loaded,
        "meta": written,
        "scratch": folder / "edited.npz",
    }


# --------------------------------------------------------------------------------------------
# Edits


def _rebuild(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are intended
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members:
                zf.writestr(name, data)
    return buf.getvalue()


def _npy_header(data: bytes) -> tuple[str, bytes]:
    """Split a v1 `.npy` member into its header text and payload."""
    hlen = int.from_bytes(data[8:10], "little")
    return data[10 : 10 + hlen].decode("latin1"), data[10 + hlen :]


def _with_header(text: str, payload: bytes, version: int) -> bytes:
    raw = text.encode("latin1")
    size = len(raw).to_bytes(2 if version == 1 else 4, "little")
    return b"\x93NUMPY" + bytes([version, 0]) + size + raw + payload


def _header_edit(data: bytes, edit: Edit) -> bytes:
    text, payload = _npy_header(data)
    kind, value = edit
    if kind == "raw":
        return _with_header(value, payload, 1)
    if kind == "version":
        return _with_header(text, payload, value)
    try:
        header = ast.literal_eval(text)  # a literal only: never runs code
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        header = None
    if not isinstance(header, dict):
        header = {"descr": "<f4", "fortran_order": False, "shape": ()}
    header[kind] = value
    new = repr(header)
    return _with_header(new + " " * (-(len(new) + 11) % 64) + "\n", payload, 1)


def _json_edit(meta_text: str, edit: Edit) -> str:
    kind, key, value = edit
    if kind == "text":
        return str(value)
    if kind == "nest":
        return meta_text[:-1] + f', "{key}": ' + "[" * value + "]" * value + "}"
    meta = json.loads(meta_text)
    if kind == "del":
        meta.pop(key, None)
    else:
        meta[key] = value
    return json.dumps(meta)


def _edit_metadata(members: list[tuple[str, bytes]], edit: Edit) -> list[tuple[str, bytes]]:
    """Edit the metadata member's JSON; leave the members as they are if it is unreadable."""
    for j, (name, content) in enumerate(members):
        if name != "metadata.npy":
            continue
        try:
            text = str(np.load(io.BytesIO(content), allow_pickle=False)[()])
            buf = io.BytesIO()
            np.save(buf, np.array(_json_edit(text, edit)), allow_pickle=False)
        except (ValueError, TypeError, EOFError, OverflowError, RecursionError):
            return members  # an earlier edit already broke it: the loader must still refuse
        return [*members[:j], (name, buf.getvalue()), *members[j + 1 :]]
    return members


def _apply(original: dict[str, Any], edits: list[Edit]) -> bytes:
    data: bytes = original["bytes"]
    members: list[tuple[str, bytes]] = list(original["members"])
    for edit in edits:
        kind, args = edit[0], edit[1:]
        if kind == "cut":
            data = data[: args[0] % max(1, len(data))]
            continue
        if kind == "flips" and data:
            out = bytearray(data)
            for pos, value in args[0]:
                out[pos % len(out)] = value
            data = bytes(out)
            continue
        if kind == "flips" or not members:
            continue
        i = args[0] % len(members)
        name, content = members[i]
        if kind == "rename":
            members[i] = (args[1], content)
        elif kind == "dup":
            members.append(members[i])
        elif kind == "drop":
            del members[i]
        elif kind == "swap":
            j = args[1] % len(members)
            members[i], members[j] = (members[j][0], content), (name, members[j][1])
        elif kind == "header":
            members[i] = (name, _header_edit(content, args[1]))
        elif kind == "json":
            members = _edit_metadata(members, args[1])
        data = _rebuild(members)
    return data


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
meta_keys = st.sampled_from(
    [
        "env_id",
        "n_steps",
        "n_trajectories",
        "expert_return_mean",
        "random_return_mean",
        "random_return_std",
        "observation_space",
        "action_space",
        "format_version",
        "command",
        "seed",
        "extra",
    ]
)
header_edits = st.one_of(
    st.tuples(st.just("shape"), st.lists(st.integers(-3, 2**64), max_size=3).map(tuple)),
    st.tuples(
        st.just("descr"),
        st.sampled_from(
            ["<f8", ">f4", "|b1", "<i8", "|O", "<U5", "V0", "<U1000000000", "<f4", "[('a', '|O')]"]
        ),
    ),
    st.tuples(st.just("fortran_order"), st.booleans()),
    st.tuples(st.just("version"), st.sampled_from([1, 2, 3])),
    st.tuples(st.just("raw"), st.text(st.characters(max_codepoint=255), max_size=40)),
)
edit_strategy = st.one_of(
    st.tuples(st.just("cut"), st.integers(min_value=0)),
    st.tuples(
        st.just("flips"),
        st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=6),
    ),
    st.tuples(st.just("rename"), st.integers(0, 7), st.sampled_from([*MEMBERS, "x.npy", "a"])),
    st.tuples(st.just("dup"), st.integers(0, 7)),
    st.tuples(st.just("drop"), st.integers(0, 7)),
    st.tuples(st.just("swap"), st.integers(0, 7), st.integers(0, 7)),
    st.tuples(st.just("header"), st.integers(0, 7), header_edits),
    st.tuples(
        st.just("json"),
        st.integers(0, 7),
        st.one_of(
            st.tuples(st.just("set"), meta_keys, json_values),
            st.tuples(st.just("del"), meta_keys, st.none()),
            st.tuples(st.just("nest"), meta_keys, st.integers(1, 5000)),
            st.tuples(st.just("text"), st.none(), st.text(max_size=30)),
        ),
    ),
)


# --------------------------------------------------------------------------------------------
# Oracle


class _Timeout(Exception):
    pass


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _Timeout(f"load took longer than {MAX_SECONDS} s")


def _bounded_load(path: Path) -> Any:
    """Load ``path`` under a wall-clock alarm and tracemalloc; return the result or the
    `DemoFileError` (any other exception, or running out of time, fails the test)."""
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    tracemalloc.start()
    signal.setitimer(signal.ITIMER_REAL, MAX_SECONDS)
    try:
        outcome: Any = load_demos_with_metadata(path)
    except DemoFileError as e:
        outcome = e
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < MAX_BYTES, f"load allocated {peak} bytes"
    return outcome


def _reference(path: Path) -> tuple[list[dict[str, np.ndarray]], dict[str, Any]]:
    """What numpy's own reader finds in the file, split into episodes."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    bounds = np.concatenate([[0], np.cumsum(arrays["episode_lengths"])])
    episodes = []
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        episodes.append(
            {
                "obs": np.concatenate(
                    [arrays["observations"][a:b], arrays["final_observations"][i : i + 1]]
                ),
                "acts": arrays["actions"][a:b],
                "rews": arrays["rewards"][a:b],
                "terminated": arrays["terminated"][a:b],
                "truncated": arrays["truncated"][a:b],
            }
        )
    return episodes, json.loads(str(arrays["metadata"][()]))


def _same(trajs: list[Trajectory], episodes: list[dict[str, np.ndarray]]) -> bool:
    return len(trajs) == len(episodes) and all(
        np.array_equal(getattr(t, k), e[k]) and getattr(t, k).dtype == e[k].dtype
        for t, e in zip(trajs, episodes, strict=True)
        for k in e
    )


def _as_episodes(trajs: list[Trajectory]) -> list[dict[str, np.ndarray]]:
    names = ("obs", "acts", "rews", "terminated", "truncated")
    return [{k: getattr(t, k) for k in names} for t in trajs]


@settings(
    max_examples=500,
    deadline=2000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(edits=st.lists(edit_strategy, min_size=1, max_size=3))
def test_hostile_edits_give_one_clear_error_or_exact_data(
    original: dict[str, Any], edits: list[Edit]
) -> None:
    path: Path = original["scratch"]
    path.write_bytes(_apply(original, edits))
    outcome = _bounded_load(path)
    if isinstance(outcome, DemoFileError):
        assert str(path) in str(outcome)
        event("refused: " + outcome.problem.split("(")[0][:40])
        return
    trajs, meta = outcome
    if all(edit[0] in ("cut", "flips") for edit in edits):
        event("loaded after cut/flips")
        assert meta == original["meta"]
        assert _same(trajs, _as_episodes(original["trajs"]))
        return
    episodes, ref_meta = _reference(path)
    same = meta == original["meta"] and _same(trajs, _as_episodes(original["trajs"]))
    event("loaded, same as original" if same else "loaded, a different well-formed file")
    assert meta == ref_meta
    assert _same(trajs, episodes)

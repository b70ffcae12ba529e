"""``irl-import``: arrays and imitation sources to a demo file; bad input exits 2 in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_demo_formats import PENDULUM, pendulum_episodes, write_imitation_folder

from irl.cli.import_demos import main
from irl.demos import load_demos, load_demos_with_metadata


def write_arrays(path: Path, **extra: np.ndarray) -> Path:
    """The plain-arrays .npz: 3 episodes of 40 steps of the shipped InvertedPendulum demos."""
    episodes = pendulum_episodes()
    np.savez_compressed(
        path,
        obs=np.concatenate([o[:-1] for o, _, _ in episodes]),
        acts=np.concatenate([a for _, a, _ in episodes]),
        episode_lengths=np.array([40, 40, 40]),
        next_obs=np.concatenate([o[1:] for o, _, _ in episodes]),
        rews=np.concatenate([r for _, _, r in episodes]),
        truncated=np.tile(np.arange(40) == 39, 3),
        **extra,
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``main(argv)``: its exit status (0 when it returned), stdout and stderr."""
    try:
        main(list(argv))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_arrays_npz_to_demo_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_arrays(tmp_path / "arrays.npz")
    out = tmp_path / "ip.npz"
    code, stdout, _ = run(
        capsys, "arrays", str(src), f"env={PENDULUM}", f"out={out}", "random_episodes=2"
    )
    assert code == 0
    assert stdout.strip().splitlines() == [
        f"irl-import: wrote {out} ({PENDULUM}, from arrays): 3 episodes, 120 steps, "
        f"return 40.0 ± 0.0 (random {load_demos_with_metadata(out)[1]['random_return_mean']:.1f})"
        "; ends: 0 terminated, 3 truncated"
    ]
    trajs = load_demos(out, env_id=PENDULUM)
    assert [len(t) for t in trajs] == [40, 40, 40]
    # An existing file is kept unless overwrite=true.
    code, _, err = run(capsys, "arrays", str(src), f"env={PENDULUM}", f"out={out}")
    assert code == 2 and "exists: pass overwrite=true" in err
    code, _, _ = run(
        capsys,
        "arrays",
        str(src),
        f"env={PENDULUM}",
        f"out={out}",
        "overwrite=true",
        "seed=3",
        "random_episodes=2",
    )
    assert code == 0 and load_demos_with_metadata(out)[1]["seed"] == 3


def test_imitation_folder_default_out_is_the_env_demo_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without out=, the file lands where irl-train looks for the env's demos."""
    monkeypatch.setenv("IRL_DEMO_DIR", str(tmp_path / "demo_dir"))
    folder = write_imitation_folder(tmp_path / "rollouts", pendulum_episodes(), [True] * 3)
    code, stdout, err = run(
        capsys,
        "imitation",
        str(folder),
        f"env={PENDULUM}",
        "time_limit=40",
        "random_episodes=2",
    )
    assert code == 0, err
    out = tmp_path / "demo_dir" / f"{PENDULUM}.npz"
    assert f"wrote {out}" in stdout and "0 terminated, 3 truncated" in stdout
    meta = load_demos_with_metadata(out, env_id=PENDULUM)[1]
    assert meta["source"] == "imitation" and meta["time_limit"] == 40
    # end_rule overrides the time-limit rule.
    code, stdout, _ = run(
        capsys,
        "imitation",
        str(folder),
        f"env={PENDULUM}",
        "end_rule=terminated",
        f"out={tmp_path / 'term.npz'}",
        "random_episodes=2",
    )
    assert code == 0 and "3 terminated, 0 truncated" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("arrays", "{tmp}/missing.npz", f"env={PENDULUM}"), "missing.npz: not found"),
        (("imitation", "{tmp}/nowhere", f"env={PENDULUM}"), "not found"),
        (("arrays", "{arrays}", "env=Hopper-v5"), "obs has dim 4 but Hopper-v5"),
        (("arrays", "{arrays}"), "env=<id> is required for the arrays format"),
        (("arrays", "{arrays}", f"env={PENDULUM}", "end_rule=truncated"), "imitation format only"),
        (("arrays", "{arrays}", f"env={PENDULUM}", "colour=red"), "unknown key 'colour'"),
        (("arrays", "{arrays}", f"env={PENDULUM}", "seed=x"), "seed must be an integer"),
        (("arrays", "{bad}", f"env={PENDULUM}"), "unexpected archive member 'infos.npy'"),
        (("imitation", "{pkl}", f"env={PENDULUM}"), "pickled trajectories are refused"),
        (("imitation", "{folder}", f"env={PENDULUM}", "end_rule=x"), "end_rule must be one of"),
        (("minari", "nobody/nothing-v0", f"env={PENDULUM}"), "Nothing is downloaded"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    message: str,
) -> None:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    paths = {
        "tmp": str(tmp_path),
        "arrays": str(write_arrays(tmp_path / "arrays.npz")),
        "bad": str(write_arrays(tmp_path / "bad.npz", infos=np.array([{}], dtype=object))),
        "pkl": str(tmp_path / "rollouts.pkl"),
        "folder": str(write_imitation_folder(tmp_path / "r", pendulum_episodes(1), [True])),
    }
    Path(paths["pkl"]).write_bytes(b"\x80\x04K\x01.")  # pickle of the int 1 (never loaded)
    argv = [a.format(**paths) for a in args] + [f"out={tmp_path / 'out.npz'}"]
    code, stdout, err = run(capsys, *argv)
    assert code == 2 and stdout == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("irl-import: error: ")
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out.npz").exists()


def test_help_documents_formats_keys_and_examples(capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = run(capsys, "--help")
    assert code == 0
    for text in ("imitation", "minari", "arrays", "end_rule=", "time_limit=", "examples:"):
        assert text in stdout
    code, _, err = run(capsys, "parquet", "x")
    assert code == 2 and "invalid choice: 'parquet'" in err

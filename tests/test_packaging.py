"""Packaging: what a wheel holds, a wheel install outside the checkout, and irl.paths."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from irl import paths

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the sources (an in-tree build would write build/ and
    egg-info into the shared checkout, and stale build/lib files would leak into the wheel)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("irl", "envs"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    cmd = [PY, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp)]
    subprocess.run([*cmd, str(src)], check=True, capture_output=True, timeout=120)
    (whl,) = tmp.glob("irl-*.whl")
    return whl


def _names(whl: Path) -> set[str]:
    with zipfile.ZipFile(whl) as z:
        return set(z.namelist())


def test_wheel_holds_every_hydra_config(wheel: Path) -> None:
    names = _names(wheel)
    assert "irl/conf/train.yaml" in names
    assert "irl/conf/hydra/launcher/local.yaml" in names
    assert "irl/conf/ebm/config.yaml" in names
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "irl" / "conf").rglob("*.yaml")}
    assert len(sources) > 20
    assert sources <= names, sorted(sources - names)


def test_wheel_holds_every_module_under_its_import_name(wheel: Path) -> None:
    names = _names(wheel)
    irl_modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "irl").rglob("*.py")}
    assert irl_modules <= names, f"packages missing from pyproject: {sorted(irl_modules - names)}"
    env_modules = {f"irl_envs/{p.name}" for p in (ROOT / "envs").glob("*.py")}
    assert {"irl_envs/__init__.py", "irl_envs/point_maze.py"} <= env_modules <= names
    assert not [n for n in names if n.startswith("envs/")]  # the generic name is not installed
    with zipfile.ZipFile(wheel) as z:
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        top_level = z.read(f"{dist_info}/top_level.txt").decode().split()
        entry_points = z.read(f"{dist_info}/entry_points.txt").decode()
    assert sorted(top_level) == ["irl", "irl_envs"]
    assert "irl-train = irl.cli.train:main" in entry_points


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed with ``pip --target`` into a folder away from the checkout."""
    target = tmp_path_factory.mktemp("site")
    cmd = [PY, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target"]
    subprocess.run([*cmd, str(target), str(wheel)], check=True, capture_output=True, timeout=120)
    return target


def _run(code: str, cwd: Path, pythonpath: Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "IRL_DEMO_DIR")}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    out = subprocess.run(
        [PY, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_wheel_install_runs_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    """Configs come from the installed package, envs register, demos are looked up sanely."""
    out = _run(
        """
        import importlib.util, os, gymnasium as gym
        import irl, irl_envs
        from irl import paths
        SITE = os.environ["PYTHONPATH"]
        assert irl_envs.__file__.startswith(SITE), irl_envs.__file__
        assert irl.__file__.startswith(SITE), irl.__file__
        assert paths.REPO_ROOT is None and (paths.CONF_DIR / "train.yaml").is_file()
        assert (paths.CONF_DIR / "hydra" / "launcher" / "local.yaml").is_file()
        assert importlib.util.find_spec("envs") is None
        assert paths.default_demo_dir() is None
        try:
            paths.demo_file("Hopper-v5")
        except FileNotFoundError as e:
            print(e)
        env = gym.make("irl/PointMazeLeft-v0")
        print(env.reset(seed=0)[0].shape)
        """,
        cwd=tmp_path,
        pythonpath=installed,
    )
    assert "Hopper-v5.npz" in out and "IRL_DEMO_DIR" in out and "irl-expert" in out
    assert "(2,)" in out


def test_gym_make_by_module_prefix_in_a_fresh_interpreter(tmp_path: Path) -> None:
    """Gymnasium 1.x has no plugin entry points: the ``irl_envs:`` prefix imports the package."""
    out = _run(
        """
        import sys, gymnasium as gym
        assert "irl_envs" not in sys.modules
        env = gym.make("irl_envs:irl/PointMazeLeft-v0")
        obs, _ = env.reset(seed=0)
        print(type(env.unwrapped).__name__, env.spec.max_episode_steps, obs.shape)
        """,
        cwd=tmp_path,
    )
    assert out.split() == ["PointMazeEnv", "100", "(2,)"]


def test_no_module_imports_the_old_envs_name() -> None:
    pattern = re.compile(r"^\s*(from\s+envs(\.|\s)|import\s+envs\b)", re.MULTILINE)
    offenders = [
        p.relative_to(ROOT).as_posix()
        for folder in ("irl", "envs", "tests", "benchmarks")
        for p in (ROOT / folder).rglob("*.py")
        if pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No $IRL_DEMO_DIR, working directory an empty temporary folder."""
    monkeypatch.delenv(paths.DEMO_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def test_paths_in_the_checkout() -> None:
    assert paths.REPO_ROOT == ROOT
    assert paths.CONF_DIR == ROOT / "irl" / "conf"
    assert (paths.CONF_DIR / "train.yaml").is_file()


def test_demo_dir_order(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert paths.default_demo_dir() == ROOT / "demos"  # nothing else: the checkout's
    (clean_env / "demos").mkdir()
    assert paths.default_demo_dir() == clean_env / "demos"  # ./demos wins over the checkout
    monkeypatch.setenv(paths.DEMO_DIR_ENV, str(clean_env / "mine"))
    assert paths.default_demo_dir() == clean_env / "mine"  # $IRL_DEMO_DIR wins over all


def test_demo_file_names_and_finds(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = clean_env / "mine"
    mine.mkdir()
    (mine / "irl__PointMazeLeft-v0.npz").write_bytes(b"")
    assert paths.demo_file("irl/PointMazeLeft-v0", mine) == mine / "irl__PointMazeLeft-v0.npz"
    monkeypatch.setenv(paths.DEMO_DIR_ENV, str(mine))
    assert paths.demo_file("irl/PointMazeLeft-v0") == mine / "irl__PointMazeLeft-v0.npz"
    with pytest.raises(FileNotFoundError) as err:
        paths.demo_file("Hopper-v5")
    msg = str(err.value)
    assert str(mine / "Hopper-v5.npz") in msg
    assert "irl-expert" in msg and "irl-record" in msg and paths.DEMO_DIR_ENV in msg


def test_demo_file_error_lists_every_place_looked(clean_env: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        paths.demo_file("irl/NoSuchTask-v0")
    assert str(ROOT / "demos" / "irl__NoSuchTask-v0.npz") in str(err.value)
    with pytest.raises(FileNotFoundError, match=r"irl__NoSuchTask-v0\.npz"):
        paths.demo_file("irl/NoSuchTask-v0", clean_env)

"""Where the package's configs and the demonstration files are, in a checkout or a wheel install.

Hydra configs ship inside the package (`CONF_DIR`). Demonstrations do not: a checkout has them in
``demos/``, an installed wheel has no repository at all, so `default_demo_dir` looks, in order,
at ``$IRL_DEMO_DIR``, ``./demos`` under the working directory, then the checkout's ``demos/``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

DEMO_DIR_ENV = "IRL_DEMO_DIR"

CONF_DIR: Path = Path(__file__).resolve().parent / "conf"


def _find_repo_root() -> Path | None:
    """The checkout holding this package, or None when installed (no pyproject.toml beside it)."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


REPO_ROOT: Path | None = _find_repo_root()


def safe_name(env_id: str) -> str:
    """``env_id`` as one file or directory name: ``/`` (a gymnasium namespace) becomes ``__``
    and any other character outside ``[A-Za-z0-9._-]`` (e.g. the ``:`` of ``module:Id``) ``_``."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", env_id.replace("/", "__")).lstrip(".")
    return name or "_"


def demo_stem(env_id: str) -> str:
    """File-name stem of ``env_id``'s demos (`safe_name`)."""
    return safe_name(env_id)


def demo_dir_candidates() -> list[Path]:
    """The demo directories `default_demo_dir` considers, in order (existing or not)."""
    out: list[Path] = []
    env_dir = os.environ.get(DEMO_DIR_ENV)
    if env_dir:
        out.append(Path(env_dir).expanduser())
    out.append(Path.cwd() / "demos")
    if REPO_ROOT is not None:
        out.append(REPO_ROOT / "demos")
    return out


def default_demo_dir() -> Path | None:
    """The demo directory, or None when there is none.

    Order: ``$IRL_DEMO_DIR`` if set (existing or not), else ``./demos`` under the working
    directory if it exists, else the checkout's ``demos/`` if running from a checkout.
    """
    env_dir = os.environ.get(DEMO_DIR_ENV)
    if env_dir:
        return Path(env_dir).expanduser()
    for candidate in demo_dir_candidates():
        if candidate.is_dir():
            return candidate
    return None


def demo_write_dir(demo_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where ``irl-expert``, ``irl-record`` and ``irl-import`` write demos: ``demo_dir`` if given,
    else `default_demo_dir` (the directory ``irl-train`` reads), else ``./demos``."""
    if demo_dir:
        return Path(demo_dir).expanduser()
    return default_demo_dir() or Path.cwd() / "demos"


def demo_file(env_id: str, demo_dir: str | os.PathLike[str] | None = None) -> Path:
    """The demonstration file ``<dir>/<demo_stem(env_id)>.npz`` for ``env_id``.

    Args:
        env_id: gymnasium id, e.g. ``"Hopper-v5"`` or ``"irl/PointMazeLeft-v0"``.
        demo_dir: directory to use; None: `default_demo_dir`.

    Returns:
        The path of an existing file.

    Raises:
        FileNotFoundError: the file is not there; the message lists every place looked at and how
            to put demonstrations there.
    """
    name = f"{demo_stem(env_id)}.npz"
    if demo_dir is not None:
        looked = [Path(demo_dir)]
    else:
        chosen = default_demo_dir()
        looked = [chosen] if chosen is not None else demo_dir_candidates()
    for directory in looked:
        path = directory / name
        if path.is_file():
            return path
    places = "\n".join(f"  {d / name}" for d in looked)
    raise FileNotFoundError(
        f"no demonstrations for {env_id!r}; looked for:\n{places}\n"
        f"Record them with `irl-expert env=...` (trains an expert) or `irl-record env=...` "
        f"(from a saved expert actor) so that {name} lands in one of those directories, or set "
        f"{DEMO_DIR_ENV} to the directory that holds {name} (or pass demo_dir explicitly)."
    )

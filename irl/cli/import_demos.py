"""``irl-import <format> <path> env=<id> out=<file>``: outside demonstrations as a demo file.

Formats: ``imitation`` (the folder ``imitation.data.serialize.save`` writes, or its older
``.npz``), ``minari`` (a locally stored Minari dataset id or folder; nothing is downloaded) and
``arrays`` (an ``.npz`` of plain arrays). The data is validated like our own files and written in
the toolkit's demo format (`irl.demos`), ready for ``irl-train demo_path=<file>``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

FORMATS = ("imitation", "minari", "arrays")
KEYS = (
    "env",
    "out",
    "time_limit",
    "end_rule",
    "random_episodes",
    "seed",
    "env_module",
    "overwrite",
)
IMITATION_ONLY = ("time_limit", "end_rule")

EPILOG = """\
key=value options:
  env=<id>               the gymnasium env id (required, except for minari, which defaults to the
                         env the dataset recorded); the data is checked against it
  out=<file>             where to write (default: <demo dir>/<env id>.npz, the file irl-train
                         reads for that env: $IRL_DEMO_DIR, else ./demos, else the checkout's)
  overwrite=true         replace an existing out file (default: refuse)
  time_limit=<steps>     imitation only: the episode length that counts as truncation (default:
                         the env's max_episode_steps)
  end_rule=<rule>        imitation only: time_limit (default: an episode of time_limit steps was
                         truncated, any other end a termination), terminated or truncated (every
                         episode end recorded as that)
  random_episodes=<n>    random-policy episodes for the normalised-score baseline (default 50)
  seed=<n>               seed of those episodes (default 0)
  env_module=<module>    a module to import first (one that registers env)

formats:
  imitation  imitation's saved trajectories: its HuggingFace datasets folder (state.json +
             data-*.arrow) or its older .npz; read without imitation, datasets or pickle
  minari     a Minari dataset id under $MINARI_DATASETS_PATH (default ~/.minari/datasets) or a
             dataset folder; needs pip install 'irl[minari]'; nothing is downloaded
  arrays     an .npz of obs, acts, episode_lengths and optionally next_obs, rews, terminated,
             truncated (see irl.demo_arrays); read without pickle

examples:
  irl-import imitation runs/hopper_rollouts env=Hopper-v5 out=demos/Hopper-v5.npz
  irl-import imitation old_rollouts.npz env=HalfCheetah-v5 end_rule=truncated out=hc.npz
  irl-import minari mujoco/hopper/expert-v0 env=Hopper-v5 out=hopper_minari.npz
  irl-import arrays my_arrays.npz env=InvertedPendulum-v5 out=ip.npz random_episodes=20
  irl-train env=hopper demo_path=demos/Hopper-v5.npz

Prints one line: the file, episodes, steps and the mean return (or "no rewards"). Bad input
exits with status 2 and one line saying what is wrong.
"""


class _BadInput(ValueError):
    pass


def _options(pairs: list[str], fmt: str) -> dict[str, str]:
    opts: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise _BadInput(f"expected key=value, got {pair!r} (keys: {', '.join(KEYS)})")
        if key not in KEYS:
            raise _BadInput(f"unknown key {key!r} (keys: {', '.join(KEYS)})")
        if key in opts:
            raise _BadInput(f"{key} given twice")
        if key in IMITATION_ONLY and fmt != "imitation":
            raise _BadInput(f"{key}= applies to the imitation format only")
        opts[key] = value
    return opts


def _int(opts: dict[str, str], key: str) -> int | None:
    if key not in opts:
        return None
    try:
        return int(opts[key])
    except ValueError:
        raise _BadInput(f"{key} must be an integer, got {opts[key]!r}") from None


def _default_out(env_id: str) -> Path:
    from irl.paths import demo_stem, demo_write_dir

    return demo_write_dir() / f"{demo_stem(env_id)}.npz"


def _env_id(fmt: str, path: str, opts: dict[str, str]) -> str:
    if opts.get("env"):
        return opts["env"]
    if fmt != "minari":
        raise _BadInput(f"env=<id> is required for the {fmt} format")
    from irl.demo_minari import minari_recorded_env_id

    env_id = minari_recorded_env_id(path)
    if env_id is None:
        raise _BadInput("the Minari dataset records no env: pass env=<id>")
    return env_id


def _import(fmt: str, path: str, opts: dict[str, str]) -> tuple[Path, list[Any]]:
    from irl import demo_formats

    if fmt != "minari" and not Path(path).exists():
        raise _BadInput(f"{path}: not found")
    env_id = _env_id(fmt, path, opts)
    out = Path(opts["out"]) if opts.get("out") else _default_out(env_id)
    overwrite = opts.get("overwrite", "false").lower()
    if overwrite not in ("true", "false"):
        raise _BadInput(f"overwrite must be true or false, got {opts['overwrite']!r}")
    if out.exists() and overwrite != "true":
        raise _BadInput(f"{out} exists: pass overwrite=true to replace it, or another out=")
    kw: dict[str, Any] = {"out": out}
    for key in ("random_episodes", "seed", "time_limit"):
        value = _int(opts, key)
        if value is not None:
            kw[key] = value
    if opts.get("env_module"):
        kw["env_module"] = opts["env_module"]
    if "end_rule" in opts:
        kw["end_rule"] = opts["end_rule"]
    if fmt == "imitation":
        trajs = demo_formats.from_imitation(path, env_id, **kw)
    elif fmt == "minari":
        trajs = demo_formats.from_minari(path, env_id, **kw)
    else:
        trajs = demo_formats.from_arrays_file(path, env_id, **kw)
    return out, trajs


def _summary(fmt: str, out: Path, trajs: list[Any]) -> str:
    from irl.demos import load_metadata, rewards_available
    from irl.types import returns

    meta = load_metadata(out)
    steps = sum(len(t) for t in trajs)
    term = sum(bool(t.terminated[-1]) for t in trajs)
    trunc = sum(bool(t.truncated[-1]) for t in trajs)
    if rewards_available(meta):
        rets = returns(trajs)
        ret = f"return {float(np.mean(rets)):.1f} ± {float(np.std(rets)):.1f}"
        ret += f" (random {meta['random_return_mean']:.1f})"
    else:
        ret = "no rewards"
    return (
        f"irl-import: wrote {out} ({meta['env_id']}, from {fmt}): {len(trajs)} episodes, "
        f"{steps} steps, {ret}; ends: {term} terminated, {trunc} truncated"
    )


def main(argv: list[str] | None = None) -> None:
    """Import demonstrations (see ``irl-import --help``); exit 2 with one line on bad input."""
    ap = argparse.ArgumentParser(
        prog="irl-import",
        description="Import demonstrations from the imitation library, a Minari dataset or plain "
        "arrays into the toolkit's validated demo file (.npz), checked against the env.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("format", choices=FORMATS, help="the source format")
    ap.add_argument("path", help="the source: a folder, a file or (minari) a dataset id")
    ap.add_argument("options", nargs="*", metavar="key=value", help="see below")
    args = ap.parse_args(argv)
    try:
        opts = _options(args.options, args.format)
        out, trajs = _import(args.format, args.path, opts)
        print(_summary(args.format, out, trajs))
    except (ValueError, ImportError, OSError) as exc:  # DemoFileError/DemoArrayError too
        line = " ".join(str(exc).split())
        print(f"irl-import: error: {line}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()

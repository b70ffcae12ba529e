"""Sweep reports: final expert-normalised return per configuration of a Hydra multirun directory.

A run directory is any folder holding ``config.yaml`` (written by ``irl-train``); runs with a
``result.json`` are finished, the others are listed as crashed or unfinished, never fatal.
Runs are grouped by their Hydra overrides without ``seed``; each group gets mean ± std, the
interquartile mean (IQM) and a percentile-bootstrap 95 % interval of the mean over seeds.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "GroupStats",
    "RunInfo",
    "bootstrap_ci",
    "collect_runs",
    "interquartile_mean",
    "summarise",
    "write_report",
]

BOOTSTRAP_SAMPLES = 2000


@dataclass
class RunInfo:
    """One run directory of a sweep."""

    path: Path
    overrides: list[str]
    finished: bool
    result: dict[str, Any] = field(default_factory=dict)
    curve: list[tuple[float, float]] = field(default_factory=list)
    last_iteration: int = 0
    error: str = ""

    @property
    def group(self) -> str:
        """The configuration this run belongs to: its overrides without the seed."""
        keep = [o for o in self.overrides if not o.split("=", 1)[0].lstrip("+~") == "seed"]
        return " ".join(sorted(keep)) or "(defaults)"


@dataclass
class GroupStats:
    """Final scores of one configuration over its finished seeds."""

    group: str
    n_runs: int
    n_finished: int
    mean: float
    std: float
    iqm: float
    ci_low: float
    ci_high: float
    wall_clock_s: float
    steps_per_s: float
    env_steps: float


def interquartile_mean(x: np.ndarray) -> float:
    """Mean of the middle 50 % (25 % trimmed from each end, as rliable's IQM)."""
    x = np.sort(np.asarray(x, dtype=np.float64))
    if x.size == 0:
        return math.nan
    cut = int(0.25 * x.size)
    return float(x[cut : x.size - cut].mean())


def bootstrap_ci(
    x: np.ndarray, level: float = 0.95, n: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean (seeded; degenerate for one value)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n, x.size))].mean(1)
    alpha = (1.0 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def _read_overrides(run: Path) -> list[str]:
    from irl.build import read_run_overrides

    return read_run_overrides(run)


def _read_curve(run: Path) -> tuple[list[tuple[float, float]], int]:
    path = run / "progress.csv"
    if not path.exists():
        return [], 0
    curve, last = [], 0
    with path.open() as fh:
        for row in csv.DictReader(fh):
            it = row.get("time/iteration") or ""
            if it:
                last = max(last, int(float(it)))
            x, y = row.get("time/env_steps") or "", row.get("eval/normalized_return") or ""
            if x and y:
                curve.append((float(x), float(y)))
    return curve, last


def collect_runs(sweep_dir: str | Path) -> list[RunInfo]:
    """Every run directory under ``sweep_dir`` (recursively), finished or not."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"{sweep_dir}: no such sweep directory")
    # A job that died inside Hydra, before irl-train wrote its config, still has .hydra/.
    dirs = {
        c.parent.parent if c.parent.name == ".hydra" else c.parent
        for c in sweep_dir.rglob("config.yaml")
    }
    runs = []
    for run in sorted(dirs):
        info = RunInfo(path=run, overrides=_read_overrides(run), finished=False)
        try:
            info.curve, info.last_iteration = _read_curve(run)
        except (OSError, ValueError) as exc:
            info.error = f"unreadable progress.csv ({exc})"
        result = run / "result.json"
        if result.exists():
            try:
                info.result = json.loads(result.read_text())
                score = info.result["normalized_return"]  # None: demos without rewards
                info.finished = score is None or math.isfinite(float(score))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                info.error = f"unreadable result.json ({exc})"
        elif not (run / "config.yaml").exists() and not (run / "progress.csv").exists():
            info.error = "failed before training started (bad config or demos; see its log)"
        elif not info.error:
            info.error = f"no result.json (stopped after iteration {info.last_iteration})"
        runs.append(info)
    return runs


def summarise(runs: list[RunInfo]) -> list[GroupStats]:
    """One :class:`GroupStats` per configuration, sorted by name."""
    groups: dict[str, list[RunInfo]] = defaultdict(list)
    for r in runs:
        groups[r.group].append(r)
    out = []
    for name, members in sorted(groups.items()):
        done = [r for r in members if r.finished]
        scores = np.array(
            [
                r.result["normalized_return"]
                for r in done
                if r.result["normalized_return"] is not None
            ],
            dtype=np.float64,
        )
        lo, hi = bootstrap_ci(scores)

        def _mean(key: str, rows: list[RunInfo] = done) -> float:
            vals = [float(r.result[key]) for r in rows if r.result.get(key) is not None]
            return float(np.mean(vals)) if vals else math.nan

        out.append(
            GroupStats(
                group=name,
                n_runs=len(members),
                n_finished=len(done),
                mean=float(scores.mean()) if scores.size else math.nan,
                std=float(scores.std(ddof=1)) if scores.size > 1 else math.nan,
                iqm=interquartile_mean(scores),
                ci_low=lo,
                ci_high=hi,
                wall_clock_s=_mean("wall_clock_s"),
                steps_per_s=_mean("steps_per_s"),
                env_steps=_mean("env_steps"),
            )
        )
    return out


def _f(x: float, digits: int = 3) -> str:
    return "–" if not math.isfinite(x) else f"{x:.{digits}f}"


def markdown_table(stats: list[GroupStats], failed: list[RunInfo]) -> str:
    """The report as markdown: the table, then the runs that did not finish."""
    lines = [
        "| configuration | runs (finished) | normalised return mean ± std | IQM | "
        "bootstrap 95 % CI | env steps | wall-clock s | env steps/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in stats:
        lines.append(
            f"| {s.group} | {s.n_runs} ({s.n_finished}) | {_f(s.mean)} ± {_f(s.std)} | "
            f"{_f(s.iqm)} | [{_f(s.ci_low)}, {_f(s.ci_high)}] | {_f(s.env_steps, 0)} | "
            f"{_f(s.wall_clock_s, 0)} | {_f(s.steps_per_s, 0)} |"
        )
    if failed:
        lines += ["", "Crashed or unfinished runs (not in the statistics):", ""]
        lines += [f"- `{r.path}`: {r.error}" for r in failed]
    return "\n".join(lines) + "\n"


def plot_curves(runs: list[RunInfo], path: Path) -> bool:
    """Mean evaluation curve per configuration with a shaded min–max band over seeds."""
    groups: dict[str, list[RunInfo]] = defaultdict(list)
    for r in runs:
        if len(r.curve) > 0:
            groups[r.group].append(r)
    if not groups:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, members in sorted(groups.items()):
        grid = np.array(sorted({x for r in members for x, _ in r.curve}), dtype=np.float64)
        ys = []
        for r in members:
            xs, vs = np.array(r.curve, dtype=np.float64).T
            # A run that stopped early contributes only up to its last point.
            y = np.interp(grid, xs, vs, right=np.nan)
            ys.append(y)
        arr = np.array(ys)
        with np.errstate(all="ignore"):
            mean = np.nanmean(arr, 0)
        ax.plot(grid, mean, label=f"{name} ({len(members)})")
        if len(members) > 1:
            ax.fill_between(grid, np.nanmin(arr, 0), np.nanmax(arr, 0), alpha=0.2)
    ax.set_xlabel("env steps")
    ax.set_ylabel("expert-normalised return (eval)")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_report(sweep_dir: str | Path) -> tuple[str, list[Path]]:
    """Write report.md, report.csv and curves.png into ``sweep_dir``; returns (markdown, files)."""
    sweep_dir = Path(sweep_dir)
    runs = collect_runs(sweep_dir)
    if not runs:
        raise FileNotFoundError(f"{sweep_dir}: no run directories (no config.yaml below it)")
    stats = summarise(runs)
    failed = [r for r in runs if not r.finished]
    text = markdown_table(stats, failed)
    files = [sweep_dir / "report.md", sweep_dir / "report.csv"]
    files[0].write_text(text)
    with files[1].open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(list(GroupStats.__dataclass_fields__))
        for s in stats:
            w.writerow([getattr(s, k) for k in GroupStats.__dataclass_fields__])
    if plot_curves(runs, sweep_dir / "curves.png"):
        files.append(sweep_dir / "curves.png")
    return text, files

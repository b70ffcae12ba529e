"""Generate benchmarks/README.md, the README's headline table and docs/recipe.md's tables.

Every figure comes from the JSON-lines records in benchmarks/results/: mujoco.jsonl
(irl-train), mujoco_eval.jsonl (irl-eval), overhead.jsonl (benchmarks/overhead.py),
cost_ranking.jsonl (benchmarks/cost_ranking.py), ceiling.jsonl (benchmarks/sampler_ceiling.py),
side_by_side.jsonl (benchmarks/side_by_side.py)
and ebm.jsonl (irl-ebm, tabulated by benchmarks/report_ebm.py). Nothing here is typed by hand.

    .venv/bin/python benchmarks/report_mujoco.py            # write the files and the curve PNGs
    .venv/bin/python benchmarks/report_mujoco.py --check    # exit 1 if a file is out of date
    .venv/bin/python benchmarks/report_mujoco.py --print    # print benchmarks/README.md only
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import re
import statistics
import sys
import textwrap
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from irl.records import DEFAULTS_ERAS, ERA_ADDITIONS

sys.path.insert(0, str(Path(__file__).resolve().parent))  # report_ebm, side_by_side

Record = dict[str, Any]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BENCH_README = ROOT / "benchmarks" / "README.md"
RECIPE_DOC = ROOT / "docs" / "recipe.md"
EBM_DOC = ROOT / "docs" / "ebm.md"
# The headline block lives in the top-level README (README.new.md while that is a draft).
README_CANDIDATES = (ROOT / "README.md", ROOT / "README.new.md")
# Where the verdict table marks GAN-GCL below imitation, the paragraph that points to why.
SHORTFALL_WRITE_UPS = {
    ("Hopper-v5", 1_000_000): (
        "Hopper at 1,000,000 steps, why GAN-GCL falls there and what the absorbing floor changes:\n"
        "[docs/recipe.md](../docs/recipe.md#hopper-past-300k-the-absorbing-cost-drifts)."
    ),
}
SCRIPT_NAME = "benchmarks/report_mujoco.py"

# The five behaviours benchmarks/cost_ranking.py scores (its record fields true_return_<b>).
BEHAVIOURS = ("demos", "recovered", "hold", "zero", "random")
# The recipe's overrides as the records before issue 19 ran them (the defaults were then the
# 0.27-scoring configuration), and the per-task additions. A historical fact about the records,
# not the current configuration.
RECORDED_RECIPE = (
    "sampler.cost_action=drawn",
    "algo.bc_warmstart_epochs=50",
    "sampler.normalize_reward=true",
    "sampler.policy_ema=0.9",
)
RECORDED_TASK_RECIPE = {"HalfCheetah-v5": ("sampler.learning_rate=1e-4",)}
# Records written since issue 19 (the recipe is what `irl-train env=<task>` runs) carry
# "defaults": "recipe"; records without the field ran under the earlier defaults. Later records
# add "+companion" (the companion sampler from scratch), "+rank" (the ranking loss on the cost),
# "+torque" (GCL's torque term) and "+wu" (that term's initial weight set by the task)
# where the task's config turns those on (irl.cli.train.defaults_era).
DEFAULTS_FIELD = "defaults"
ERA_PART_NAMES = {
    "recipe": "recipe",
    "companion": "companion",
    "rank": "rank loss",
    "torque": "torque term",
    "wu": "initial w_u",
}
# Runs recorded with an override under the name it had before it became the task's default:
# (env, the defaults they ran under, the override) -> the defaults they ran, as later records
# name them. Walker2d's five rank-loss seeds ran `experimental.rank_loss=1.0`, the same model
# and loss that `env.cost_rank_loss: 1.0` (cost.rank_loss) gives every Walker2d run since; Ant's
# torque-term seeds ran `cost.torque_term=true`, which `env.cost_torque_term: true` now sets, and
# its five seeds with the term at w_u = 0.25 `cost.torque_init=0.25` (`env.cost_torque_init`).
RECORDED_PROMOTIONS: dict[tuple[str, str, str], str] = {
    ("Walker2d-v5", "recipe+companion", "experimental.rank_loss=1.0"): "recipe+companion+rank",
    ("Ant-v5", "recipe+companion", "cost.torque_term=true"): "recipe+companion+torque",
    ("Ant-v5", "recipe+companion+torque", "cost.torque_init=0.25"): "recipe+companion+torque+wu",
}
HEADLINE_ENVS = (
    "Hopper-v5",
    "HalfCheetah-v5",
    "Walker2d-v5",
    "Ant-v5",
    "Humanoid-v5",
    "InvertedPendulum-v5",
)
SUITE_ORDER = (
    "mujoco-quick",
    "mujoco-hopper",
    "mujoco-halfcheetah",
    "mujoco-walker2d",
    "mujoco-ant",
    "mujoco-humanoid",
    "mujoco-ablation",
)
PEERS = {"imitation_airl": "AIRL", "imitation_gail": "GAIL"}
ALGO_NAMES = {
    "gan_gcl": "GAN-GCL",
    "gcl": "GCL",
    "airl": "AIRL",
    "airl_state": "AIRL state-only",
    "gail": "GAIL",
    "bc": "BC",
}


# ---------------------------------------------------------------------------------- helpers
def marker(name: str) -> tuple[str, str]:
    """Begin and end markers of the generated block ``name``."""
    return f"<!-- {name}:begin ({SCRIPT_NAME}) -->", f"<!-- {name}:end -->"


def _end(begin: str) -> str:
    return begin.split(":begin")[0] + ":end -->"


def replace_block(body: str, begin: str, text: str) -> str:
    """``body`` with the text between marker ``begin`` and its end marker replaced by ``text``.

    Raises:
        ValueError: when ``body`` lacks either marker.
    """
    if begin not in body or _end(begin) not in body:
        raise ValueError(f"no block {begin} … {_end(begin)}")
    start, end = body.index(begin) + len(begin), body.index(_end(begin))
    return body[:start] + "\n" + text.rstrip("\n") + "\n" + body[end:]


def read_records(path: Path) -> list[Record]:
    """The records of a JSON-lines file (none when it does not exist).

    Raises:
        ValueError: naming the file and line when a line is not a JSON object.
    """
    if not path.exists():
        return []
    out = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{i}: not JSON ({exc.msg})") from None
        if not isinstance(rec, dict):
            raise ValueError(f"{path}:{i}: not a JSON object")
        out.append(rec)
    return out


def mean_std(values: Iterable[float | None], digits: int = 2) -> str:
    """``mean ± std`` (sample std) of the values that are not None; one value alone; ``–``."""
    vals = [v for v in values if v is not None]
    if not vals:
        return "–"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{statistics.mean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"


IQM_MIN_SEEDS = 5  # the headline gives an IQM with a bootstrap interval from this many seeds on


def _iqm_rows(rows: np.ndarray) -> np.ndarray:
    """The IQM of each row of a 2-D array: its sorted values less ``int(n / 4)`` at each end."""
    cut = rows.shape[1] // 4
    return np.sort(rows, axis=1)[:, cut : rows.shape[1] - cut].mean(axis=1)


def iqm(values: Sequence[float]) -> float:
    """Interquartile mean: the mean of the values left after cutting ``int(n / 4)`` from each
    end of the sorted list (``scipy.stats.trim_mean(values, 0.25)``, rliable's IQM)."""
    return float(_iqm_rows(np.asarray([values], float))[0])


def iqm_interval(
    values: Sequence[float], n_boot: int = 10000, seed: int = 0
) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of :func:`iqm` over seeds (resampled with
    replacement, ``n_boot`` times, a fixed generator so the tables regenerate identically)."""
    vals = np.asarray(values, float)
    draws = np.random.default_rng(seed).choice(vals, size=(n_boot, len(vals)), replace=True)
    lo, hi = np.percentile(_iqm_rows(draws), [2.5, 97.5])
    return float(lo), float(hi)


def iqm_cell(values: Iterable[float | None]) -> str:
    """``IQM 0.95 [0.93, 0.97]`` over ≥ ``IQM_MIN_SEEDS`` values; ``""`` for fewer."""
    vals = [v for v in values if v is not None]
    if len(vals) < IQM_MIN_SEEDS:
        return ""
    lo, hi = iqm_interval(vals)
    return f"IQM {iqm(vals):.2f} [{lo:.2f}, {hi:.2f}]"


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.mean(vals) if vals else None


def per_seed(recs: list[Record], key: str = "normalized_return") -> str:
    """The figure of each run in seed order, ``0.94 / 0.95 / 0.95``."""
    vals = [r.get(key) for r in sorted(recs, key=lambda r: r["seed"])]
    return " / ".join("–" if v is None else f"{v:.2f}" for v in vals)


# Overrides a MuJoCo table names in its own columns, not in "variant".
_NAMED = ("env=", "algo=", "sampler=", "seed=", "total_env_steps=")


def _raw_extra_overrides(rec: Record, named: tuple[str, ...] = _NAMED) -> list[str]:
    return [o for o in rec.get("overrides", []) if not o.startswith(named)]


def _promoted(rec: Record) -> tuple[str, str] | None:
    """(the override, the defaults it became) when the record ran, under an earlier name, what
    later became its task's default (RECORDED_PROMOTIONS); None otherwise."""
    era = rec.get(DEFAULTS_FIELD)
    for override in _raw_extra_overrides(rec):
        promoted = RECORDED_PROMOTIONS.get((rec.get("env", ""), str(era), override))
        if promoted is not None:
            return override, promoted
    return None


def _extra_overrides(rec: Record, named: tuple[str, ...] = _NAMED) -> list[str]:
    """The record's overrides beyond those ``named`` in a table's own columns (env, algo,
    sampler, seed, budget), less one it ran under the earlier name of a setting that became its
    task's default (RECORDED_PROMOTIONS)."""
    promoted = _promoted(rec)
    return [o for o in _raw_extra_overrides(rec, named) if not promoted or o != promoted[0]]


def defaults_era(rec: Record) -> str | None:
    """The defaults a record ran under (its "defaults" field, or the defaults a promoted
    override later became); None for records before the recipe."""
    promoted = _promoted(rec)
    era = promoted[1] if promoted else rec.get(DEFAULTS_FIELD)
    return era if era in DEFAULTS_ERAS else None


def _era_rank(rec: Record) -> int:
    """How late a record's defaults are: -1 before the recipe, then one per addition."""
    era = defaults_era(rec)
    return -1 if era is None else era.count("+")


def recipe_default(rec: Record) -> bool:
    """Whether the record ran with the recipe as its defaults (written since issue 19), with
    or without the additions (companion, rank loss) that later became some tasks' defaults."""
    return defaults_era(rec) is not None


def defaults_name(rec: Record) -> str:
    """The defaults a record ran under, in words (``recipe + companion``): ``recipe (as
    overrides)`` for a record that ran the recipe before it became the defaults, ``pre-recipe``
    for one that ran the defaults before it."""
    era = _run_era(rec)
    if era is None:
        return (
            "recipe (as overrides)" if rec.get("algo") != "bc" and is_recipe(rec) else "pre-recipe"
        )
    return _era_words(era)


def _run_era(rec: Record) -> str | None:
    """The defaults a record ran under, as its sampler ran them: sampler=sac turns the companion
    off (sampler/sac.yaml), whatever the task's default."""
    era = defaults_era(rec)
    if era is not None and rec.get("sampler") == "sac":
        era = era.replace("+companion", "")
    return era


def _era_words(era: str) -> str:
    """``recipe + companion + rank loss`` for "recipe+companion+rank"."""
    return " + ".join(ERA_PART_NAMES.get(p, p) for p in era.split("+"))


def _era_label(era: str) -> str:
    """``recipe + companion + rank loss (default)`` for "recipe+companion+rank"."""
    return _era_words(era) + " (default)"


def variant_label(rec: Record, named: tuple[str, ...] = _NAMED) -> str:
    """The defaults a record ran under (``recipe + companion (default)``) and its overrides
    beyond those ``named`` in a table's own columns: what a row changes against the defaults;
    ``default`` for a record from before the recipe with no such overrides."""
    extra = _extra_overrides(rec, named)
    era = _run_era(rec)
    if era is not None:
        return " ".join([_era_label(era), *extra])
    return " ".join(extra) or "default"


def is_recipe(rec: Record) -> bool:
    """Whether a train record ran the measured recipe of its task, and nothing else."""
    if recipe_default(rec):
        return not _extra_overrides(rec)
    want = {*RECORDED_RECIPE, *RECORDED_TASK_RECIPE.get(rec["env"], ())}
    return set(_extra_overrides(rec)) == want


def short_variant(variant: str) -> str:
    """A variant with the recorded recipe's four overrides written as ``recipe``."""
    parts = variant.split()
    if not all(o in parts for o in RECORDED_RECIPE):
        return variant
    rest = [o for o in parts if o not in RECORDED_RECIPE]
    return " + ".join(["recipe", *rest])


def _key(rec: Record) -> tuple[Any, ...]:
    return (rec["suite"], rec["env"], rec["algo"], rec["sampler"], variant_label(rec))


def command_template(command: str) -> str:
    """A record's command with its seed written ``<seed>`` (the same for every seed of a row):
    ``seed=3``, ``--seed 3`` and a run directory's ``_seed3_``."""
    command = re.sub(r"(?<![\w.])seed=\d+", "seed=<seed>", command)
    command = re.sub(r"--seed \d+", "--seed <seed>", command)
    return re.sub(r"_seed\d+_", "_seed<seed>_", command)


# ---------------------------------------------------------------------------------- tables
@dataclass
class Table:
    """A markdown table whose rows each summarise a group of records."""

    head: list[str]
    rows: list[list[str]] = field(default_factory=list)
    groups: list[list[Record]] = field(default_factory=list)

    def add(self, cells: list[str], recs: list[Record]) -> None:
        """Append a row and the records it summarises."""
        if len(cells) != len(self.head):
            raise ValueError(f"row of {len(cells)} cells under {len(self.head)} headers")
        self.rows.append(cells)
        self.groups.append(recs)

    def markdown(self, prefix: str | None = None) -> str:
        """The table; with ``prefix`` a first column ``#`` numbers the rows ``<prefix><i>``."""
        head = ([] if prefix is None else ["#"]) + self.head
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for i, cells in enumerate(self.rows, 1):
            ids = [] if prefix is None else [f"{prefix}{i}"]
            lines.append("| " + " | ".join(ids + cells) + " |")
        return "\n".join(lines) + "\n"

    def commands(self, prefix: str, labels: int = 0) -> str:
        """Per row: the exact commands of its records (seed as ``<seed>``), commits, wall-clock;
        the row's first ``labels`` cells in front."""
        head = ["#", *self.head[:labels], "command", "commit", "wall-clock, all runs"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for i, (cells, recs) in enumerate(zip(self.rows, self.groups, strict=True), 1):
            cmds = sorted({command_template(r.get("command", "?")) for r in recs})
            commits = ", ".join(sorted({str(r.get("commit", "?")) for r in recs}))
            walls = [float(r["wall_clock_s"]) for r in recs if r.get("wall_clock_s") is not None]
            wall = "–" if len(walls) < len(recs) else _duration(math.fsum(walls))
            cmd = "<br>".join(f"`{c}`" for c in cmds)
            label = "".join(f" {c} |" for c in cells[:labels])
            lines.append(f"| {prefix}{i} |{label} {cmd} | {commits} | {wall} |")
        return "\n".join(lines) + "\n"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def load() -> tuple[list[Record], dict[tuple[Any, ...], Record]]:
    """Latest train record per (config, seed, env_steps) and the eval record joined onto each.

    A run's re-optimised score is its latest eval that re-optimised on the learned reward with
    SAC's own temperature (later evals that skip re-optimisation, fix α, or pay SAC the true
    reward do not replace it). Eval records from before records carried overrides join on the
    default variant.
    """
    latest: dict[tuple[Any, ...], Record] = {}
    for rec in read_records(RESULTS / "mujoco.jsonl"):
        latest[(*_key(rec), rec["seed"], rec["env_steps"])] = rec
    evals: dict[tuple[Any, ...], Record] = {}
    for r in read_records(RESULTS / "mujoco_eval.jsonl"):
        key = (*_key(r), r["seed"], r["env_steps"])
        has_reopt = r.get("reoptimized_normalized_return") is not None
        if has_reopt and (
            reopt_ent_coef(r) != "auto" or r.get("reoptimized_reward", "learned") != "learned"
        ):
            continue
        if has_reopt or evals.get(key, {}).get("reoptimized_normalized_return") is None:
            evals[key] = r
    return list(latest.values()), evals


def _command_value(rec: Record, key: str) -> str | None:
    """The value of ``key=…`` in a record's command (None when it is not there)."""
    m = re.search(rf"(?<![\w.]){re.escape(key)}=(\S+)", rec.get("command", ""))
    return m.group(1) if m else None


def reopt_ent_coef(rec: Record) -> str:
    """SAC's temperature in a re-optimisation (records before the field: from the command)."""
    if "reoptimized_ent_coef" in rec:
        return str(rec["reoptimized_ent_coef"])
    return _command_value(rec, "reopt_ent_coef") or "auto"


def _reopt_scores(recs: list[Record], evals: dict[tuple[Any, ...], Record]) -> list[float | None]:
    """Each train record's re-optimised score, from the eval record joined onto its run."""
    out = []
    for r in recs:
        ev = evals.get((*_key(r), r["seed"], r["env_steps"]))
        out.append(ev.get("reoptimized_normalized_return") if ev else None)
    return out


def _suite_rank(suite: str) -> tuple[int, str]:
    return (SUITE_ORDER.index(suite) if suite in SUITE_ORDER else len(SUITE_ORDER), suite)


def train_groups(records: list[Record]) -> dict[tuple[Any, ...], list[Record]]:
    """Runs grouped by (suite, env, algo, sampler, variant, env_steps), seeds sorted."""
    groups: dict[tuple[Any, ...], list[Record]] = defaultdict(list)
    for rec in records:
        groups[(*_key(rec), rec["env_steps"])].append(rec)  # budgets are separate rows
    return {
        k: sorted(v, key=lambda r: r["seed"])
        for k, v in sorted(groups.items(), key=lambda kv: (_suite_rank(kv[0][0]), str(kv[0])))
    }


def mujoco_tables(records: list[Record], evals: dict[tuple[Any, ...], Record]) -> dict[str, Table]:
    """Per suite, one row per configuration: mean ± std over seeds and each seed's score."""
    tables: dict[str, Table] = {}
    for (suite, env, algo, sampler, variant, steps), recs in train_groups(records).items():
        table = tables.setdefault(
            suite,
            Table(
                [
                    "env",
                    "algo",
                    "sampler",
                    "variant",
                    "seeds",
                    "env steps",
                    "normalised return",
                    "per seed",
                    "re-optimised",
                    "sample ESS/M (last 10 it)",
                    "env steps/s",
                    "wall-clock s per run",
                ]
            ),
        )
        table.add(
            [
                env,
                algo,
                sampler,
                short_variant(variant),
                str(len(recs)),
                str(steps),
                mean_std(r["normalized_return"] for r in recs),
                per_seed(recs),
                mean_std(_reopt_scores(recs, evals)),
                mean_std(r.get("ess_frac_samples_mean_last10") for r in recs),
                mean_std((r.get("steps_per_s") for r in recs), 0),
                mean_std((r.get("wall_clock_s") for r in recs), 0),
            ],
            recs,
        )
    return tables


def ablation_row(rec: Record, recipe: Iterable[str] = RECORDED_RECIPE) -> str:
    """What an ablation run changes against the recipe: its overrides not in the recipe, and
    the recipe's settings it drops (a row that changes nothing is the recipe itself)."""
    if recipe_default(rec):
        return " ".join(_extra_overrides(rec)) or "recipe (all measures on)"
    recipe = list(recipe)
    variant = _extra_overrides(rec)
    added = [o for o in variant if o not in recipe]
    added_keys = {a.split("=")[0] for a in added}
    dropped = [o for o in recipe if o not in variant and o.split("=")[0] not in added_keys]
    return " ".join(added + [f"no {o}" for o in dropped]) or "recipe (all measures on)"


def ablation_table(records: list[Record], evals: dict[tuple[Any, ...], Record]) -> Table:
    """The Hopper ablation: a row per measure switched off (or on), Δ against the recipe's run
    of the same seed (rows may hold different seeds)."""
    groups: dict[tuple[str, bool, int], list[Record]] = defaultdict(list)
    for rec in records:
        if rec["suite"] == "mujoco-ablation":
            groups[(ablation_row(rec), recipe_default(rec), rec["env_steps"])].append(rec)
    base = {
        (era, r["seed"], steps): r["normalized_return"]
        for (row, era, steps), recs in groups.items()
        if row.startswith("recipe")
        for r in recs
    }
    table = Table(
        [
            "change against the recipe (override)",
            "seeds",
            "normalised return",
            "per seed",
            "Δ vs recipe",
            "sample ESS/M (last 10 it)",
            "log Z ESS/M, demos + samples",
            "re-optimised",
            "env steps",
        ]
    )
    order = sorted(
        groups.items(), key=lambda kv: (kv[0][1], not kv[0][0].startswith("recipe"), kv[0])
    )
    for (row, era, steps), recs in order:
        recs = sorted(recs, key=lambda r: r["seed"])
        diffs = [
            r["normalized_return"] - base[(era, r["seed"], steps)]
            for r in recs
            if (era, r["seed"], steps) in base
        ]
        delta = "–" if row.startswith("recipe") or not diffs else f"{statistics.mean(diffs):+.2f}"
        label = row + (" [recipe default]" if era else "")
        table.add(
            [
                label,
                ", ".join(str(r["seed"]) for r in recs),
                mean_std(r["normalized_return"] for r in recs),
                per_seed(recs),
                delta,
                mean_std((r.get("ess_frac_samples_mean_last10") for r in recs), 3),
                mean_std(r.get("ess_frac_mean_last10") for r in recs),
                mean_std(_reopt_scores(recs, evals)),
                str(steps),
            ],
            recs,
        )
    return table


def _reopt_algo(rec: Record) -> str:
    """An ``irl-eval`` record's re-optimiser (records from before ``reoptimized_algo`` ran SAC)."""
    return str(rec.get("reoptimized_algo") or "sac")


def reopt_optimiser(rec: Record) -> str:
    """The fresh optimiser of an ``irl-eval`` record: "SAC", "PPO, squashed, reward normalised",
    …"""
    name = _reopt_algo(rec).upper()
    if rec.get("reoptimized_squash"):
        name += ", squashed"
    if rec.get("reoptimized_normalize_reward"):
        name += ", reward normalised"
    if rec.get("reoptimized_shaping") is False and rec.get("reoptimized_reward") != "true":
        name += ", no shaping"
    return name


def reopt_table() -> Table:
    """Every re-optimisation measured: a fresh optimiser on a run's learned reward (or on the
    true reward: the control), its true score."""
    recs = [
        r
        for r in read_records(RESULTS / "mujoco_eval.jsonl")
        if r.get("reoptimized_normalized_return") is not None
    ]
    table = Table(
        [
            "env",
            "algo",
            "variant",
            "seed",
            "recovered policy",
            "optimiser",
            "steps",
            "SAC α",
            "absorbing tail γ",
            "paid",
            "re-optimised",
            "learned reward: demo step / absorbing step",
            "training time",
        ]
    )
    for r in sorted(recs, key=lambda r: (*map(str, _key(r)), r["seed"])):
        steps = r.get("reoptimized_steps")
        demo, absorbing = r.get("learned_reward_demo_step"), r.get("learned_reward_absorbing_step")
        rewards = "–" if demo is None or absorbing is None else f"{demo:.2f} / {absorbing:.2f}"
        # Over all the calls that carried it on; records from before the field have none.
        wall = r.get("reoptimized_wall_clock_s")
        table.add(
            [
                r["env"],
                r["algo"],
                short_variant(variant_label(r)),
                str(r["seed"]),
                f"{r['normalized_return']:.2f}",
                reopt_optimiser(r),
                str(int(steps)) if steps else "–",
                reopt_ent_coef(r) if _reopt_algo(r) == "sac" else "–",
                str(r.get("reoptimized_tail_gamma", "cost γ")),
                f"{r.get('reoptimized_reward', 'learned')} reward",
                f"{r['reoptimized_normalized_return']:.2f}",
                rewards,
                "–" if wall is None else f"{wall / 3600:.1f} h",
            ],
            [r],
        )
    return table


def _reopt_score(rec: Record) -> float:
    """A re-optimisation's score: the mean of its last evaluations where it has them, else its
    final evaluation (expert-normalised)."""
    last = rec.get("reoptimized_normalized_return_last3_mean")
    return float(rec["reoptimized_normalized_return"] if last is None else last)


@dataclass
class ReoptPair:
    """One run's learned-reward re-optimisation in its own task and its true-reward control."""

    env: str
    optimiser: str  # "PPO", "PPO, reward normalised", ...
    steps: str
    run_dir: str | None
    learned: Record
    control: Record

    @property
    def ratio(self) -> float | None:
        """Learned ÷ control on their scores (None when the control is not above 0)."""
        ceiling = _reopt_score(self.control)
        return _reopt_score(self.learned) / ceiling if ceiling > 0 else None


def source_reopt_pairs() -> list[ReoptPair]:
    """Learned reward against the true-reward control, re-optimised in the run's own task by the
    same optimiser, budget and seed: ``irl-eval`` records paired by task, optimiser, budget and
    ``irl-eval``'s seed (the control reads no learned reward, so one control serves every run of
    the task; the run's own control when it has one). The latest learned record of each run,
    termination price and shaping (``reopt_shaping=false`` rows apart); ordered by task,
    optimiser, budget, run seed, price and shaping."""
    learned: dict[tuple[Any, ...], Record] = {}
    controls: dict[tuple[Any, ...], dict[str | None, Record]] = defaultdict(dict)
    for r in read_records(RESULTS / "mujoco_eval.jsonl"):
        algo = r.get("reoptimized_algo")
        if algo not in ("ppo", "ars", "sac") or r.get("reoptimized_normalized_return") is None:
            continue
        run_dir = _command_value(r, "run_dir")
        task = (
            r["env"],
            algo,
            _command_value(r, "reopt_steps"),
            _command_value(r, "seed") or "0",
            bool(r.get("reoptimized_normalize_reward")),
            bool(r.get("reoptimized_squash")),
        )
        if r.get("reoptimized_reward", "learned") == "true":
            controls[task][run_dir] = r
        else:  # the latest record of each run, termination price and shaping
            unshaped = r.get("reoptimized_shaping") is False
            learned[(*task, run_dir, r.get("termination_floor") is None, unshaped)] = r

    def order(key: tuple[Any, ...]) -> tuple[str, ...]:
        rec = learned[key]
        return (
            rec["env"], key[1], str(key[4]), str(key[5]), str(key[2]), str(rec["seed"]),
            str(not key[7]), str(key[8]),
        )  # fmt: skip

    pairs = []
    for key in sorted(learned, key=order):
        rec, (env, algo, steps, eval_seed, normalised, squashed, run_dir, _, unshaped) = (
            learned[key],
            key,
        )
        task = controls.get((env, algo, steps, eval_seed, normalised, squashed), {})
        control = task.get(run_dir) or next(iter(task.values()), None)
        if control is not None:
            optimiser = reopt_optimiser(rec)
            pairs.append(ReoptPair(env, optimiser, steps or "–", run_dir, rec, control))
    return pairs


def source_reopt_table() -> Table:
    """Each pair of :func:`source_reopt_pairs`: learned reward, control, learned ÷ control."""
    table = Table(
        [
            "env",
            "run",
            "seed",
            "optimiser",
            "steps",
            "termination priced",
            "learned reward",
            "true reward (control)",
            "learned ÷ control",
        ]
    )
    for pair in source_reopt_pairs():
        rec, floor, ratio = pair.learned, pair.learned.get("termination_floor"), pair.ratio
        table.add(
            [
                pair.env,
                short_variant(variant_label(rec)),
                str(rec["seed"]),
                pair.optimiser,
                pair.steps,
                "c_abs as learned" if floor is None else f"≥ {floor:.2f} (demo ceiling)",
                f"{_reopt_score(rec):.2f}",
                f"{_reopt_score(pair.control):.2f}",
                "n/a" if ratio is None else f"{ratio:.2f}",
            ],
            [rec, pair.control],
        )
    return table


REOPT_BAR = 0.7  # the share of the control a default reward must reach on its own task (issue 22)


def source_reopt_summary_table() -> Table:
    """The default configuration's rewards per task: the runs trained with no override beyond
    the seed and the budget (either defaults era; a row per training budget), their termination
    priced at the demo ceiling (irl-eval's default), each re-optimised and paired with its
    control; the seeds' learned ÷ control."""
    groups: dict[tuple[str, str, str, str], list[ReoptPair]] = defaultdict(list)
    for pair in source_reopt_pairs():
        rec = pair.learned
        if is_recipe(rec) and recipe_default(rec) and rec.get("termination_floor") is not None:
            trained = f"{variant_label(rec)}, trained {rec['env_steps']:,} steps"
            groups[(pair.env, trained, pair.optimiser, pair.steps)].append(pair)
    table = Table(
        [
            "env",
            "defaults",
            "optimiser",
            "steps",
            "seeds",
            "learned reward, per seed",
            "control",
            "learned ÷ control, per seed",
            "mean ÷ control",
            f"≥ {REOPT_BAR:.0%} of the control",
        ]
    )
    for (env, variant, optimiser, steps), pairs in sorted(groups.items()):
        pairs = sorted(pairs, key=lambda p: p.learned["seed"])
        ratios = [p.ratio for p in pairs]
        known = [r for r in ratios if r is not None]
        mean = statistics.mean(known) if known else None
        table.add(
            [
                env,
                variant,
                optimiser,
                steps,
                str(len(pairs)),
                " / ".join(f"{_reopt_score(p.learned):.2f}" for p in pairs),
                " / ".join(sorted({f"{_reopt_score(p.control):.2f}" for p in pairs})),
                " / ".join("n/a" if r is None else f"{r:.2f}" for r in ratios),
                "–" if mean is None else f"{mean:.2f}",
                "–" if mean is None else ("yes" if mean >= REOPT_BAR else "no"),
            ],
            [r for p in pairs for r in (p.learned, p.control)],
        )
    return table


SOURCE_REOPT_SUMMARY_NOTE = (
    "Issue 22's bar on the source tasks: the reward of `irl-train env=<task> seed=<seed>` (no "
    "override but the seed) re-optimised from scratch by `irl-eval run_dir=… "
    "reopt_reward=learned reopt_algo=ppo reopt_steps=300000` (termination priced at the demo "
    "ceiling, irl-eval's default; its reward normalised, irl-eval's default for PPO since "
    "`reopt_normalize_reward=auto`), against the same PPO on the true reward (the control), "
    "scores as in the table below (the mean of the last 3 evaluations, expert-normalised). "
    "Defaults: `recipe + companion (default)` are today's defaults of Hopper, HalfCheetah "
    "and Walker2d (`sampler.companion` on; on Hopper with the state-only cost); `recipe "
    "(default)` rows ran before the companion became the task's default. Trained: the "
    "training run's env-step budget. A row per task, defaults, training budget, optimiser and "
    "re-optimisation budget; the bar asks ≥ 70 % of the control for the mean of the seeds."
)


SOURCE_REOPT_NOTE = (
    "A reward tested on its own task: a fresh optimiser trained from scratch on the "
    "run's learned reward, and the same optimiser, budget and seed on the true reward (the "
    "control; it reads no learned reward, so one control serves every run of a task), both "
    "scored by the true reward, expert-normalised: the mean of the last "
    "3 periodic evaluations where the record has them, else the final evaluation. "
    "Termination priced: what a fall costs in the learned reward (`irl-eval "
    "termination_price`): the absorbing state's learned cost, or that cost floored at the "
    "costliest step of the run's training demos (docs/math.md#the-termination-floor; records "
    "from before the floor priced it as learned; HalfCheetah never terminates, so there the "
    "price changes nothing). PPO: SB3's defaults, 256×256; reward normalised: its reward "
    "divided by a running std of the discounted return (`irl-eval "
    "reopt_normalize_reward`, SB3's VecNormalize on rewards only, as RL Zoo's MuJoCo PPO), "
    "for the learned reward and its control alike: irl-eval's default for PPO since "
    "`reopt_normalize_reward=auto`, opt-in (`=true`) before; ARS: a linear policy."
)


def ranking_table() -> Table:
    """Per run: true / learned return of each behaviour and how well the two orders agree."""
    latest = {
        (r["run_dir"], r.get("termination_floor") is None, r.get("target_env")): r
        for r in read_records(RESULTS / "cost_ranking.jsonl")
    }
    table = Table(
        [
            "env",
            "algo",
            "variant",
            "seed",
            "termination priced",
            "held-out demos",
            "recovered policy",
            "standing still (PD)",
            "zero torque",
            "random",
            "probe",
            "pairs in true order",
            "episode Spearman",
        ]
    )

    def where(r: Record) -> str:
        target = r.get("target_env")
        return r["env"] if not target else f"{r['env']} → {target}"

    def order(r: Record) -> tuple[Any, ...]:
        return (
            where(r),
            r["algo"],
            variant_label(r),
            r.get("termination_floor") is not None,
            r["seed"],
        )

    for r in sorted(latest.values(), key=order):
        cells = [
            f"{r[f'true_return_{b}']:.0f} / {r[f'learned_return_{b}']:.0f}" for b in BEHAVIOURS
        ]
        floor = r.get("termination_floor")
        probe = (
            f"{r['true_return_probe']:.0f} / {r['learned_return_probe']:.0f}"
            if "learned_return_probe" in r
            else "–"
        )
        table.add(
            [
                where(r),
                r["algo"],
                short_variant(variant_label(r)),
                str(r["seed"]),
                "as learned" if floor is None else f"≥ {floor:.2f}",
                *cells,
                probe,
                f"{r['pairs_in_true_order']:.1f}",
                f"{r['episode_spearman']:.2f}",
            ],
            [r],
        )
    return table


def overhead_table() -> Table:
    """IRL loop vs plain SB3 sampler, measured side by side (overhead.py), per commit."""
    recs = [r for r in read_records(RESULTS / "overhead.jsonl") if "overhead_ratio" in r]
    groups: dict[tuple[Any, ...], list[Record]] = defaultdict(list)
    for r in recs:
        groups[(r["env"], r["sampler"], r["algo"], r["env_steps"], r["commit"])].append(r)
    table = Table(
        [
            "env",
            "sampler",
            "algo",
            "env steps per run",
            "runs",
            "plain SB3 steps/s",
            "IRL steps/s",
            "overhead ratio",
        ]
    )
    for (env, s, a, n, _), g in sorted(groups.items(), key=str):
        table.add(
            [
                env,
                s,
                a,
                str(n),
                str(len(g)),
                mean_std((r["plain_steps_per_s"] for r in g), 0),
                mean_std((r["steps_per_s"] for r in g), 0),
                mean_std(r["overhead_ratio"] for r in g),
            ],
            g,
        )
    return table


# ---------------------------------------------------------------------------------- ceiling
CEILING_BUDGETS = (300_000, 1_000_000)


def _ceiling_score(rec: Record, budget: int) -> float | None:
    """A sampler-ceiling run's score at ``budget`` env steps: its final (``eval.final_episodes``)
    evaluation when it ran exactly that long, else its periodic evaluation at that step."""
    if rec["env_steps"] == budget:
        return rec["normalized_return"]
    at = [e["normalized_return"] for e in rec.get("evals") or [] if e["env_steps"] == budget]
    return at[0] if at else None


@functools.cache
def task_budgets(conf_dir: Path = ROOT / "irl" / "conf" / "env") -> dict[str, int]:
    """Each task's configured env-step budget (``total_env_steps`` of its env config), by env id;
    read once per process (every headline and recipe lookup asks)."""
    budgets: dict[str, int] = {}
    for path in sorted(conf_dir.glob("*.yaml")):
        conf = yaml.safe_load(path.read_text()) or {}
        if isinstance(conf.get("total_env_steps"), int) and conf.get("id"):
            budgets[str(conf["id"])] = int(conf["total_env_steps"])
    return budgets


def _recipe_key(
    groups: dict[tuple[Any, ...], list[Record]],
    env: str,
    where: Callable[[tuple[Any, ...]], bool] = lambda _k: True,
) -> tuple[Any, ...] | None:
    """GAN-GCL's preferred recipe group of ``env`` among the keys ``where`` admits: the group
    under the latest defaults first (the recipe's, then with the companion, then with the rank
    loss, each where it is the task's), then the one
    at the task's configured budget (what ``irl-train env=<task>`` runs), then the one with most
    seeds (ablation rows never)."""
    keys = [
        k
        for k, recs in groups.items()
        if k[1] == env
        and k[2] == "gan_gcl"
        and k[0] != "mujoco-ablation"
        and all(is_recipe(r) for r in recs)
        and where(k)
    ]
    budget = task_budgets().get(env)
    return max(
        keys,
        key=lambda k: (
            min(_era_rank(r) for r in groups[k]),
            k[5] == budget,
            len(groups[k]),
        ),
        default=None,
    )


def _recipe_cell(
    groups: dict[tuple[Any, ...], list[Record]], env: str, sampler: str, budget: int
) -> str:
    """GAN-GCL's recipe runs of ``env`` with ``sampler`` at ``budget`` steps,
    ``mean ± std (seeds)``."""
    key = _recipe_key(groups, env, lambda k: k[3] == sampler and k[5] == budget)
    if key is None:
        return "–"
    return f"{mean_std(r['normalized_return'] for r in groups[key])} ({len(groups[key])})"


def _best_eval(rec: Record) -> str:
    """A run's best periodic evaluation, ``0.90 at 760k``."""
    best = max(rec.get("evals") or [], key=lambda e: e["normalized_return"], default=None)
    return (
        "–" if best is None else f"{best['normalized_return']:.2f} at {best['env_steps'] // 1000}k"
    )


def ceiling_table(records: list[Record]) -> Table:
    """Per task: the IRL loop's sampler trained on the true reward (sampler_ceiling.py) beside
    GAN-GCL's recipe at the same env-step budgets."""
    table = Table(["env", "sampler", "seeds"] + [f"{b:,} steps" for b in CEILING_BUDGETS])
    table.head.append("best evaluation, per seed")
    table.head += [f"GAN-GCL recipe, {b:,} steps" for b in CEILING_BUDGETS]
    ceiling: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in read_records(RESULTS / "ceiling.jsonl"):
        label = r["sampler"] + (" + observation normalisation" if r.get("norm_obs") else "")
        if "policy_ema" not in r:  # before the script evaluated the loop's weight average
            label += ", PPO's own weights evaluated"
        ceiling[(r["env"], label)].append(r)
    groups = train_groups(records)
    for (env, sampler), recs in sorted(
        ceiling.items(),
        key=lambda kv: HEADLINE_ENVS.index(kv[0][0]) if kv[0][0] in HEADLINE_ENVS else 99,
    ):
        recs = sorted(recs, key=lambda r: r["seed"])
        ours = [_recipe_cell(groups, env, recs[0]["sampler"], b) for b in CEILING_BUDGETS]
        table.add(
            [
                env,
                sampler,
                ", ".join(str(r["seed"]) for r in recs),
                *(mean_std(_ceiling_score(r, b) for r in recs) for b in CEILING_BUDGETS),
                " / ".join(_best_eval(r) for r in recs),
                *ours,
            ],
            recs,
        )
    return table


CEILING_NOTE = (
    "`python benchmarks/sampler_ceiling.py --env <task> --seed <seed> total_env_steps=1000000`: "
    "the IRL loop's own sampler, at the recipe's settings (PPO: 2 envs × 1000 steps per iteration, "
    "batch 50, 10 epochs, 64×64, the reward divided by the running std of the discounted returns), "
    "trained on the task's true reward with no demos and no warm start. At 1,000,000 steps the "
    "score is the final 25-episode evaluation; at 300,000 the 5-episode evaluation of that step. "
    "The evaluated policy is the EMA of the weights (`sampler.policy_ema`), as the loop's "
    "recovered policy is, except in rows marked as evaluating PPO's own weights. "
    "With `--norm-obs` (a candidate, not the sampler's setting) the policy also sees observations "
    "normalised by their running mean and std. "
    "GAN-GCL's columns: its recipe runs at the same budget (seeds in brackets). An IRL run driving "
    "this sampler is not expected to end above it by much: where the ceiling itself is below 0.9, "
    "the optimiser, not the learned reward, bounds the score."
)


# ---------------------------------------------------------------------------------- headline
def n_seeds(n: int) -> str:
    """``1 seed``, ``3 seeds``."""
    return f"{n} seed" if n == 1 else f"{n} seeds"


def _group_cell(recs: list[Record]) -> str:
    """``mean ± std (n seeds)``, led by the IQM and its 95 % bootstrap interval from 5 seeds."""
    scores = [r["normalized_return"] for r in recs]
    head = iqm_cell(scores)
    spread = f"{mean_std(scores)} ({n_seeds(len(recs))})"
    return f"{head}; {spread}" if head else spread


def _best(groups: list[tuple[str, list[Record]]]) -> str:
    """The best mean score among named groups, ``0.71 ± 0.19 (3 seeds, gail)``; ties listed."""
    scored = [(round(_mean(r["normalized_return"] for r in g) or 0.0, 2), n, g) for n, g in groups]
    if not scored:
        return "–"
    top = max(s for s, _, _ in scored)
    names = [n for s, n, _ in scored if s == top]
    recs = next(g for s, _, g in scored if s == top)
    score = mean_std(r["normalized_return"] for r in recs)
    return f"{score} ({n_seeds(len(recs))}, {', '.join(names)})"


def _peer_groups(env: str) -> list[tuple[str, list[Record]]]:
    """imitation's runs of ``env`` from side_by_side.jsonl, latest per (algo, seed, budget), of
    today's protocol where it has any, else of the first job."""
    import side_by_side

    runs = [
        r
        for r in read_records(RESULTS / "side_by_side.jsonl")
        if r["env"] == env and r["algo"] in PEERS
    ]
    current = [r for r in runs if side_by_side.in_protocol(r)]
    first_job = [r for r in runs if side_by_side.in_protocol(r, side_by_side.LEGACY_SUITE)]
    latest: dict[tuple[Any, ...], Record] = {}
    for r in current or first_job:
        latest[(r["algo"], r["seed"], r.get("budget", r["env_steps"]))] = r
    groups: dict[str, list[Record]] = defaultdict(list)
    for (algo, _, budget), r in sorted(latest.items(), key=str):
        groups[f"{PEERS[algo]}, {budget:,} steps"].append(r)
    return list(groups.items())


def _ours(env: str, groups: dict[tuple[Any, ...], list[Record]]) -> tuple[str, tuple[Any, ...]]:
    """GAN-GCL's headline group of ``env``: its recipe runs (those since issue 19 first, then
    the most seeds), else the quick suite's default runs. Returns a settings label and the key."""
    key = _recipe_key(groups, env)
    if key is not None:
        companion = max((r.get("companion_env_steps") or 0 for r in groups[key]), default=0)
        extra = f" + {companion:,} of its companion" if companion else ""
        eras = {defaults_era(r) or "recipe" for r in groups[key]}
        # The companion is named by its env steps below; the other additions by name.
        shared = [a for a in ERA_ADDITIONS if a != "companion" and all(f"+{a}" in e for e in eras)]
        name = " + ".join(["recipe", *(ERA_PART_NAMES[a] for a in shared)])
        return f"{name}, {key[5]:,} steps{extra}", key
    keys = [k for k in groups if k[1] == env and k[2] == "gan_gcl" and k[4] == "default"]
    if not keys:
        return "", ()
    key = max(keys, key=lambda k: len(groups[k]))
    return f"pre-recipe defaults, {key[5]:,} steps", key


def headline_table(records: list[Record]) -> Table:
    """The README's short table: per task GAN-GCL, BC, the best other algorithm run with the
    same settings, and the best of the imitation library's AIRL and GAIL."""
    groups = train_groups(records)
    table = Table(
        [
            "task",
            "settings",
            "GAN-GCL",
            "BC (same demos)",
            "best other algorithm, same settings",
            "imitation 1.0.1 (its tuned settings)",
        ]
    )
    for env in HEADLINE_ENVS:
        settings, key = _ours(env, groups)
        if not key:
            continue
        n_demos = {r.get("n_demos") for r in groups[key]}
        bc = [
            (k, g)
            for k, g in groups.items()
            if k[1] == env and k[2] == "bc" and {r.get("n_demos") for r in g} == n_demos
        ]
        others = [
            (ALGO_NAMES.get(k[2], k[2]), g)
            for k, g in groups.items()
            if k[0] == key[0] and k[1] == env and k[4:] == key[4:] and k[2] not in ("gan_gcl", "bc")
        ]
        # BC under the GAN-GCL row's defaults (the same demo episodes), then the most seeds
        same_defaults = [g for k, g in bc if k[4] == key[4]]
        bc_cell = _group_cell(max(same_defaults or [g for _, g in bc], key=len)) if bc else "–"
        table.add(
            [
                env,
                settings,
                _group_cell(groups[key]),
                bc_cell,
                _best(others),
                _best(_peer_groups(env)),
            ],
            groups[key],
        )
    return table


# ---------------------------------------------------------------------------------- recipe doc
def recipe_variants_table(records: list[Record], evals: dict[tuple[Any, ...], Record]) -> Table:
    """Every GAN-GCL + PPO configuration run on Hopper and HalfCheetah (the task suites), the
    recipe's overrides written ``recipe``: how the recipe was found."""
    table = Table(
        ["env", "variant", "seeds", "env steps", "normalised return", "per seed", "re-optimised"]
    )
    rows = [
        (k, g)
        for k, g in train_groups(records).items()
        if k[0] in ("mujoco-hopper", "mujoco-halfcheetah") and k[2:4] == ("gan_gcl", "ppo")
    ]
    rows.sort(key=lambda kv: (kv[0][1], len(kv[0][4].split()), kv[0][5], kv[0][4]))
    for (_, env, _, _, variant, steps), recs in rows:
        table.add(
            [
                env,
                short_variant(variant),
                str(len(recs)),
                f"{steps:,}",
                mean_std(r["normalized_return"] for r in recs),
                per_seed(recs),
                mean_std(_reopt_scores(recs, evals)),
            ],
            recs,
        )
    return table


def recipe_algorithms_table(records: list[Record]) -> Table:
    """Every algorithm under its task's recipe (BC: no sampler, its own runs)."""
    table = Table(
        [
            "env",
            "algo",
            "defaults",
            "demos",
            "seeds",
            "env steps",
            "normalised return",
            "per seed",
            "sample ESS/M (last 10 it)",
        ]
    )
    for (suite, env, algo, sampler, _, steps), recs in train_groups(records).items():
        if suite in ("mujoco-quick", "mujoco-ablation"):
            continue
        if algo != "bc" and not all(is_recipe(r) for r in recs):
            continue
        table.add(
            [
                env,
                algo + _sampler_note(sampler),
                defaults_name(recs[0]),
                " / ".join(sorted({str(r.get("n_demos", "–")) for r in recs})),
                str(len(recs)),
                f"{steps:,}",
                mean_std(r["normalized_return"] for r in recs),
                per_seed(recs),
                mean_std((r.get("ess_frac_samples_mean_last10") for r in recs), 3),
            ],
            recs,
        )
    return table


def reopt_budget_table() -> Table:
    """Re-optimised score by SAC budget, one row per (run, reward SAC was paid, SAC α): SAC
    re-optimisations of the shaped reward only (the PPO ones, and those without the shaping,
    are rows of the RS table, which pairs each with its control)."""
    cells: dict[tuple[Any, ...], dict[int, float]] = defaultdict(dict)
    recs: dict[tuple[Any, ...], list[Record]] = defaultdict(list)
    for r in read_records(RESULTS / "mujoco_eval.jsonl"):
        if r.get("reoptimized_normalized_return") is None or not r.get("reoptimized_steps"):
            continue
        if r.get("reoptimized_algo", "sac") != "sac" or r.get("reoptimized_shaping") is False:
            continue
        key = (
            r["env"],
            r["algo"],
            short_variant(variant_label(r)),
            r["seed"],
            r.get("reoptimized_reward", "learned"),
            reopt_ent_coef(r),
        )
        cells[key][int(r["reoptimized_steps"])] = r["reoptimized_normalized_return"]
        recs[key].append(r)
    budgets = sorted({b for c in cells.values() for b in c})
    table = Table(
        ["env", "algo", "variant", "seed", "SAC paid", "SAC α"] + [f"{b // 1000}k" for b in budgets]
    )
    for key in sorted(cells, key=str):
        env, algo, variant, seed, paid, alpha = key
        scores = [f"{cells[key][b]:.2f}" if b in cells[key] else "" for b in budgets]
        table.add([env, algo, variant, str(seed), f"{paid} reward", alpha, *scores], recs[key])
    return table


def step_reward_table() -> Table:
    """Learned reward of a held-out demo step and of an absorbing step, per seed (irl-eval)."""
    latest: dict[tuple[Any, ...], Record] = {}
    for r in read_records(RESULTS / "mujoco_eval.jsonl"):
        if r.get("learned_reward_absorbing_step") is not None and r["suite"] != "mujoco-ablation":
            latest[(r["env"], r["algo"], short_variant(variant_label(r)), r["seed"])] = r
    groups: dict[tuple[Any, ...], list[Record]] = defaultdict(list)
    for (env, algo, variant, _), r in sorted(latest.items(), key=str):
        groups[(env, algo, variant)].append(r)
    table = Table(["env", "algo", "variant", "seeds", "demo step / absorbing step, per seed"])
    for (env, algo, variant), g in groups.items():
        pairs = "; ".join(
            f"{r['learned_reward_demo_step']:.2f} / {r['learned_reward_absorbing_step']:.2f}"
            for r in g
        )
        table.add([env, algo, variant, ", ".join(str(r["seed"]) for r in g), pairs], g)
    return table


# ---------------------------------------------------------------------------------- curves
def _slug(variant: str) -> str:
    """A file-name fragment for a variant: its overrides with runs of other characters as '-'."""
    return re.sub(r"[^A-Za-z0-9._]+", "-", variant).strip("-")


def curve_stem(suite: str, env: str, variant: str) -> str:
    """File stem of a curve plot under benchmarks/results/."""
    return f"{suite}_{env}" + ("" if variant == "default" else f"_{_slug(variant)}")


Curves = dict[str, list[list[list[float]]]]  # "algo/sampler" -> one [[steps, score]] per seed


def curve_groups(records: list[Record]) -> dict[tuple[str, str, str], Curves]:
    """The plots to draw, keyed (suite, env, variant): the default variant of every (suite, env)
    and each other variant that two or more IRL algorithms share, with BC's default runs added
    as the reference where the variant has none (BC takes no sampler or IRL options)."""
    by_plot: dict[tuple[str, str, str], Curves] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r.get("curve"):
            by_plot[(r["suite"], r["env"], variant_label(r))][f"{r['algo']}/{r['sampler']}"].append(
                r["curve"]
            )
    out: dict[tuple[str, str, str], Curves] = {}
    for (suite, env, variant), algos in sorted(by_plot.items()):
        algos = dict(algos)
        if variant != "default":
            if len([a for a in algos if not a.startswith("bc/")]) < 2:
                continue  # a single configuration's runs: its table row says it
            if not any(a.startswith("bc/") for a in algos):
                default = by_plot.get((suite, env, "default"), {})
                algos.update({a: runs for a, runs in default.items() if a.startswith("bc/")})
        out[(suite, env, variant)] = algos
    return out


def curves(records: list[Record], out_dir: Path) -> list[Path]:
    """One PNG per curve group: mean normalised return vs env steps, band = min..max over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    written = []
    for (suite, env, variant), algos in curve_groups(records).items():
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, runs in sorted(algos.items()):
            if all(p[0] == 0 for run in runs for p in run):  # BC: no env steps, a level line
                level = float(np.mean([run[-1][1] for run in runs]))
                ax.axhline(level, ls="--", c="k", lw=1, label=f"{name} ({len(runs)} seeds)")
                continue
            grid = np.array(sorted({p[0] for run in runs for p in run}), dtype=float)
            ys = np.array([np.interp(grid, *np.array(run, dtype=float).T) for run in runs])
            (line,) = ax.plot(grid, ys.mean(0), label=f"{name} ({len(runs)} seeds)")
            if len(runs) > 1:  # the band in its line's colour (the cycle would give the next)
                ax.fill_between(grid, ys.min(0), ys.max(0), alpha=0.2, color=line.get_color())
        ax.set_xlabel("env steps")
        ax.set_ylabel("expert-normalised return")
        title = f"{env} ({suite})"
        if variant != "default":
            title += "\n" + "\n".join(textwrap.wrap(variant, 100))
        ax.set_title(title, fontsize=8 if variant != "default" else None)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / f"{curve_stem(suite, env, variant)}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


# ---------------------------------------------------------------------------------- documents
def side_by_side_section() -> str:
    """benchmarks/side_by_side.py's tables of ratios, today's protocol first (when it has
    records), then the first job's, each followed by the commands of its records."""
    import side_by_side

    records = read_records(RESULTS / "side_by_side.jsonl")
    parts = []
    for suite, title, label in (
        (side_by_side.SUITE, "Today's configuration (protocol side-by-side-2)", "S2-"),
        (side_by_side.LEGACY_SUITE, "The first job: defaults before issue 19", "S"),
    ):
        latest: dict[tuple[Any, ...], Record] = {}
        for r in records:
            if side_by_side.in_protocol(r, suite):
                latest[(r["env"], r["algo"], r.get("budget", r["env_steps"]), r["seed"])] = r
        if not latest:
            continue
        groups: dict[tuple[Any, ...], list[Record]] = defaultdict(list)
        for (env, algo, budget, _), r in sorted(latest.items(), key=str):
            groups[(env, algo, budget)].append(r)
        index = Table(["task", "algo", "env steps"])
        for (env, algo, budget), g in groups.items():
            index.add([env, algo, f"{budget:,}"], g)
        verdict = ""
        if suite == side_by_side.SUITE:
            verdict = (
                "\n\nGAN-GCL against imitation's best (the higher of its AIRL and GAIL means) at\n"
                "the same budget, and at the env steps GAN-GCL used with its companion (the "
                "peer's final score where its budget was that, else its 5-episode evaluation at\n"
                "that step of a longer run); **below** marks where GAN-GCL's mean is lower:\n\n"
                + side_by_side.verdict(
                    RESULTS / "side_by_side.jsonl", suite, explained=SHORTFALL_WRITE_UPS
                )
            )
        parts.append(
            f"### {title}\n\n"
            + side_by_side.report(RESULTS / "side_by_side.jsonl", suite).rstrip("\n")
            + verdict
            + "\n\n<details><summary>Commands</summary>\n\n"
            + index.commands(label, labels=3)
            + "\n</details>\n"
        )
    return "\n".join(parts)


def ebm_section() -> str:
    """benchmarks/report_ebm.py's table of the 2-D EBM suite, then its commands."""
    import report_ebm

    return _table_with_commands(report_ebm.ebm_table(report_ebm.load(RESULTS / "ebm.jsonl")), "E")


def transfer_table() -> Table:
    """benchmarks/report_transfer.py's table of transfer.jsonl."""
    import report_transfer

    return report_transfer.transfer_table(report_transfer.load(RESULTS / "transfer.jsonl"))


def distance_table() -> Table:
    """benchmarks/report_transfer.py's EPIC/DARD table of mujoco_eval.jsonl and transfer.jsonl."""
    import report_transfer

    recs = read_records(RESULTS / "mujoco_eval.jsonl") + report_transfer.load(
        RESULTS / "transfer.jsonl"
    )
    return report_transfer.distance_table(recs)


DISTANCE_NOTE = (
    "EPIC (Gleave et al. 2020) and DARD distances of the learned reward (shaping off) to the "
    "task's true reward, measured by `irl-eval` where the true reward is a function of the "
    "observed transition (the point mazes, Pendulum-v1; `irl.true_rewards`): 0 is the same "
    "reward up to potential shaping and positive scale, √½ ≈ 0.707 an unrelated one, 1 its "
    "negation. Coverage: uniform-random states and actions with held-out demo transitions "
    "(docs/transfer.md). Pearson, pooled: the per-step correlation of learned and true reward "
    "over held-out demo, policy and random transitions. Later records of the same run replace "
    "earlier ones."
)


TRANSFER_NOTE = (
    "A run's learned reward re-optimised from scratch in a changed env (docs/transfer.md): "
    "one `irl-eval run_dir=<run> reopt_env=<target>` job trains a fresh optimiser on the "
    "learned reward alone and, as the control, the same optimiser, budget and seed on the "
    "target's true reward; it also runs the recovered policy in the target (policy transfer), "
    "a random policy and the zero action (doing nothing: on Ant-v5's reward, standing earns "
    "the healthy bonus; – in records from before that row). All returns are the target's "
    "true return, final evaluation. Learned"
    " ÷ control: the share of the control's return reached (for negative returns, e.g. the "
    "maze's −distance, the control's return ÷ the learned one's, so 1 is a tie); \"last 3 "
    "evaluations\": the same ratio of both rows' mean over their last three periodic "
    "evaluations (5 episodes each), which a single final evaluation can swing away from "
    "(– for the planner, which has none). Cost: what "
    "the learned cost reads. Variant: the training run's overrides beyond env, algo, seed and"
    " the cost's inputs; the run's own directory name in the command says which run. EPIC to "
    "true: the EPIC distance of the learned reward (shaping off) to the true reward, where "
    "the true reward is a function of the observed transition."
)


def _table_with_commands(table: Table, prefix: str) -> str:
    return (
        table.markdown(prefix)
        + "\n<details><summary>Commands</summary>\n\n"
        + (table.commands(prefix) + "\n</details>\n")
    )


INTRO = """\
# Benchmark results

Generated by `python benchmarks/report_mujoco.py` from the records in `benchmarks/results/*.jsonl`
(one JSON object per run, written by the command that made it). Do not edit this file by hand:
`python benchmarks/report_mujoco.py --check` (run by `tests/test_report_mujoco.py`) fails when it
is out of date with the records. What the figures mean:

- **normalised return**: (return − random) / (expert − random), the expert's and the random
  policy's returns from the demo file; 25 seeded episodes of the deterministic recovered policy
  at the end of training. Mean ± sample std over seeds; "per seed" lists each seed's score in
  seed order.
- **variant**: the run's overrides beyond `env`, `algo`, `sampler`, `seed` and `total_env_steps`.
  `default` is a record from before issue 19, when the defaults were the pre-recipe configuration;
  `recipe` abbreviates `sampler.cost_action=drawn algo.bc_warmstart_epochs=50
  sampler.normalize_reward=true sampler.policy_ema=0.9`; records written since the recipe
  became the default read `recipe (default)`. [docs/recipe.md](../docs/recipe.md) says what
  each setting does.
- **re-optimised**: a fresh SAC trained by `irl-eval` on the learned reward alone (the true reward
  hidden), scored like the recovered policy.
- **sample ESS/M**: effective sample size of the sample windows' importance weights ÷ their
  number, mean of the last 10 iterations ([docs/math.md](../docs/math.md#effective-sample-size)).
- **commands**: each row's exact commands as recorded, the seed written `<seed>`; the commit
  (`-dirty`: uncommitted changes) and the wall-clock of all its runs. Most MuJoCo runs shared a
  2-core machine with other jobs: env steps/s and wall-clock are not speed benchmarks except in
  the overhead table. Runs are deterministic on one machine, not across machines: records carry
  the `cpu` they ran on and, since December 2026, `segments` (the env steps and CPU where the run
  started and where it was resumed). A tree copied to another machine without its `.git` records
  the commit named by `IRL_SOURCE_COMMIT`.
"""


def bench_readme(records: list[Record], evals: dict[tuple[Any, ...], Record]) -> str:
    """The whole of benchmarks/README.md."""
    parts = [INTRO, "\n## Headline\n\n", headline_table(records).markdown()]
    parts.append("\n" + textwrap.fill(HEADLINE_NOTE, 100) + "\n")
    parts.append("\n## MuJoCo runs by suite\n")
    plots = curve_groups(records)
    for suite, table in mujoco_tables(records, evals).items():
        if suite == "mujoco-ablation":
            continue  # its own section below
        prefix = suite.removeprefix("mujoco-")[:2].upper()
        parts.append(f"\n### {suite}\n\n" + _table_with_commands(table, prefix))
        links = [
            f"![{env} {v}](results/{curve_stem(s, env, v)}.png)"
            for (s, env, v) in plots
            if s == suite
        ]
        if links:
            parts.append("\nCurves (mean, band min–max over seeds):\n\n" + "\n".join(links) + "\n")
    for title, note, prefix, build in _sections(records, evals):
        parts.append(f"\n## {title}\n\n{textwrap.fill(note, 100)}\n\n")
        parts.append(_table_with_commands(build(), prefix))
    parts.append("\n## Side by side with imitation 1.0.1 (side_by_side.py)\n\n")
    parts.append(textwrap.fill(SIDE_BY_SIDE_NOTE, 100) + "\n\n" + side_by_side_section())
    parts.append("\n## Energy-based models on 2-D data (irl-ebm)\n\n")
    parts.append(textwrap.fill(EBM_NOTE, 100) + "\n\n" + ebm_section())
    return "".join(parts)


HEADLINE_NOTE = (
    "GAN-GCL's row is its recipe runs on the task (the quick suite's default runs where no "
    'recipe ran); "best other algorithm" is the best of GCL, AIRL and GAIL run with the same '
    "settings, suite and budget; imitation ran its own tuned hyperparameters in the "
    "side-by-side job below."
)
SIDE_BY_SIDE_NOTE = (
    "One job (`python benchmarks/side_by_side.py`) runs our algorithms and the imitation "
    "library's AIRL and GAIL (v1.0.1, the hyperparameters its own benchmark files publish) on "
    "the same 16 demo episodes per seed and the same env-step budget, one torch thread per run: "
    "today's protocol (side-by-side-2) runs our GAN-GCL, AIRL and GAIL with each task's recipe "
    "on four tasks at 300,000 and 1,000,000 steps, and BC on the same demos (no env steps: "
    "one run per task and seed, its row repeated under each budget); the first job ran our "
    "GAN-GCL and AIRL with the defaults before issue 19 (PPO) on two tasks at 300,000. "
    "imitation pins gymnasium "
    "0.29, which has no v5 tasks: it trains on the v4 task after our v5 demos replay there "
    "with equal observations and rewards, and its policy is scored on the v5 task with our 25 "
    "seeded episodes. The budget (env steps) is the training loop's: where a task's recipe "
    "runs GAN-GCL's companion sampler (all four tasks), its rollouts come on top, and \"env "
    'steps, all samplers" counts both, so a 300,000-step GAN-GCL run used 600,000 env steps '
    "against the peer's 300,000; the peer's curve at that many steps is in its 1,000,000-step "
    "record. env steps/s is the loop's budget over the training wall-clock. Ratios are of the "
    "mean normalised return and env steps/s; n/a where the "
    "peer is at the random policy's score. Time to 0.9: the training wall-clock (evaluations "
    "left out; our BC warm start included) to the first evaluation scoring at least 0.9, on 5 "
    "episodes every 20,000 env steps as irl-train evaluates (imitation's policy snapshotted at "
    "the first round past each 20,000 and scored here the same way) or on the final 25; the "
    'mean over the seeds that reached it, with how many did; "not reached" is a result. '
    "Today's protocol counts only records with per-evaluation wall-clock (its first Walker2d "
    "and Ant peer runs, made before, are run again); – marks the first job's records."
)
EBM_NOTE = (
    "Mean ± std over seeds. |log Z err|: the learned log Z against grid quadrature on a 400² "
    "grid over [-4, 4]²; NLL − H(p): held-out NLL of the energy model minus the data's entropy "
    "(an estimate of KL(p‖p_θ)); EBM modes: modes holding ≥ 1 % of p_θ's mass; sampler modes: "
    "those holding ≥ 1 % of 10,000 sampler draws; mass between modes: the share of draws where "
    "the true density is below 1 % of its peak. α₀ = 1.0: the exact generator loss throughout "
    '(default: entropy weight 3 annealed to 1). "equal time": 240 s of training for every '
    "method in one job (`bash benchmarks/ebm.sh pcd`). See docs/ebm.md."
)


def _sections(
    records: list[Record], evals: dict[tuple[Any, ...], Record]
) -> list[tuple[str, str, str, Callable[[], Table]]]:
    """(title, note, row prefix, table builder) of each section after the per-suite tables."""
    return [
        (
            "The sampler's ceiling: its own settings on the true reward (sampler_ceiling.py)",
            CEILING_NOTE,
            "SC",
            lambda: ceiling_table(records),
        ),
        (
            "The recipe's ablation on Hopper-v5",
            "Suite mujoco-ablation (`bash benchmarks/mujoco.sh ablation`): GAN-GCL, 300k PPO "
            "steps; each row switches one measure of the recipe off or to its naive form "
            "(`sampler.target_kl=0.02` switches one on) and keeps the rest. Δ: mean difference "
            "from the recipe's run of the same seed. log Z ESS/M: the effective sample size of the "
            "whole importance set (demos and samples) that estimates log Z, ÷ its size.",
            "AB",
            lambda: ablation_table(records, evals),
        ),
        (
            "Re-optimisations (irl-eval)",
            "A fresh optimiser trained on the learned reward alone (`irl-eval run_dir=… "
            "reopt_steps=N`), scored by the true reward at its end. Optimiser: SAC (the default), "
            "PPO (`reopt_algo=ppo`; squashed: `reopt_squash=true`; reward normalised: "
            "`reopt_normalize_reward`) or ARS; no shaping: `reopt_shaping=false`. SAC α: `auto` "
            "is SAC's own temperature tuning, 1.0 the MaxEnt model's α. Absorbing tail γ: the "
            "discount of the absorbing tail paid at a termination (`cost γ`: records from before "
            "`reopt_tail_gamma`, the cost's γ = 1). Paid `true reward`: the control, the same "
            "protocol on the true reward. A run carried on to a larger budget resumes its SAC "
            "from its checkpoint.",
            "RO",
            reopt_table,
        ),
        (
            "Re-optimisation of the default configuration's reward, per task",
            SOURCE_REOPT_SUMMARY_NOTE,
            "RR",
            source_reopt_summary_table,
        ),
        (
            "Re-optimisation in the run's own task: learned reward against the true reward",
            SOURCE_REOPT_NOTE,
            "RS",
            source_reopt_table,
        ),
        (
            "Reward transfer (irl-eval reopt_env=…)",
            TRANSFER_NOTE,
            "XF",
            transfer_table,
        ),
        (
            "Distance of the learned reward to the true reward (EPIC, DARD)",
            DISTANCE_NOTE,
            "RD",
            distance_table,
        ),
        (
            "Does the cost rank behaviours as the true reward does? (cost_ranking.py)",
            "True / learned return, 5 episodes each, of held-out demos, the recovered policy, a PD "
            "controller holding the joints at their initial angles (Hopper stands still), zero "
            "torque and random actions; a termination pays the absorbing state's cost to the "
            "horizon. Pairs in true order: the share of the 10 pairs of behaviours whose mean "
            "learned returns are ordered as their true returns; episode Spearman ranks all 25 "
            "episodes. Probe: a saved re-optimisation actor scored beside them (`--probe`, "
            "outside the pairs). Source → target: the policies ran in a transfer target "
            "(`--env`; the recovered policy is then policy transfer, the demos are the source's "
            "and stay outside the pairs).",
            "RK",
            ranking_table,
        ),
        (
            "IRL loop overhead against plain SB3 (overhead.py)",
            "Wall-clock per env step of the whole IRL loop (snapshot scoring, rollout store, cost "
            "updates, relabelling) ÷ the same SB3 sampler learning the true reward with "
            "`model.learn`, identical settings, alternated in one process.",
            "OV",
            overhead_table,
        ),
    ]


def _sampler_note(sampler: str | None) -> str:
    """`` (sac sampler)`` for a run whose sampler is not the recipe's PPO, else nothing: the
    recipe tables have no sampler column, and the recipe's settings (its companion among them)
    are PPO's."""
    return "" if sampler in (None, "ppo", "none") else f" ({sampler} sampler)"


def recipe_curve_table(records: list[Record]) -> Table:
    """Per recipe run of GAN-GCL: its first, best and final training evaluation (the curve)."""
    table = Table(
        ["env", "variant", "seed", "first evaluation", "best evaluation", "final evaluation"]
    )
    for (suite, env, algo, sampler, variant, _), recs in train_groups(records).items():
        if algo != "gan_gcl" or suite == "mujoco-ablation" or not all(map(is_recipe, recs)):
            continue
        for r in recs:
            curve = r.get("curve") or []
            if not curve:
                continue
            best = max(curve, key=lambda p: p[1])
            table.add(
                [
                    env,
                    short_variant(variant) + _sampler_note(sampler),
                    str(r["seed"]),
                    f"{curve[0][1]:.2f} at {curve[0][0] // 1000:.0f}k",
                    f"{best[1]:.2f} at {best[0] // 1000:.0f}k",
                    f"{curve[-1][1]:.2f} at {curve[-1][0] // 1000:.0f}k",
                ],
                [r],
            )
    return table


def _evals(curve: list[list[float]]) -> str:
    if not curve:
        return "–"
    best = max(curve, key=lambda p: p[1])
    return (
        f"{curve[0][1]:.2f} / {best[1]:.2f} at {best[0] // 1000:.0f}k / "
        f"{curve[-1][1]:.2f} at {curve[-1][0] // 1000:.0f}k"
    )


def _diag(rec: Record, name: str, digits: int = 2) -> str:
    """A diagnostic's value at the first and at the last evaluation (``–``: not recorded)."""
    values = [v for v in (rec.get("diagnostics") or {}).get(name, []) if v is not None]
    return f"{values[0]:.{digits}f} → {values[-1]:.{digits}f}" if values else "–"


def drift_table(records: list[Record]) -> Table:
    """Every GAN-GCL run on Walker2d, Ant and Humanoid, one row per run: its evaluations and,
    where the record carries them (runs since the field exists), the drift diagnostics over
    training."""
    table = Table(
        [
            "env",
            "variant",
            "seed",
            "env steps",
            "evaluations: first / best / final",
            "policy σ",
            "held-out AUC",
            "demo window energy",
            "sample window energy",
        ]
    )
    for (suite, env, algo, sampler, variant, steps), recs in train_groups(records).items():
        if algo != "gan_gcl" or suite not in ("mujoco-walker2d", "mujoco-ant", "mujoco-humanoid"):
            continue
        for r in recs:
            table.add(
                [
                    env,
                    short_variant(variant) + _sampler_note(sampler),
                    str(r["seed"]),
                    f"{steps:,}",
                    _evals(r.get("curve") or []),
                    _diag(r, "policy_std"),
                    _diag(r, "heldout_auc"),
                    _diag(r, "demo_energy", 0),
                    _diag(r, "sample_energy", 0),
                ],
                [r],
            )
    return table


def recipe_blocks(records: list[Record], evals: dict[tuple[Any, ...], Record]) -> dict[str, str]:
    """The generated blocks of docs/recipe.md, by block name."""
    return {
        "recipe-variants": recipe_variants_table(records, evals).markdown(),
        "recipe-algorithms": recipe_algorithms_table(records).markdown(),
        "recipe-ablation": ablation_table(records, evals).markdown(),
        "recipe-curves": recipe_curve_table(records).markdown(),
        "recipe-drift": drift_table(records).markdown(),
        "recipe-ceiling": ceiling_table(records).markdown(),
        "recipe-step-rewards": step_reward_table().markdown(),
        "recipe-reopt-budgets": reopt_budget_table().markdown(),
        "recipe-reopt-summary": source_reopt_summary_table().markdown(),
        "recipe-ranking": ranking_table().markdown(),
    }


def readme_path() -> Path:
    """The top-level README that holds the headline block (README.md, else README.new.md)."""
    begin = marker("headline-table")[0]
    for path in README_CANDIDATES:
        if path.exists() and begin in path.read_text():
            return path
    raise SystemExit(f"no {begin} block in {' or '.join(str(p) for p in README_CANDIDATES)}")


def expected_files() -> dict[Path, str]:
    """Every generated file's expected full text, from the records."""
    records, evals = load()
    out = {BENCH_README: bench_readme(records, evals)}
    readme = readme_path()
    out[readme] = replace_block(
        readme.read_text(), marker("headline-table")[0], headline_table(records).markdown()
    )
    docs = {RECIPE_DOC: recipe_blocks(records, evals), EBM_DOC: {"ebm-table": ebm_section()}}
    for path, blocks in docs.items():
        if path.exists():
            body = path.read_text()
            for name, text in blocks.items():
                body = replace_block(body, marker(name)[0], text)
            out[path] = body
    return out


def stale_files() -> list[Path]:
    """The generated files whose text differs from what the records give."""
    return [p for p, text in expected_files().items() if not p.exists() or p.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    """Write (default), check (``--check``) or print (``--print``) the generated files."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Records: benchmarks/results/*.jsonl. Files: benchmarks/README.md, the headline "
        "block of README.md (or README.new.md), the generated blocks of docs/recipe.md, and the "
        "curve PNGs in benchmarks/results/.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file is out of date"
    )
    mode.add_argument("--print", action="store_true", help="print benchmarks/README.md only")
    parser.add_argument("--no-curves", action="store_true", help="do not redraw the PNGs")
    args = parser.parse_args(argv)
    if args.print:
        print(bench_readme(*load()))
        return 0
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"out of date with the records: {path.relative_to(ROOT)}", file=sys.stderr)
        if stale:
            print(f"run: python {SCRIPT_NAME}", file=sys.stderr)
        return 1 if stale else 0
    for path, text in expected_files().items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print("wrote", path.relative_to(ROOT))
    if not args.no_curves:
        for path in curves(load()[0], RESULTS):
            print("drew", path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())

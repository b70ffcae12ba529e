"""Tables and curves of the MuJoCo suite from the records in benchmarks/results/.

Reads mujoco.jsonl (irl-train), mujoco_eval.jsonl (irl-eval), overhead.jsonl and
cost_ranking.jsonl (benchmarks/cost_ranking.py).

.venv/bin/python benchmarks/report_mujoco.py            # print the tables, write the curve PNGs
.venv/bin/python benchmarks/report_mujoco.py --readme   # also replace the blocks in README.md
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any

from cost_ranking import BEHAVIOURS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BLOCKS = {
    "mujoco": "<!-- mujoco-table:begin (benchmarks/report_mujoco.py) -->",
    "overhead": "<!-- overhead-table:begin (benchmarks/report_mujoco.py) -->",
    "ablation": "<!-- ablation-table:begin (benchmarks/report_mujoco.py) -->",
    "reopt": "<!-- reopt-table:begin (benchmarks/report_mujoco.py) -->",
    "ranking": "<!-- ranking-table:begin (benchmarks/report_mujoco.py) -->",
}
SCRIPT = ROOT / "benchmarks" / "mujoco.sh"


def _end(marker: str) -> str:
    return marker.split(":begin")[0] + ":end -->"


def replace_block(body: str, begin: str, text: str) -> str:
    """``body`` with the text between marker ``begin`` and its end marker replaced by ``text``."""
    start, end = body.index(begin) + len(begin), body.index(_end(begin))
    return body[:start] + "\n" + text.rstrip("\n") + "\n" + body[end:]


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def mean_std(values: list[float | None], digits: int = 2) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "–"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{statistics.mean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"


def _variant(rec: dict[str, Any]) -> str:
    """Overrides beyond env/algo/sampler/seed/budget: what an ablation row changes."""
    skip = ("env=", "algo=", "sampler=", "seed=", "total_env_steps=")
    extra = [o for o in rec.get("overrides", []) if not o.startswith(skip)]
    return " ".join(extra) or "default"


def _key(rec: dict[str, Any]) -> tuple[Any, ...]:
    return (rec["suite"], rec["env"], rec["algo"], rec["sampler"], _variant(rec))


def load() -> tuple[list[dict[str, Any]], dict[tuple[Any, ...], dict[str, Any]]]:
    """Latest train record per (config, seed, env_steps) and the latest eval record per the same
    key, to join the re-optimised score onto it."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for rec in read_records(RESULTS / "mujoco.jsonl"):
        latest[(*_key(rec), rec["seed"], rec["env_steps"])] = rec
    # Eval records written before they carried the run's overrides join on the default variant.
    # A run's re-optimised score is its latest eval that re-optimised with SAC's own temperature
    # (later evals that skip re-optimisation, or fix α, don't replace it).
    evals: dict[tuple[Any, ...], dict[str, Any]] = {}
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


def reopt_ent_coef(rec: dict[str, Any]) -> str:
    """SAC's temperature in a re-optimisation (records before the field: from the command)."""
    if "reoptimized_ent_coef" in rec:
        return str(rec["reoptimized_ent_coef"])
    m = re.search(r"reopt_ent_coef=(\S+)", rec.get("command", ""))
    return m.group(1) if m else "auto"


def reopt_table() -> str:
    """Every re-optimisation measured: a fresh SAC on a run's learned reward, its true score."""
    recs = [
        r
        for r in read_records(RESULTS / "mujoco_eval.jsonl")
        if r.get("reoptimized_normalized_return") is not None
    ]
    head = (
        "| suite | env | algo | variant | seed | recovered policy | SAC steps | SAC α | "
        "absorbing tail γ | SAC paid | re-optimised | learned reward: demo step / absorbing step "
        "| SAC training time | commit |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for r in sorted(recs, key=lambda r: (*map(str, _key(r)), r["seed"])):
        steps = r.get("reoptimized_steps")
        demo, absorbing = r.get("learned_reward_demo_step"), r.get("learned_reward_absorbing_step")
        rewards = "–" if demo is None or absorbing is None else f"{demo:.2f} / {absorbing:.2f}"
        # Over all the calls that carried it on; records from before the field have none.
        wall = r.get("reoptimized_wall_clock_s")
        hours = "–" if wall is None else f"{wall / 3600:.1f} h"
        rows.append(
            f"| {r['suite']} | {r['env']} | {r['algo']} | {_variant(r)} | {r['seed']} | "
            f"{r['normalized_return']:.2f} | {int(steps) if steps else '–'} | "
            f"{reopt_ent_coef(r)} | {r.get('reoptimized_tail_gamma', 'cost γ')} | "
            f"{r.get('reoptimized_reward', 'learned')} reward | "
            f"{r['reoptimized_normalized_return']:.2f} | {rewards} | {hours} | "
            f"{r['commit']} |"
        )
    return head + "\n".join(rows) + "\n"


def ranking_table() -> str:
    """Per run: true / learned return of each behaviour and how well the two orders agree."""
    latest = {r["run_dir"]: r for r in read_records(RESULTS / "cost_ranking.jsonl")}
    head = (
        "| env | algo | variant | seed | held-out demos | recovered policy | standing still (PD) "
        "| zero torque | random | pairs in true order | episode Spearman | commit |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for r in sorted(latest.values(), key=lambda r: (r["env"], r["algo"], _variant(r), r["seed"])):
        cells = " | ".join(
            f"{r[f'true_return_{b}']:.0f} / {r[f'learned_return_{b}']:.0f}" for b in BEHAVIOURS
        )
        rows.append(
            f"| {r['env']} | {r['algo']} | {_variant(r)} | {r['seed']} | {cells} | "
            f"{r['pairs_in_true_order']:.1f} | {r['episode_spearman']:.2f} | {r['commit']} |"
        )
    return head + "\n".join(rows) + "\n"


def _reopt_scores(
    recs: list[dict[str, Any]], evals: dict[tuple[Any, ...], Any]
) -> list[float | None]:
    """Each train record's re-optimised score, from the eval record joined onto its run."""
    out = []
    for r in recs:
        ev = evals.get((*_key(r), r["seed"], r["env_steps"]))
        out.append(ev.get("reoptimized_normalized_return") if ev else None)
    return out


def mujoco_table(records: list[dict[str, Any]], evals: dict[tuple[Any, ...], Any]) -> str:
    """One row per configuration: mean ± std over seeds of the final scores."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        groups[(*_key(rec), rec["env_steps"])].append(rec)  # budgets are separate rows
    head = (
        "| suite | env | algo | sampler | variant | seeds | env steps | normalised return | "
        "re-optimised | sample ESS frac (last 10 it) | env steps/s | wall-clock s | commit |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for (suite, env, algo, sampler, variant, _), recs in sorted(groups.items(), key=str):
        reopt = _reopt_scores(recs, evals)
        rows.append(
            f"| {suite} | {env} | {algo} | {sampler} | {variant} | {len(recs)} | "
            f"{max(r['env_steps'] for r in recs)} | "
            f"{mean_std([r['normalized_return'] for r in recs])} | {mean_std(reopt)} | "
            f"{mean_std([r.get('ess_frac_samples_mean_last10') for r in recs])} | "
            f"{mean_std([r['steps_per_s'] for r in recs], 0)} | "
            f"{mean_std([r['wall_clock_s'] for r in recs], 0)} | "
            f"{', '.join(sorted({r['commit'] for r in recs}))} |"
        )
    return head + "\n".join(rows) + "\n"


def script_recipe() -> list[str]:
    """The recipe's overrides as benchmarks/mujoco.sh runs them (its RECIPE line)."""
    m = re.search(r'^RECIPE="([^"]*)"$', SCRIPT.read_text(), re.MULTILINE)
    if m is None:
        raise SystemExit(f'{SCRIPT}: no RECIPE="..." line')
    return m.group(1).split()


def ablation_row(rec: dict[str, Any], recipe: list[str]) -> str:
    """What an ablation run changes against the recipe: its overrides not in the recipe, and
    the recipe's settings it drops (a row that changes nothing is the recipe itself)."""
    variant = _variant(rec).split() if _variant(rec) != "default" else []
    added = [o for o in variant if o not in recipe]
    dropped = [o for o in recipe if o not in variant and o.split("=")[0] not in
               {a.split("=")[0] for a in added}]  # fmt: skip
    changes = added + [f"no {o}" for o in dropped]
    return " ".join(changes) or "recipe (all measures on)"


def ablation_table(records: list[dict[str, Any]], evals: dict[tuple[Any, ...], Any]) -> str:
    """The Hopper ablation: a row per measure switched off (or on), against the recipe's row."""
    recipe = script_recipe()
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        if rec["suite"] == "mujoco-ablation":
            groups[(ablation_row(rec, recipe), rec["env_steps"])].append(rec)
    # Δ pairs each run with the recipe's run of the same seed: rows can have different seeds.
    base = {
        (r["seed"], steps): r["normalized_return"]
        for (row, steps), recs in groups.items()
        if row.startswith("recipe")
        for r in recs
    }
    head = (
        "| change against the recipe (override) | seeds | normalised return | Δ vs recipe | "
        "sample ESS/M (last 10 it) | log Z ESS/M, demos + samples | re-optimised | "
        "env steps | commit |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    order = sorted(groups.items(), key=lambda kv: (not kv[0][0].startswith("recipe"), kv[0]))
    for (row, steps), recs in order:
        diffs = [
            r["normalized_return"] - base[(r["seed"], steps)]
            for r in recs
            if (r["seed"], steps) in base
        ]
        delta = "–" if row.startswith("recipe") or not diffs else f"{statistics.mean(diffs):+.2f}"
        reopt = _reopt_scores(recs, evals)
        rows.append(
            f"| {row} | {', '.join(str(r['seed']) for r in sorted(recs, key=lambda r: r['seed']))}"
            f" | {mean_std([r['normalized_return'] for r in recs])} | {delta} | "
            f"{mean_std([r.get('ess_frac_samples_mean_last10') for r in recs], 3)} | "
            f"{mean_std([r.get('ess_frac_mean_last10') for r in recs])} | {mean_std(reopt)} | "
            f"{steps} | {', '.join(sorted({r['commit'] for r in recs}))} |"
        )
    return head + "\n".join(rows) + "\n"


def overhead_table() -> str:
    """IRL loop vs plain SB3 sampler, measured side by side (overhead.py), per commit."""
    recs = [r for r in read_records(RESULTS / "overhead.jsonl") if "overhead_ratio" in r]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in recs:
        groups[(r["env"], r["sampler"], r["algo"], r["env_steps"], r["commit"])].append(r)
    head = (
        "| env | sampler | algo | env steps per run | runs | plain SB3 steps/s | IRL steps/s | "
        "overhead ratio | commit |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = [
        f"| {env} | {s} | {a} | {n} | {len(g)} | "
        f"{mean_std([r['plain_steps_per_s'] for r in g], 0)} | "
        f"{mean_std([r['steps_per_s'] for r in g], 0)} | "
        f"{mean_std([r['overhead_ratio'] for r in g])} | {c} |"
        for (env, s, a, n, c), g in sorted(groups.items(), key=str)
    ]
    return head + "\n".join(rows) + "\n"


def _slug(variant: str) -> str:
    """A file-name fragment for a variant: its overrides with runs of other characters as '-'."""
    return re.sub(r"[^A-Za-z0-9._]+", "-", variant).strip("-")


Curves = dict[str, list[list[list[float]]]]  # "algo/sampler" -> one [[steps, score]] per seed


def curve_groups(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], Curves]:
    """The plots to draw, keyed (suite, env, variant): the default variant of every (suite, env)
    and each other variant that two or more IRL algorithms share, with BC's default runs added
    as the reference where the variant has none (BC takes no sampler or IRL options)."""
    by_plot: dict[tuple[str, str, str], Curves] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r.get("curve"):
            by_plot[(r["suite"], r["env"], _variant(r))][f"{r['algo']}/{r['sampler']}"].append(
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


def curves(records: list[dict[str, Any]], out_dir: Path) -> list[Path]:
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
        stem = f"{suite}_{env}" + ("" if variant == "default" else f"_{_slug(variant)}")
        path = out_dir / f"{stem}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def main() -> None:
    """Print the tables, write the curves; with --readme, update README.md's blocks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="update README.md in place")
    args = parser.parse_args()
    records, evals = load()
    texts = {
        "mujoco": mujoco_table(records, evals),
        "overhead": overhead_table(),
        "ablation": ablation_table(records, evals),
        "reopt": reopt_table(),
        "ranking": ranking_table(),
    }
    for text in texts.values():
        print(text)
    for path in curves(records, RESULTS):
        print("wrote", path.relative_to(ROOT))
    if args.readme:
        readme = ROOT / "README.md"
        body = readme.read_text()
        for name, begin in BLOCKS.items():
            body = replace_block(body, begin, texts[name])
        readme.write_text(body)


if __name__ == "__main__":
    main()

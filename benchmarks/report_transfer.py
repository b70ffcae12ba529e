"""The reward-transfer table from benchmarks/results/transfer.jsonl (latest record per run).

One row per (source, target, algorithm, cost inputs, training variant, re-optimiser, budget,
whether the re-optimiser was paid the potential shaping),
mean ± std over seeds, each cell from the records `irl-eval run_dir=… reopt_env=<target>` wrote
(docs/transfer.md). benchmarks/report_mujoco.py writes it, with each row's commands, into
benchmarks/README.md; this script prints it.

    .venv/bin/python benchmarks/report_transfer.py
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_mujoco import Record, Table, mean_std, read_records, variant_label

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "transfer.jsonl"
# Training overrides that a row names in its own columns, not in "variant".
_NAMED = ("env=", "env.id=", "algo=", "seed=", "cost.state_only=", "demo_path=", "hydra.")


def cost_inputs(rec: Record) -> str:
    """``state-only`` or ``state-action``: what the learned cost reads (``?``: not recorded)."""
    state_only = rec.get("cost_state_only")
    if state_only is None:
        state_only = _override(rec, "cost.state_only")
        if state_only is None:
            return "?" if rec.get("algo") != "airl_state" else "state-only"
        state_only = state_only.lower() == "true"
    return "state-only" if state_only else "state-action"


def _override(rec: Record, key: str) -> str | None:
    for o in rec.get("overrides", []):
        if o.startswith(f"{key}="):
            return str(o.split("=", 1)[1])
    return None


def variant(rec: Record) -> str:
    """The defaults the training run ran under and its overrides beyond the row's own columns,
    named as the MuJoCo tables name them (``default``: a run before the recipe, no overrides)."""
    return variant_label(rec, _NAMED)


def _config(rec: Record) -> tuple[Any, ...]:
    return (
        rec["env"],
        rec["target_env"],
        rec["algo"],
        cost_inputs(rec),
        variant(rec),
        rec.get("reoptimized_algo", "sac"),
        int(rec["reopt_steps"]),
        shaping(rec),
    )


def shaping(rec: Record) -> str:
    """``with h`` or ``without h``: whether the fresh optimiser was paid the learned reward's
    potential shaping γh(x') − h(x) (records before ``reopt_shaping`` existed were paid it)."""
    return "without h" if rec.get("reoptimized_shaping") is False else "with h"


def load(path: Path = RESULTS) -> list[Record]:
    """Latest record per (row, seed): a rerun replaces the older line."""
    latest: dict[tuple[Any, ...], Record] = {}
    for rec in read_records(path):
        latest[(*_config(rec), rec["seed"])] = rec
    return list(latest.values())


def ratio_to_control(rec: Record, last3: bool = False) -> float | None:
    """The learned row's true return ÷ the control's, as the acceptance reads it (positive
    returns: the share of the control reached; negative ones, e.g. the maze's −distance: the
    control's cost ÷ the learned reward's, so 1 is a tie and 0.9 means 11 % more cost). With
    ``last3``, of both rows' mean over their last three periodic evaluations (None where a
    record has none, e.g. the planner's)."""
    suffix = "return_last3_mean" if last3 else "return_mean"
    learned, control = rec.get(f"reoptimized_{suffix}"), rec.get(f"control_{suffix}")
    if learned is None or control is None or control == 0 or learned == 0:
        return None
    if control > 0:
        return float(learned / control)
    return float(control / learned) if learned < 0 else None


def _cached(recs: list[Record]) -> str:
    """`` (k of n reused)``: how many of the rows' controls came from the control cache
    (irl-eval reopt_control_cache, docs/transfer.md); nothing when none did."""
    k = sum(1 for r in recs if r.get("control_cached_key"))
    return f" ({k} of {len(recs)} reused)" if k else ""


def transfer_table(records: list[Record]) -> Table:
    """One row per configuration: the four rows of the protocol side by side, mean ± std."""
    groups: dict[tuple[Any, ...], list[Record]] = defaultdict(list)
    for rec in records:
        groups[_config(rec)].append(rec)
    table = Table(
        [
            "source → target",
            "algo",
            "cost",
            "variant",
            "re-optimiser",
            "paid",
            "seeds",
            "learned reward, re-optimised",
            "control: true reward",
            "learned ÷ control",
            "learned ÷ control, last 3 evaluations",
            "(learned − random) ÷ (control − random)",
            "policy transfer",
            "random",
            "zero action",
            "EPIC to true",
        ]
    )
    for (src, target, algo, cost, var, reopt, steps, paid), recs in sorted(
        groups.items(), key=lambda kv: str(kv[0])
    ):
        recs = sorted(recs, key=lambda r: r["seed"])
        table.add(
            [
                f"{src} → {target}",
                algo,
                cost,
                var,
                "planner (value iteration)" if reopt == "planner" else f"{reopt} {steps:,} steps",
                paid,
                str(len(recs)),
                mean_std((r.get("reoptimized_return_mean") for r in recs), 1),
                mean_std((r.get("control_return_mean") for r in recs), 1) + _cached(recs),
                mean_std((ratio_to_control(r) for r in recs), 2),
                mean_std((ratio_to_control(r, last3=True) for r in recs), 2),
                mean_std((r.get("reoptimized_control_normalized_return") for r in recs), 2),
                mean_std((r.get("policy_transfer_return_mean") for r in recs), 1),
                mean_std((r.get("random_return_mean") for r in recs), 1),
                mean_std((r.get("zero_action_return_mean") for r in recs), 1),
                mean_std((r.get("epic_to_true") for r in recs), 3),
            ],
            recs,
        )
    return table


def distance_table(records: list[Record]) -> Table:
    """EPIC and DARD of learned rewards to the true reward, one row per (task, algo, cost,
    variant), from every record that measured them (irl-eval's eval and transfer records)."""
    groups: dict[tuple[Any, ...], dict[Any, Record]] = defaultdict(dict)
    for rec in records:
        if rec.get("epic_to_true") is None:
            continue
        # One distance per trained run: a run evaluated twice (e.g. two targets) counts once.
        groups[(rec["env"], rec["algo"], cost_inputs(rec), variant(rec))][rec["seed"]] = rec
    table = Table(
        [
            "task",
            "algo",
            "cost",
            "variant",
            "seeds",
            "EPIC to true",
            "DARD to true",
            "Pearson, pooled",
            "recovered policy, normalised",
        ]
    )
    for (env, algo, cost, var), by_seed in sorted(groups.items(), key=lambda kv: str(kv[0])):
        recs = [by_seed[s] for s in sorted(by_seed)]
        table.add(
            [
                env,
                algo,
                cost,
                var,
                str(len(recs)),
                mean_std((r.get("epic_to_true") for r in recs), 3),
                mean_std((r.get("dard_to_true") for r in recs), 3),
                mean_std((r.get("pearson_pooled") for r in recs), 2),
                mean_std((r.get("normalized_return") for r in recs), 2),
            ],
            recs,
        )
    return table


def main() -> None:
    """Print the table and its commands."""
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    table = transfer_table(load())
    print(table.markdown("T"))
    print(table.commands("T"))


if __name__ == "__main__":
    main()

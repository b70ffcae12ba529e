"""The EBM suite's table from benchmarks/results/ebm.jsonl (latest record per run).

benchmarks/report_mujoco.py writes it, with each row's commands, into benchmarks/README.md and
docs/ebm.md; this script prints it.

    .venv/bin/python benchmarks/report_ebm.py
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_mujoco import Record, Table, mean_std, read_records

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ebm.jsonl"


def _budget(command: str) -> str:
    return "equal time" if "max_wall_clock_s=" in command else "steps"


def _alpha(command: str, sampler: str) -> str:
    """The sampler entropy start when overridden (MLE and PCD runs have no such setting)."""
    if sampler.startswith(("mle", "pcd")):
        return ""
    for token in command.split():
        if token.startswith("sampler_entropy_start="):
            return token.split("=", 1)[1]
    return ""


def _config(rec: Record) -> tuple[Any, ...]:
    cmd = rec.get("command", "")
    return (
        rec["dataset"],
        rec["sampler"],
        rec.get("mog_k"),
        _budget(cmd),
        _alpha(cmd, rec["sampler"]),
    )


def load(path: Path = RESULTS) -> list[Record]:
    """Latest record per (dataset, sampler, mog_k, budget, α₀, seed): reruns replace older lines."""
    latest: dict[tuple[Any, ...], Record] = {}
    for rec in read_records(path):
        latest[(*_config(rec), rec["seed"])] = rec
    return list(latest.values())


def ebm_table(records: list[Record]) -> Table:
    """One row per configuration, mean ± std over seeds."""
    groups: dict[tuple[Any, ...], list[Record]] = defaultdict(list)
    for rec in records:
        groups[_config(rec)].append(rec)
    table = Table(
        [
            "dataset",
            "sampler",
            "budget",
            "seeds",
            "\\|log Z err\\|",
            "grid KL(p‖p_θ)",
            "NLL − H(p)",
            "EBM modes",
            "sampler modes",
            "sampler mass between modes",
            "wall-clock s",
        ]
    )
    for (dataset, sampler, k, budget, alpha), recs in sorted(
        groups.items(), key=lambda kv: str(kv[0])
    ):
        recs = sorted(recs, key=lambda r: r["seed"])
        name = f"{sampler} (K={k})" if k else sampler
        if alpha:
            name += f", α₀={alpha}"
        gap = [
            r["heldout_nll"] - r["true_entropy"] for r in recs if r.get("heldout_nll") is not None
        ]
        table.add(
            [
                dataset,
                name,
                budget,
                str(len(recs)),
                mean_std((r.get("log_z_error") for r in recs), 3),
                mean_std((r["kl_grid"] for r in recs), 3),
                mean_std(gap, 3),
                mean_std((r.get("model_modes_covered") for r in recs), 1),
                mean_std((r.get("modes_covered") for r in recs), 1),
                mean_std((r.get("frac_between_modes") for r in recs), 3),
                mean_std((r["wall_clock_s"] for r in recs), 0),
            ],
            recs,
        )
    return table


def main() -> None:
    """Print the table and its commands."""
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    table = ebm_table(load())
    print(table.markdown("E"))
    print(table.commands("E"))


if __name__ == "__main__":
    main()

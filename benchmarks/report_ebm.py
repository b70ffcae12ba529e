"""Markdown table of the EBM suite from benchmarks/results/ebm.jsonl (latest record per run).

.venv/bin/python benchmarks/report_ebm.py            # print the table
.venv/bin/python benchmarks/report_ebm.py --readme   # also replace the block in README.md
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ebm.jsonl"
BEGIN, END = "<!-- ebm-table:begin (benchmarks/report_ebm.py) -->", "<!-- ebm-table:end -->"


def _fmt(values: list[float], digits: int = 3) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "–"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{statistics.mean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"


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


def load(path: Path = RESULTS) -> list[dict]:
    """Latest record per (dataset, sampler, mog_k, budget, seed): reruns replace older lines."""
    latest: dict[tuple, dict] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            cmd = rec.get("command", "")
            key = (
                rec["dataset"],
                rec["sampler"],
                rec.get("mog_k"),
                _budget(cmd),
                _alpha(cmd, rec["sampler"]),
                rec["seed"],
            )
            latest[key] = rec
    return list(latest.values())


def table(records: list[dict]) -> str:
    """One row per configuration, mean ± std over seeds."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for rec in records:
        cmd = rec.get("command", "")
        groups[
            (
                rec["dataset"],
                rec["sampler"],
                rec.get("mog_k"),
                _budget(cmd),
                _alpha(cmd, rec["sampler"]),
            )
        ].append(rec)
    head = (
        "| dataset | sampler | budget | seeds | |log Z err| | grid KL(p‖p_θ) | NLL − H(p) | "
        "EBM modes | sampler modes | sampler mass between modes | wall-clock s | commit |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for (dataset, sampler, k, budget, alpha), recs in sorted(
        groups.items(), key=lambda kv: str(kv[0])
    ):
        name = f"{sampler} (K={k})" if k else sampler
        if alpha and not sampler.startswith(("mle", "pcd")):
            name += f", α₀={alpha}"
        gap = [
            r["heldout_nll"] - r["true_entropy"] for r in recs if r.get("heldout_nll") is not None
        ]
        rows.append(
            f"| {dataset} | {name} | {budget} | {len(recs)} | "
            f"{_fmt([r.get('log_z_error') for r in recs])} | "
            f"{_fmt([r['kl_grid'] for r in recs])} | "
            f"{_fmt(gap)} | {_fmt([r.get('model_modes_covered') for r in recs], 1)} | "
            f"{_fmt([r.get('modes_covered') for r in recs], 1)} | "
            f"{_fmt([r.get('frac_between_modes') for r in recs])} | "
            f"{_fmt([r['wall_clock_s'] for r in recs], 0)} | "
            f"{', '.join(sorted({r['commit'] for r in recs}))} |"
        )
    return head + "\n".join(rows) + "\n"


def main() -> None:
    """Print the table; with --readme, write it between the markers in README.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="update README.md in place")
    args = parser.parse_args()
    text = table(load())
    print(text)
    if args.readme:
        readme = ROOT / "README.md"
        body = readme.read_text()
        start, end = body.index(BEGIN) + len(BEGIN), body.index(END)
        readme.write_text(body[:start] + "\n" + text + body[end:])


if __name__ == "__main__":
    main()

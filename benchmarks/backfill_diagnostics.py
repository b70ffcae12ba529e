"""Add the drift diagnostics (`irl.trainer.diagnostics_series`) to irl-train records written
before result.json carried them, from their run directory's progress.csv (the same per-iteration
metrics the field is computed from). A record gains ``diagnostics`` and ``diagnostics_source``
("progress.csv, backfilled"); records that have the field, or whose run directory is gone, are
left as they are. Rewrites the records file in place, line order kept.

    .venv/bin/python benchmarks/backfill_diagnostics.py benchmarks/results/mujoco.jsonl
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

from irl.trainer import diagnostics_series


def progress_rows(path: Path) -> list[dict[str, Any]]:
    """progress.csv as the trainer's history: numbers where a cell has one, absent otherwise."""
    rows = []
    with path.open(newline="") as fh:
        for raw in csv.DictReader(fh):
            row: dict[str, Any] = {}
            for k, v in raw.items():
                try:
                    row[k] = float(v)
                except (TypeError, ValueError):
                    continue
            rows.append(row)
    return rows


def run_dir_of(rec: dict[str, Any]) -> Path | None:
    """The run directory an irl-train record names in its key (``irl-train:<dir>:<steps>``)."""
    key = str(rec.get("record_key", ""))
    if not key.startswith("irl-train:"):
        return None
    return Path(key.removeprefix("irl-train:").rsplit(":", 1)[0])


def backfill(path: Path) -> int:
    """Add the field where it can be; the number of records that gained it."""
    lines = path.read_text().splitlines()
    out, added = [], 0
    for line in lines:
        rec = json.loads(line) if line.strip() else None
        run = run_dir_of(rec) if isinstance(rec, dict) and "diagnostics" not in rec else None
        if rec is not None and run is not None and (run / "progress.csv").is_file():
            rec["diagnostics"] = diagnostics_series(progress_rows(run / "progress.csv"))
            rec["diagnostics_source"] = "progress.csv, backfilled"
            line = json.dumps(rec)
            added += 1
        out.append(line)
    path.write_text("\n".join(out) + "\n")
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=Path, nargs="+")
    for path in parser.parse_args().records:
        print(f"{path}: {backfill(path)} records gained diagnostics")


if __name__ == "__main__":
    main()

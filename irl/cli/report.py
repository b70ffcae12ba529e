"""``irl-report <multirun dir>``: table (markdown + CSV) and learning curves of a sweep."""

from __future__ import annotations

import argparse
import sys

from irl.report import write_report


def main(argv: list[str] | None = None) -> None:
    """Print the sweep's table and write report.md, report.csv and curves.png next to it."""
    ap = argparse.ArgumentParser(
        prog="irl-report",
        description="Final expert-normalised return per configuration of an irl-train sweep "
        "(mean ± std, IQM, bootstrap 95% CI over seeds), wall-clock, env steps/s and "
        "learning curves. Crashed or unfinished runs are listed, not fatal.",
    )
    ap.add_argument("sweep_dir", help="a Hydra multirun directory, e.g. multirun/train/<date>")
    args = ap.parse_args(argv)
    try:
        text, files = write_report(args.sweep_dir)
    except FileNotFoundError as exc:
        sys.exit(f"irl-report: {exc}")
    print(text)
    for f in files:
        print(f"wrote {f}")


if __name__ == "__main__":
    main()

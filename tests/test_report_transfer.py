"""benchmarks/report_transfer.py: the transfer table from synthetic transfer records."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import report_transfer  # noqa: E402


def _rec(seed: int, learned: float, control: float, **fields: Any) -> dict[str, Any]:
    return {
        "suite": "transfer", "env": "irl/PointMazeLeft-v0", "target_env": "irl/PointMazeRight-v0",
        "algo": "gan_gcl", "seed": seed, "reopt_steps": 30000, "reoptimized_algo": "sac",
        "reoptimized_return_mean": learned, "control_return_mean": control,
        "reoptimized_control_normalized_return": 0.5,
        "policy_transfer_return_mean": -24.0, "random_return_mean": -46.0,
        "epic_to_true": 0.1, "cost_state_only": True, "overrides": [f"seed={seed}"],
        "command": f"irl-eval run_dir=outputs/maze-s{seed} reopt_env=irl/PointMazeRight-v0",
        "commit": "abc", "wall_clock_s": 60.0,
    } | fields  # fmt: skip


def test_ratio_reads_a_share_for_positive_returns_and_a_cost_ratio_for_negative_ones() -> None:
    assert report_transfer.ratio_to_control(_rec(0, 150.0, 300.0)) == pytest.approx(0.5)
    # The maze's returns are −distance: a learned −8.4 against a control −7.6 is 0.905.
    assert report_transfer.ratio_to_control(_rec(0, -8.4, -7.6)) == pytest.approx(7.6 / 8.4)
    assert report_transfer.ratio_to_control(_rec(0, 5.0, -7.6)) is None  # signs differ
    assert report_transfer.ratio_to_control(_rec(0, -8.0, None)) is None  # type: ignore[arg-type]
    # Over the last three evaluations: a final 806 against 741 (1.09) was 625 against 789.
    swinging = _rec(0, 806.0, 741.0, reoptimized_return_last3_mean=625.0)
    assert report_transfer.ratio_to_control(swinging, last3=True) is None  # no control's last 3
    swinging["control_return_last3_mean"] = 789.0
    assert report_transfer.ratio_to_control(swinging) == pytest.approx(806 / 741)
    assert report_transfer.ratio_to_control(swinging, last3=True) == pytest.approx(625 / 789)


def test_seeds_of_a_configuration_share_a_row_and_a_rerun_replaces_its_record(
    tmp_path: Path,
) -> None:
    recs = [
        _rec(0, -30.0, -8.0),
        _rec(0, -8.0, -8.0),  # seed 0 rerun: the latest line wins
        _rec(1, -10.0, -8.0),
        _rec(2, -20.0, -8.0, cost_state_only=False),  # state-action: its own row
        _rec(1, -6.5, -8.0, reoptimized_shaping=False),  # paid without h: its own row
    ]
    path = tmp_path / "transfer.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    table = report_transfer.transfer_table(report_transfer.load(path))
    rows = [(row[2], row[5], row[6]) for row in table.rows]
    assert rows == [
        ("state-action", "with h", "1"),
        ("state-only", "with h", "2"),
        ("state-only", "without h", "1"),
    ]
    state_only = table.rows[1]
    assert state_only[7] == "-9.0 ± 1.4"  # learned: -8 and -10
    assert state_only[9] == "0.90 ± 0.14"  # learned ÷ control: 1.0 and 0.8
    assert table.rows[2][7] == "-6.5"
    assert "seed=" not in state_only[3]  # seeds are not a variant
    commands = table.commands("T")  # each seed's run is named by its own command
    assert "outputs/maze-s1" in commands and "outputs/maze-s0" in commands


def test_runs_of_different_defaults_get_their_own_rows_and_a_promoted_override_its_era(
    tmp_path: Path,
) -> None:
    """A seed rerun under newer defaults must not replace the older defaults' record of that
    seed in one row: each era is its own configuration, named as the MuJoCo tables name it; an
    override that ran what later became the task's default is filed under that default."""
    ant = {"env": "Ant-v5", "target_env": "irl/DisabledAnt-v5"}
    torque_override = ["env=ant", "seed=0", "cost.torque_term=true"]
    recs = [
        _rec(0, -2000.0, 1300.0, defaults="recipe+companion", **ant),
        _rec(0, 200.0, 900.0, defaults="recipe+companion+torque+wu", **ant),
        _rec(0, -500.0, 1300.0, defaults="recipe+companion", overrides=torque_override, **ant),
        _rec(1, -8.0, -8.0),  # before the recipe: no "defaults"
    ]
    path = tmp_path / "transfer.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    table = report_transfer.transfer_table(report_transfer.load(path))
    variants = sorted(row[3] for row in table.rows)
    assert variants == [
        "default",
        "recipe + companion (default)",
        "recipe + companion + torque term (default)",
        "recipe + companion + torque term + initial w_u (default)",
    ]


def test_cost_inputs_fall_back_to_the_overrides_and_say_when_unknown() -> None:
    rec = _rec(0, -8.0, -8.0)
    del rec["cost_state_only"]
    assert report_transfer.cost_inputs(rec) == "?"
    rec["overrides"] = ["cost.state_only=false"]
    assert report_transfer.cost_inputs(rec) == "state-action"
    assert report_transfer.cost_inputs({"algo": "airl_state"}) == "state-only"


def test_a_control_reused_from_the_cache_is_counted_in_its_cell(tmp_path: Path) -> None:
    """Controls taken from irl-eval's control cache are said so beside the control's mean."""
    recs = [
        _rec(0, -8.0, -8.0, control_cached_key=None),
        _rec(1, -9.0, -8.0, control_cached_key="abc123"),
        _rec(2, -9.5, -8.0, control_cached_key="abc123"),
    ]
    path = tmp_path / "transfer.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    [row] = report_transfer.transfer_table(report_transfer.load(path)).rows
    assert row[8] == "-8.0 ± 0.0 (2 of 3 reused)"
    path.write_text(json.dumps(recs[0]) + "\n")
    [row] = report_transfer.transfer_table(report_transfer.load(path)).rows
    assert row[8] == "-8.0"

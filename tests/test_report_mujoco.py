"""The MuJoCo suite's README table: variants stay apart, eval scores join onto their own run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import report_mujoco  # noqa: E402


def _train(seed: int, extra: list[str], score: float) -> dict[str, object]:
    base = ["env=hopper", "algo=gan_gcl", "sampler=ppo", f"seed={seed}"]
    return {
        "suite": "mujoco-hopper", "env": "Hopper-v5", "algo": "gan_gcl", "sampler": "ppo",
        "seed": seed, "env_steps": 1000, "normalized_return": score, "steps_per_s": 100.0,
        "wall_clock_s": 10.0, "commit": "abc", "overrides": base + extra,
    }  # fmt: skip


def test_eval_scores_join_onto_the_variant_that_made_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two variants of one cell, same seed: each row gets its own re-optimised score."""
    trains = [_train(0, [], 0.1), _train(0, ["algo.bc_warmstart_epochs=50"], 0.9)]
    evals = [
        {**t, "reoptimized_normalized_return": r} for t, r in zip(trains, (0.25, 0.75), strict=True)
    ]
    old = {**evals[0], "reoptimized_normalized_return": 0.5}
    del old["overrides"]  # an eval record from before records carried overrides: default variant
    for name, recs in (("mujoco.jsonl", trains), ("mujoco_eval.jsonl", [old, *evals])):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in recs))
    monkeypatch.setattr(report_mujoco, "RESULTS", tmp_path)
    table = report_mujoco.mujoco_table(*report_mujoco.load())
    rows = {line.split(" | ")[4]: line for line in table.splitlines()[2:]}
    assert set(rows) == {"default", "algo.bc_warmstart_epochs=50"}
    assert "| 0.10 | 0.25 |" in rows["default"]
    assert "| 0.90 | 0.75 |" in rows["algo.bc_warmstart_epochs=50"]


def test_budgets_of_one_variant_are_separate_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1M-step rerun of a 300k cell adds a row; it does not replace the shorter run."""
    short = _train(0, [], 0.6)
    long = {**_train(0, [], 0.1), "env_steps": 1_000_000}
    (tmp_path / "mujoco.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (short, long)))
    monkeypatch.setattr(report_mujoco, "RESULTS", tmp_path)
    table = report_mujoco.mujoco_table(*report_mujoco.load())
    rows = table.splitlines()[2:]
    assert len(rows) == 2
    assert any("| 1000 | 0.60 |" in r for r in rows)
    assert any("| 1000000 | 0.10 |" in r for r in rows)


def test_a_variant_shared_by_two_algorithms_gets_its_own_curve_with_bc_as_reference() -> None:
    """Variant plots: only where IRL algorithms can be compared; BC's default runs join them."""
    recipe = ["sampler.normalize_reward=true"]

    def rec(algo: str, seed: int, extra: list[str]) -> dict[str, object]:
        r = _train(seed, extra, 0.5)
        return {**r, "algo": algo, "curve": [[0 if algo == "bc" else 1000, 0.5]]}

    records = [
        rec("gan_gcl", 0, recipe), rec("gan_gcl", 1, recipe), rec("gcl", 0, recipe),
        rec("gan_gcl", 0, ["algo.alpha=0.1"]),  # one algorithm only: no plot of its own
        rec("gan_gcl", 0, []), rec("bc", 0, []), rec("bc", 1, []),
    ]  # fmt: skip
    groups = report_mujoco.curve_groups(records)
    key = ("mujoco-hopper", "Hopper-v5", "sampler.normalize_reward=true")
    assert set(groups) == {("mujoco-hopper", "Hopper-v5", "default"), key}
    seeds = {a: len(runs) for a, runs in groups[key].items()}
    assert seeds == {"gan_gcl/ppo": 2, "gcl/ppo": 1, "bc/ppo": 2}
    assert report_mujoco._slug(key[2]) == "sampler.normalize_reward-true"


def test_ablation_rows_name_the_measure_switched_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each ablation run is labelled by what it changes against the script's RECIPE, and its
    score difference is taken against the recipe's run of the same seed."""
    recipe = report_mujoco.script_recipe()
    assert any(o.startswith("sampler.policy_ema=") for o in recipe)
    no_ema = [o for o in recipe if not o.startswith("sampler.policy_ema=")]
    no_bc = [o for o in recipe if not o.startswith("algo.bc_warmstart_epochs=")]
    trains = [
        {**_train(0, recipe, 0.9), "suite": "mujoco-ablation"},
        {**_train(1, recipe, 0.7), "suite": "mujoco-ablation"},
        {**_train(0, [*no_ema, "sampler.policy_ema=null"], 0.5), "suite": "mujoco-ablation"},
        {**_train(0, [*no_bc, "algo.bc_warmstart_epochs=0"], 0.2), "suite": "mujoco-ablation"},
        {**_train(0, [*recipe, "algo.fusion=own"], 0.6), "suite": "mujoco-ablation"},
        _train(0, recipe, 0.1),  # another suite's run of the recipe: not in this table
    ]
    assert report_mujoco.ablation_row(trains[3], recipe) == "algo.bc_warmstart_epochs=0"
    assert report_mujoco.ablation_row(_train(0, no_ema, 0.5), recipe) == (
        "no " + next(o for o in recipe if o.startswith("sampler.policy_ema="))
    )
    (tmp_path / "mujoco.jsonl").write_text("".join(json.dumps(r) + "\n" for r in trains))
    monkeypatch.setattr(report_mujoco, "RESULTS", tmp_path)
    rows = report_mujoco.ablation_table(*report_mujoco.load()).splitlines()[2:]
    cells = {r.split(" | ")[0].lstrip("| "): r.split(" | ")[1:4] for r in rows}
    assert rows[0].startswith("| recipe (all measures on) |")
    assert cells["recipe (all measures on)"] == ["0, 1", "0.80 ± 0.14", "–"]
    assert cells["sampler.policy_ema=null"] == ["0", "0.50", "-0.40"]
    assert cells["algo.bc_warmstart_epochs=0"] == ["0", "0.20", "-0.70"]
    assert cells["algo.fusion=own"] == ["0", "0.60", "-0.30"]


def test_reoptimisations_are_listed_by_protocol_and_a_later_eval_keeps_the_score(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The main table's re-optimised score is SAC with its own temperature; a later eval that
    skips re-optimisation or fixes α does not replace it, and the re-optimisation table lists
    each protocol on its own row (α read from the command for records before the field)."""
    train = _train(0, [], 0.8)
    auto = {**train, "reoptimized_normalized_return": 0.3, "command": "irl-eval reopt_steps=9"}
    alpha = {**train, "reoptimized_normalized_return": 0.7, "reoptimized_ent_coef": "1.0"}
    old_alpha = {**auto, "reoptimized_normalized_return": 0.6, "command": "reopt_ent_coef=0.5"}
    skipped = {**train, "reoptimized_normalized_return": None}
    control = {
        **train,
        "reoptimized_normalized_return": 0.9,
        "reoptimized_reward": "true",
        "reoptimized_wall_clock_s": 5400.0,
    }
    (tmp_path / "mujoco.jsonl").write_text(json.dumps(train) + "\n")
    (tmp_path / "mujoco_eval.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in (auto, alpha, old_alpha, skipped, control))
    )
    monkeypatch.setattr(report_mujoco, "RESULTS", tmp_path)
    (row,) = report_mujoco.mujoco_table(*report_mujoco.load()).splitlines()[2:]
    assert "| 0.80 | 0.30 |" in row
    rows = report_mujoco.reopt_table().splitlines()[2:]
    # The true-reward control is listed, and kept out of the main table's learned-cost score.
    assert [r.split(" | ")[7:11] for r in rows] == [
        ["auto", "cost γ", "learned reward", "0.30"],
        ["1.0", "cost γ", "learned reward", "0.70"],
        ["0.5", "cost γ", "learned reward", "0.60"],
        ["auto", "cost γ", "true reward", "0.90"],
    ]
    # SAC's training time where the record has it, a dash for records from before the field.
    assert [r.split(" | ")[12] for r in rows] == ["–", "–", "–", "1.5 h"]


def test_ranking_rows_keep_the_latest_record_of_each_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run ranked twice is one row with the later figures, labelled by its own variant."""

    def rank(run: str, extra: list[str], learned_demos: float) -> dict[str, object]:
        rec = {k: v for k, v in _train(0, extra, 0.0).items() if k != "normalized_return"}
        for b in report_mujoco.BEHAVIOURS:
            rec[f"true_return_{b}"], rec[f"learned_return_{b}"] = 10.0, -20.0
        rec |= {"run_dir": run, "learned_return_demos": learned_demos}
        return rec | {"pairs_in_true_order": 0.5, "episode_spearman": 0.25}

    recs = [rank("a", [], -1.0), rank("b", ["cost.state_only=true"], -2.0), rank("a", [], -3.0)]
    (tmp_path / "cost_ranking.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    monkeypatch.setattr(report_mujoco, "RESULTS", tmp_path)
    rows = report_mujoco.ranking_table().splitlines()[2:]
    assert [r.split(" | ")[2:5] for r in rows] == [
        ["cost.state_only=true", "0", "10 / -2"],
        ["default", "0", "10 / -3"],
    ]
    assert rows[1].endswith("| 10 / -20 | 0.5 | 0.25 | abc |")

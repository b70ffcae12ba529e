"""benchmarks/report_mujoco.py: tables generated from records, and the committed files up to date.

Synthetic records are written under tmp_path; the last test checks the real records against the
committed benchmarks/README.md, the README's headline block and the docs' generated blocks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import report_mujoco  # noqa: E402

RECIPE = list(report_mujoco.RECORDED_RECIPE)


def _train(seed: int, extra: list[str], score: float, **fields: Any) -> dict[str, Any]:
    base = ["env=hopper", "algo=gan_gcl", "sampler=ppo", f"seed={seed}"]
    return {
        "suite": "mujoco-hopper", "env": "Hopper-v5", "algo": "gan_gcl", "sampler": "ppo",
        "seed": seed, "env_steps": 1000, "normalized_return": score, "steps_per_s": 100.0,
        "wall_clock_s": 10.0, "commit": "abc", "overrides": base + extra,
        "command": " ".join(["irl-train", *base, *extra]),
        "curve": [[500, score / 2], [1000, score]],
    } | fields  # fmt: skip


def _write(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _rows(markdown: str) -> list[list[str]]:
    """The cells of a markdown table's body rows."""
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in markdown.splitlines()[2:]]


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty results folder that the report reads instead of benchmarks/results/."""
    monkeypatch.setattr(report_mujoco, "RESULTS", tmp_path)
    return tmp_path


def test_eval_scores_join_onto_the_variant_that_made_them(results: Path) -> None:
    """Two variants of one cell, same seed: each row gets its own re-optimised score."""
    trains = [_train(0, [], 0.1), _train(0, ["algo.bc_warmstart_epochs=50"], 0.9)]
    evals = [
        {**t, "reoptimized_normalized_return": r} for t, r in zip(trains, (0.25, 0.75), strict=True)
    ]
    old = {**evals[0], "reoptimized_normalized_return": 0.5}
    del old["overrides"]  # an eval record from before records carried overrides: default variant
    _write(results / "mujoco.jsonl", trains)
    _write(results / "mujoco_eval.jsonl", [old, *evals])
    table = report_mujoco.mujoco_tables(*report_mujoco.load())["mujoco-hopper"]
    rows = {r[3]: r for r in _rows(table.markdown())}
    assert set(rows) == {"default", "algo.bc_warmstart_epochs=50"}
    assert rows["default"][6:9] == ["0.10", "0.10", "0.25"]
    assert rows["algo.bc_warmstart_epochs=50"][6:9] == ["0.90", "0.90", "0.75"]


def test_budgets_of_one_variant_are_separate_rows_and_seeds_are_listed(results: Path) -> None:
    """A 1M-step rerun of a cell adds a row; the per-seed column lists scores in seed order."""
    recs = [_train(1, [], 0.6), _train(0, [], 0.2), {**_train(0, [], 0.1), "env_steps": 10**6}]
    _write(results / "mujoco.jsonl", recs)
    rows = _rows(report_mujoco.mujoco_tables(*report_mujoco.load())["mujoco-hopper"].markdown())
    assert [(r[5], r[6], r[7]) for r in rows] == [
        ("1000", "0.40 ± 0.28", "0.20 / 0.60"),
        ("1000000", "0.10", "0.10"),
    ]


def test_commands_table_templates_the_seed_and_sums_wall_clock() -> None:
    """A row's commands differ only by seed: one template; wall-clock of all its runs."""
    assert report_mujoco.command_template("irl-train seed=3 reopt_seed=4 x.seed=5") == (
        "irl-train seed=<seed> reopt_seed=4 x.seed=5"
    )
    assert report_mujoco.command_template("p.py --seed 12 --out a/hopper_seed12_300") == (
        "p.py --seed <seed> --out a/hopper_seed<seed>_300"
    )
    table = report_mujoco.Table(["x"])
    table.add(["a"], [_train(0, [], 0.1, wall_clock_s=100.0), _train(1, [], 0.2, commit="d")])
    table.add(["b"], [{"command": "c", "commit": "e"}])  # no wall-clock recorded
    rows = _rows(table.commands("H"))
    assert rows[0] == [
        "H1", "`irl-train env=hopper algo=gan_gcl sampler=ppo seed=<seed>`", "abc, d", "110 s"
    ]  # fmt: skip
    assert rows[1] == ["H2", "`c`", "e", "–"]
    with pytest.raises(ValueError, match="2 cells under 1 headers"):
        table.add(["a", "b"], [])


def test_a_variant_shared_by_two_algorithms_gets_its_own_curve_with_bc_as_reference() -> None:
    """Variant plots: only where IRL algorithms can be compared; BC's default runs join them."""
    variant = ["sampler.normalize_reward=true"]

    def rec(algo: str, seed: int, extra: list[str]) -> dict[str, Any]:
        r = _train(seed, extra, 0.5)
        return {**r, "algo": algo, "curve": [[0 if algo == "bc" else 1000, 0.5]]}

    records = [
        rec("gan_gcl", 0, variant), rec("gan_gcl", 1, variant), rec("gcl", 0, variant),
        rec("gan_gcl", 0, ["algo.alpha=0.1"]),  # one algorithm only: no plot of its own
        rec("gan_gcl", 0, []), rec("bc", 0, []), rec("bc", 1, []),
    ]  # fmt: skip
    groups = report_mujoco.curve_groups(records)
    key = ("mujoco-hopper", "Hopper-v5", "sampler.normalize_reward=true")
    assert set(groups) == {("mujoco-hopper", "Hopper-v5", "default"), key}
    assert {a: len(runs) for a, runs in groups[key].items()} == {
        "gan_gcl/ppo": 2, "gcl/ppo": 1, "bc/ppo": 2
    }  # fmt: skip
    assert report_mujoco.curve_stem(*key) == (
        "mujoco-hopper_Hopper-v5_sampler.normalize_reward-true"
    )


def test_ablation_rows_name_the_measure_switched_off(results: Path) -> None:
    """Each ablation run is labelled by what it changes against the recorded recipe, and its
    score difference is taken against the recipe's run of the same seed."""
    no_ema = [o for o in RECIPE if not o.startswith("sampler.policy_ema=")]
    no_bc = [o for o in RECIPE if not o.startswith("algo.bc_warmstart_epochs=")]
    ablation = {"suite": "mujoco-ablation"}
    trains = [
        _train(0, RECIPE, 0.9, **ablation), _train(1, RECIPE, 0.7, **ablation),
        _train(0, [*no_ema, "sampler.policy_ema=null"], 0.5, **ablation),
        _train(0, [*no_bc, "algo.bc_warmstart_epochs=0"], 0.2, **ablation),
        _train(0, [*RECIPE, "algo.fusion=own"], 0.6, **ablation),
        _train(0, RECIPE, 0.1),  # another suite's run of the recipe: not in this table
    ]  # fmt: skip
    assert report_mujoco.ablation_row(trains[3]) == "algo.bc_warmstart_epochs=0"
    assert report_mujoco.ablation_row(_train(0, no_ema, 0.5)) == "no sampler.policy_ema=0.9"
    _write(results / "mujoco.jsonl", trains)
    rows = _rows(report_mujoco.ablation_table(*report_mujoco.load()).markdown())
    cells = {r[0]: r[1:5] for r in rows}
    assert rows[0][0] == "recipe (all measures on)"
    assert cells["recipe (all measures on)"] == ["0, 1", "0.80 ± 0.14", "0.90 / 0.70", "–"]
    assert cells["sampler.policy_ema=null"] == ["0", "0.50", "0.50", "-0.40"]
    assert cells["algo.bc_warmstart_epochs=0"] == ["0", "0.20", "0.20", "-0.70"]
    assert cells["algo.fusion=own"] == ["0", "0.60", "0.60", "-0.30"]


def test_reoptimisations_are_listed_by_protocol_and_a_later_eval_keeps_the_score(
    results: Path,
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
    _write(results / "mujoco.jsonl", [train])
    _write(results / "mujoco_eval.jsonl", [auto, alpha, old_alpha, skipped, control])
    (row,) = _rows(report_mujoco.mujoco_tables(*report_mujoco.load())["mujoco-hopper"].markdown())
    assert row[6:9] == ["0.80", "0.80", "0.30"]
    rows = _rows(report_mujoco.reopt_table().markdown())
    # The true-reward control is listed, and kept out of the main table's learned-cost score.
    assert [r[5] for r in rows] == ["SAC"] * 4  # records from before reoptimized_algo
    assert [r[7:11] for r in rows] == [
        ["auto", "cost γ", "learned reward", "0.30"],
        ["1.0", "cost γ", "learned reward", "0.70"],
        ["0.5", "cost γ", "learned reward", "0.60"],
        ["auto", "cost γ", "true reward", "0.90"],
    ]
    # The training time where the record has it, a dash for records from before the field.
    assert [r[12] for r in rows] == ["–", "–", "–", "1.5 h"]


def test_ranking_rows_keep_the_latest_record_of_each_run(results: Path) -> None:
    """A run ranked twice at one termination price is one row with the later figures, labelled
    by its own variant; ranked at the other price it is a second row, after the first."""

    def rank(run: str, extra: list[str], learned_demos: float, floor: float | None = None) -> Any:
        rec = {k: v for k, v in _train(0, extra, 0.0).items() if k != "normalized_return"}
        for b in report_mujoco.BEHAVIOURS:
            rec[f"true_return_{b}"], rec[f"learned_return_{b}"] = 10.0, -20.0
        rec |= {"run_dir": run, "learned_return_demos": learned_demos, "termination_floor": floor}
        return rec | {"pairs_in_true_order": 0.5, "episode_spearman": 0.25}

    target = rank("a", [], -5.0) | {"target_env": "irl/Target-v0"}
    target |= {"true_return_probe": 7.0, "learned_return_probe": -8.0}
    recs = [
        rank("a", [], -1.0),
        rank("b", ["cost.state_only=true"], -2.0),
        rank("a", [], -4.0, floor=9.5),
        target,
        rank("a", [], -3.0),
    ]
    _write(results / "cost_ranking.jsonl", recs)
    rows = _rows(report_mujoco.ranking_table().markdown())
    assert [r[2:6] for r in rows] == [
        ["cost.state_only=true", "0", "as learned", "10 / -2"],
        ["default", "0", "as learned", "10 / -3"],
        ["default", "0", "≥ 9.50", "10 / -4"],
        ["default", "0", "as learned", "10 / -5"],  # ranked in a target: a row of its own
    ]
    assert rows[1][-5:] == ["10 / -20", "10 / -20", "–", "0.5", "0.25"]
    # The target row names source and target, and its probe.
    assert rows[3][0].endswith("→ irl/Target-v0") and rows[3][-3] == "7 / -8"


def test_headline_prefers_recipe_default_records_and_names_the_best_other_algorithm(
    results: Path,
) -> None:
    """GAN-GCL's headline cell is its recipe runs, those made with the recipe as the default
    first; BC and the best other algorithm with the same settings sit beside it."""
    task = ["sampler.learning_rate=1e-4"]
    cheetah = {"suite": "mujoco-halfcheetah", "env": "HalfCheetah-v5"}
    records = [
        _train(0, RECIPE, 0.9), _train(1, RECIPE, 0.7),  # recorded recipe, before issue 19
        _train(0, [], 0.5, defaults="recipe"),  # the recipe as the default: preferred
        _train(0, [], 0.1),  # the old defaults: not the recipe
        _train(0, RECIPE, 0.3, algo="gcl"), _train(0, RECIPE, 0.4, algo="gail"),
        _train(0, [], 0.2, algo="bc", sampler="none"),
        _train(0, RECIPE, 0.8, **cheetah),  # HalfCheetah's recipe adds the learning rate
        _train(0, [*RECIPE, *task], 1.0, **cheetah),
    ]  # fmt: skip
    _write(results / "mujoco.jsonl", records)
    rows = {
        r[0]: r for r in _rows(report_mujoco.headline_table(report_mujoco.load()[0]).markdown())
    }
    assert set(rows) == {"Hopper-v5", "HalfCheetah-v5"}
    assert rows["Hopper-v5"][1:5] == [
        "recipe, 1,000 steps",
        "0.50 (1 seed)",
        "0.20 (1 seed)",
        "–",
    ]
    assert rows["HalfCheetah-v5"][2] == "1.00 (1 seed)"
    records[2] = _train(0, ["algo.alpha=0.1"], 0.5, defaults="recipe")  # no longer the recipe
    _write(results / "mujoco.jsonl", records)
    rows = {
        r[0]: r for r in _rows(report_mujoco.headline_table(report_mujoco.load()[0]).markdown())
    }
    assert rows["Hopper-v5"][2:5] == [
        "0.80 ± 0.14 (2 seeds)",
        "0.20 (1 seed)",
        "0.40 (1 seed, GAIL)",
    ]


def test_the_per_task_reopt_summary_holds_default_runs_against_the_bar(results: Path) -> None:
    """The summary keeps the default configuration's runs (no override but the seed and the
    budget, the termination priced at the demo ceiling), one row per task, defaults era,
    training budget and optimiser; the mean of the seeds' learned ÷ control decides the 70 %
    bar."""

    def reopt(run: str, seed: int, reward: str, score: float, *extra: str, **f: Any) -> Any:
        rec = _train(seed, list(extra), 0.9, defaults="recipe", suite="reopt-source")
        command = f"irl-eval run_dir={run} reopt_reward={reward} reopt_algo=ppo reopt_steps=9"
        return rec | {
            "command": command, "reoptimized_algo": "ppo", "reoptimized_reward": reward,
            "reoptimized_normalized_return": score, "termination_floor": 5.0, **f,
        }  # fmt: skip

    norm = {"reoptimized_normalize_reward": True}
    recs = [
        reopt("c", 0, "true", 0.5), reopt("c", 0, "true", 0.8, **norm),
        reopt("a0", 0, "learned", 0.4), reopt("a1", 1, "learned", 0.2),
        reopt("a2", 2, "learned", 0.6, termination_floor=None),  # priced as learned: not it
        reopt("b0", 0, "learned", 0.9, "cost.state_only=true"),  # an override: not the default
        reopt("a0", 0, "learned", 0.6, **norm),
        reopt("a0", 0, "learned", 0.2, reoptimized_shaping=False, **norm),  # a row of its own
        reopt("n0", 0, "learned", 0.6, defaults="recipe+companion", **norm),
        reopt("m0", 0, "learned", 0.72, defaults="recipe+companion", env_steps=2000, **norm),
    ]  # fmt: skip
    _write(results / "mujoco_eval.jsonl", recs)
    rows = _rows(report_mujoco.source_reopt_summary_table().markdown())
    assert [r[2:] for r in rows] == [
        ["PPO", "9", "2", "0.40 / 0.20", "0.50", "0.80 / 0.40", "0.60", "no"],
        ["PPO, reward normalised", "9", "1", "0.60", "0.80", "0.75", "0.75", "yes"],
        ["PPO, reward normalised, no shaping", "9", "1", "0.20", "0.80", "0.25", "0.25", "no"],
        ["PPO, reward normalised", "9", "1", "0.60", "0.80", "0.75", "0.75", "yes"],
        ["PPO, reward normalised", "9", "1", "0.72", "0.80", "0.90", "0.90", "yes"],
    ]
    assert [r[1] for r in rows] == [
        *["recipe (default), trained 1,000 steps"] * 3,
        "recipe + companion (default), trained 1,000 steps",
        "recipe + companion (default), trained 2,000 steps",  # a longer training run: its own row
    ]


def test_headline_prefers_the_companion_defaults_and_labels_them(results: Path) -> None:
    """Runs under the defaults that include the companion from scratch ("recipe+companion")
    are the task's headline, before more seeds of the earlier recipe defaults, and their
    variant says so."""
    records = [
        _train(0, [], 0.9, defaults="recipe"), _train(1, [], 0.8, defaults="recipe"),
        _train(0, [], 0.6, defaults="recipe+companion", companion_env_steps=1000),
    ]  # fmt: skip
    _write(results / "mujoco.jsonl", records)
    rows = _rows(report_mujoco.headline_table(report_mujoco.load()[0]).markdown())
    assert rows[0][1:3] == ["recipe, 1,000 steps + 1,000 of its companion", "0.60 (1 seed)"]
    assert report_mujoco.variant_label(records[2]) == "recipe + companion (default)"
    assert report_mujoco.variant_label(records[0]) == "recipe (default)"
    assert report_mujoco.is_recipe(records[2]) and report_mujoco.recipe_default(records[2])


def test_headline_bc_cell_is_bc_under_the_gan_gcl_rows_defaults(results: Path) -> None:
    """The BC cell takes BC's runs under the same defaults as the GAN-GCL row (the same demo
    episodes), even when BC under earlier defaults has more seeds."""

    def bc(seed: int, score: float, defaults: str) -> dict[str, Any]:
        overrides = ["env=hopper", "algo=bc", f"seed={seed}"]
        return _train(seed, [], score, defaults=defaults) | {
            "algo": "bc", "env_steps": 0, "overrides": overrides,
            "command": " ".join(["irl-train", *overrides]),
        }  # fmt: skip

    records = [
        _train(0, [], 0.9, defaults="recipe+companion"),
        *(bc(s, 0.2, "recipe") for s in range(3)),
        bc(0, 0.7, "recipe+companion"),
    ]
    _write(results / "mujoco.jsonl", records)
    rows = _rows(report_mujoco.headline_table(report_mujoco.load()[0]).markdown())
    assert rows[0][2:4] == ["0.90 (1 seed)", "0.70 (1 seed)"]
    _write(results / "mujoco.jsonl", records[:4])  # no BC under those defaults: the most seeds
    rows = _rows(report_mujoco.headline_table(report_mujoco.load()[0]).markdown())
    assert rows[0][3] == "0.20 ± 0.00 (3 seeds)"


def test_headline_prefers_the_tasks_configured_budget_to_more_seeds(results: Path) -> None:
    """Of two default groups of a task, the headline is the one at the budget that
    ``irl-train env=<task>`` runs (its env config's total_env_steps), even with fewer seeds."""
    budget = report_mujoco.task_budgets()["Hopper-v5"]
    assert budget == 300_000  # irl/conf/env/hopper.yaml
    other = budget // 3
    records = [
        _train(s, [], 0.5, defaults="recipe+companion", env_steps=other) for s in range(3)
    ] + [_train(0, [], 0.9, defaults="recipe+companion", env_steps=budget)]
    _write(results / "mujoco.jsonl", records)
    rows = _rows(report_mujoco.headline_table(report_mujoco.load()[0]).markdown())
    assert rows[0][1:3] == [f"recipe, {budget:,} steps", "0.90 (1 seed)"]


def test_generation_writes_every_file_and_check_fails_when_records_change(
    results: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The script writes benchmarks/README.md, the README's headline block and the docs' blocks;
    --check writes nothing and exits 1 once the records no longer match, naming the file."""
    docs = tmp_path / "site"
    docs.mkdir()
    paths = {
        "BENCH_README": docs / "BENCH.md", "RECIPE_DOC": docs / "recipe.md",
        "EBM_DOC": docs / "ebm.md", "ROOT": tmp_path,
    }  # fmt: skip
    for name, path in paths.items():
        monkeypatch.setattr(report_mujoco, name, path)
    readme = docs / "README.md"
    monkeypatch.setattr(report_mujoco, "README_CANDIDATES", (docs / "missing.md", readme))
    begin, end = report_mujoco.marker("headline-table")
    readme.write_text(f"# Title\n\n{begin}\nstale\n{end}\n\nkept\n")
    blocks = report_mujoco.recipe_blocks([], {})
    paths["RECIPE_DOC"].write_text(
        "".join(f"{a}\n{b}\n" for a, b in map(report_mujoco.marker, blocks))
    )
    paths["EBM_DOC"].write_text("intro\n" + "\n".join(report_mujoco.marker("ebm-table")) + "\n")
    _write(results / "mujoco.jsonl", [_train(0, RECIPE, 0.9), _train(1, RECIPE, 0.7)])
    _write(results / "ebm.jsonl", [])
    assert report_mujoco.main(["--check"]) == 1  # nothing generated yet
    assert report_mujoco.main(["--no-curves"]) == 0
    assert report_mujoco.main(["--check"]) == 0
    text = readme.read_text()
    assert text.startswith("# Title\n\n") and text.endswith("\n\nkept\n")
    assert "| Hopper-v5 | recipe, 1,000 steps | 0.80 ± 0.14 (2 seeds) |" in text
    bench = paths["BENCH_README"].read_text()
    assert (
        "| HO1 | Hopper-v5 | gan_gcl | ppo | recipe | 2 | 1000 | 0.80 ± 0.14 | 0.90 / 0.70 |"
        in bench
    )
    assert "`irl-train env=hopper algo=gan_gcl sampler=ppo seed=<seed> " in bench
    assert "0.90 / 0.70" in paths["RECIPE_DOC"].read_text()
    before = {p: p.read_text() for p in (readme, paths["BENCH_README"], paths["RECIPE_DOC"])}
    _write(results / "mujoco.jsonl", [_train(0, RECIPE, 0.9), _train(1, RECIPE, 0.5)])
    capsys.readouterr()
    assert report_mujoco.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "BENCH.md" in err and "README.md" in err and "recipe.md" in err
    assert {p: p.read_text() for p in before} == before  # --check wrote nothing


def test_a_broken_record_or_a_missing_block_is_one_clear_error(tmp_path: Path) -> None:
    """A line that is not a JSON object names its file and line; a missing marker its name."""
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n\n[1, 2]\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:3: not a JSON object"):
        report_mujoco.read_records(path)
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not JSON"):
        report_mujoco.read_records(path)
    with pytest.raises(ValueError, match="no block <!-- x:begin"):
        report_mujoco.replace_block("text", report_mujoco.marker("x")[0], "t")


def test_committed_files_are_up_to_date_with_the_records() -> None:
    """benchmarks/README.md, the README's headline table and the docs' generated blocks match
    the committed records (regenerate with: python benchmarks/report_mujoco.py)."""
    stale = [str(p.relative_to(ROOT)) for p in report_mujoco.stale_files()]
    assert stale == [], f"out of date: {stale}; run python benchmarks/report_mujoco.py"


def test_iqm_and_its_bootstrap_interval() -> None:
    # IQM cuts int(n/4) from each end: of 5 values the middle 3, of 8 the middle 4
    assert report_mujoco.iqm([0.0, 1.0, 2.0, 3.0, 100.0]) == 2.0
    assert report_mujoco.iqm([9.0, 1, 2, 3, 4, 5, 6, -9]) == 3.5
    lo, hi = report_mujoco.iqm_interval([0.9, 0.9, 0.9, 0.9, 0.9])
    assert lo == hi == pytest.approx(0.9)
    vals = [0.2, 0.9, 0.95, 1.0, 1.05]
    lo, hi = report_mujoco.iqm_interval(vals)
    assert lo < report_mujoco.iqm(vals) < hi and 0.2 <= lo and hi <= 1.05
    assert report_mujoco.iqm_interval(vals) == (lo, hi)  # seeded: the tables regenerate
    assert report_mujoco.iqm_cell(vals[:4]) == ""  # fewer than 5 seeds: mean ± std only
    assert report_mujoco.iqm_cell(vals).startswith("IQM 0.95 [")
    cell = report_mujoco._group_cell([_train(s, RECIPE, v) for s, v in enumerate(vals)])
    assert cell.startswith("IQM 0.95 [") and cell.endswith("0.82 ± 0.35 (5 seeds)")


def test_headline_bc_is_the_one_with_gan_gcls_number_of_demos(results: Path) -> None:
    """BC beside GAN-GCL trained on as many demos, not BC's run with the most seeds."""
    records = [
        _train(0, [], 0.5, defaults="recipe", n_demos=16),
        *[_train(s, ["n_demos=1"], 0.05, algo="bc", sampler="none", n_demos=1) for s in range(3)],
        *[_train(s, [], 0.8, algo="bc", sampler="none", n_demos=16) for s in range(2)],
    ]
    _write(results / "mujoco.jsonl", records)
    rows = _rows(report_mujoco.headline_table(report_mujoco.load()[0]).markdown())
    assert [r[3] for r in rows] == ["0.80 ± 0.00 (2 seeds)"]


def test_own_task_reopt_rows_pair_each_learned_reward_with_the_task_control(results: Path) -> None:
    """Each run's learned-reward re-optimisation, one row per termination price (the latest
    record of each), beside the true-reward control of the same task, optimiser, budget and
    irl-eval seed, the run's own where it has one; learned ÷ control on the last-3 means."""

    def reopt(run: str, seed: int, reward: str, score: float, **fields: Any) -> dict[str, Any]:
        rec = _train(seed, [], 0.9) | {"suite": "reopt-source", "reoptimized_algo": "ppo"}
        command = f"irl-eval run_dir={run} reopt_reward={reward} reopt_algo=ppo reopt_steps=300000"
        return rec | {
            "command": command,
            "reoptimized_reward": reward,
            "reoptimized_normalized_return": score + 0.5,  # the final one: not the score
            "reoptimized_normalized_return_last3_mean": score,
            **fields,
        }

    recs = [
        reopt("r0", 0, "learned", 0.1),
        reopt("r0", 0, "learned", 0.0),  # a later record of the same run and price
        reopt("r0", 0, "true", 0.25),
        reopt("r0", 0, "learned", 0.3, termination_floor=9.5),
        reopt("r1", 1, "learned", 0.2, termination_floor=9.0),  # r1 has no control of its own
        reopt("r2", 2, "learned", 0.2, termination_floor=9.0) | {"env": "Walker2d-v5"},  # none
        # A reward-normalised re-optimisation pairs with the reward-normalised control only.
        reopt("r1", 1, "learned", 0.4, termination_floor=9.0, reoptimized_normalize_reward=True),
        reopt("r3", 0, "true", 0.5, reoptimized_normalize_reward=True),
        # So does a squashed one with the squashed control, and without one it has no row.
        reopt("r4", 4, "learned", 0.3, termination_floor=9.0, reoptimized_squash=True),
        reopt("r5", 5, "learned", 0.6, termination_floor=9.0, reoptimized_squash=True)
        | {"env": "Walker2d-v5"},
        reopt("r6", 0, "true", 0.6, reoptimized_squash=True),
    ]
    _write(results / "mujoco_eval.jsonl", recs)
    rows = _rows(report_mujoco.source_reopt_table().markdown())
    assert [r[2:] for r in rows] == [
        ["0", "PPO", "300000", "c_abs as learned", "0.00", "0.25", "0.00"],
        ["0", "PPO", "300000", "≥ 9.50 (demo ceiling)", "0.30", "0.25", "1.20"],
        ["1", "PPO", "300000", "≥ 9.00 (demo ceiling)", "0.20", "0.25", "0.80"],
        ["4", "PPO, squashed", "300000", "≥ 9.00 (demo ceiling)", "0.30", "0.60", "0.50"],
        ["1", "PPO, reward normalised", "300000", "≥ 9.00 (demo ceiling)", "0.40", "0.50", "0.80"],
    ]
    labels = [r[5] for r in _rows(report_mujoco.reopt_table().markdown())]
    assert labels.count("PPO, squashed") == 3 and labels.count("PPO, reward normalised") == 2


def test_the_sac_budget_table_holds_shaped_sac_re_optimisations_only(results: Path) -> None:
    """A PPO re-optimisation and an unshaped SAC one of the same run are not SAC budget cells
    (they would replace the shaped SAC score of that budget); the shaped SAC score stays."""
    base = _train(0, [], 0.9)
    sac = {**base, "reoptimized_steps": 300000, "reoptimized_normalized_return": 0.4}
    ppo = {**sac, "reoptimized_algo": "ppo", "reoptimized_normalized_return": 0.8}
    unshaped = {**sac, "reoptimized_shaping": False, "reoptimized_normalized_return": 0.1}
    _write(results / "mujoco_eval.jsonl", [sac, ppo, unshaped])
    rows = _rows(report_mujoco.reopt_budget_table().markdown())
    assert len(rows) == 1 and rows[0][-1] == "0.40"


def test_runs_under_an_override_that_became_the_default_join_the_new_defaults(
    results: Path,
) -> None:
    """Walker2d's rank-loss seeds ran `experimental.rank_loss=1.0` under "recipe+companion";
    that override became Walker2d's default (env.cost_rank_loss), so the report files them with
    the runs recorded under "recipe+companion+rank" and makes them the headline before the
    earlier defaults. The same override on another task (Ant) stays a variant."""

    def walker(seed: int, extra: list[str], score: float, defaults: str) -> dict[str, Any]:
        rec = _train(seed, extra, score, defaults=defaults, env_steps=1_000_000)
        return rec | {"suite": "mujoco-walker2d", "env": "Walker2d-v5"}

    old = [walker(s, [], 0.8, "recipe+companion") for s in range(3)]
    promoted = walker(0, ["experimental.rank_loss=1.0"], 0.95, "recipe+companion")
    new = walker(1, [], 1.0, "recipe+companion+rank")
    ant = _train(0, ["experimental.rank_loss=1.0"], 0.5, defaults="recipe+companion")
    ant |= {"suite": "mujoco-ant", "env": "Ant-v5"}
    _write(results / "mujoco.jsonl", [*old, promoted, new, ant])
    records = report_mujoco.load()[0]
    assert report_mujoco.variant_label(promoted) == report_mujoco.variant_label(new)
    assert report_mujoco.variant_label(new) == "recipe + companion + rank loss (default)"
    assert (
        report_mujoco.variant_label(ant)
        == "recipe + companion (default) experimental.rank_loss=1.0"
    )
    assert report_mujoco.is_recipe(promoted) and not report_mujoco.is_recipe(ant)
    torque = ant | {"overrides": ["env=ant", "seed=0", "cost.torque_term=true"]}
    assert report_mujoco.variant_label(torque) == "recipe + companion + torque term (default)"
    rows = {r[0]: r for r in _rows(report_mujoco.headline_table(records).markdown())}
    walker_row = rows["Walker2d-v5"]
    assert walker_row[1] == "recipe + rank loss, 1,000,000 steps"
    assert walker_row[2] == "0.97 ± 0.04 (2 seeds)"  # the promoted and the new run, not the old


def test_recipe_algorithms_table_names_each_rows_defaults() -> None:
    """Two groups of one algorithm that differ only in the defaults they ran under are told
    apart by the defaults column, in words; a run of the recipe before it was the defaults, and
    BC from before the recipe, are named so."""
    bc = _train(0, [], 0.2) | {"algo": "bc", "env_steps": 0, "overrides": ["env=hopper", "algo=bc"]}
    recipe_overrides = _train(0, list(report_mujoco.RECORDED_RECIPE), 0.7)
    records = [
        _train(0, [], 0.9, defaults="recipe"),
        _train(0, [], 0.8, defaults="recipe+companion+torque"),
        recipe_overrides,
        bc,
    ]
    rows = _rows(report_mujoco.recipe_algorithms_table(records).markdown())
    assert sorted((r[1], r[2], r[6]) for r in rows) == [
        ("bc", "pre-recipe", "0.20"),
        ("gan_gcl", "recipe", "0.90"),
        ("gan_gcl", "recipe (as overrides)", "0.70"),
        ("gan_gcl", "recipe + companion + torque term", "0.80"),
    ]


def test_recipe_tables_name_a_sampler_other_than_the_recipes_ppo() -> None:
    """The recipe tables have no sampler column: a recipe run with sampler=sac is labelled so,
    in the algorithms table and in the curves (its defaults without the companion, which
    sampler=sac turns off), and the PPO runs beside it are not."""
    ppo = _train(0, [], 0.9, defaults="recipe+companion")
    sac = _train(0, [], 0.3, defaults="recipe+companion", sampler="sac")
    sac["overrides"] = ["env=hopper", "algo=gan_gcl", "sampler=sac", "seed=0"]
    rows = _rows(report_mujoco.recipe_algorithms_table([ppo, sac]).markdown())
    assert sorted(r[1:3] for r in rows) == [
        ["gan_gcl", "recipe + companion"],
        ["gan_gcl (sac sampler)", "recipe"],  # its defaults, less the companion it turns off
    ]
    curves = _rows(report_mujoco.recipe_curve_table([ppo, sac]).markdown())
    labels = sorted(r[1] for r in curves)
    # sampler=sac turns the task's companion off, so its defaults are named without it.
    assert labels == ["recipe (default) (sac sampler)", "recipe + companion (default)"]

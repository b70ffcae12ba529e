"""Reward transfer through irl-eval (irl.transfer): a tiny GAN-GCL run on the training maze,
re-optimised by ARS in the shifted maze beside the control, the recovered policy and a random
policy, all in the target, written to eval.json and a benchmark record with every field."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

import irl
import irl.demos
import irl.reopt_eval
import irl.reoptimize_ars
import irl.transfer
from irl.cli import CONF_DIR
from irl.cli.evaluate import evaluate_run
from irl.reopt_eval import PeriodicEval, ReoptTask, reopt_run, reopt_shaping, reopt_task
from irl.rollouts import random_policy, rollout
from irl.run import Run
from irl.seeding import reopt_eval_seed
from irl.transfer import transfer_dir
from irl.types import returns
from irl.validate import ConfigError, validate_eval_config
from irl_envs import make_env
from irl_envs.point_maze import GOAL, MAX_STEP, WALL_Y

SOURCE, TARGET = "irl/PointMazeLeft-v0", "irl/PointMazeRight-v0"
# What every transfer record carries (docs/transfer.md), each a finite number or a string.
FIELDS = (
    "algo",
    "seed",
    "env",
    "target_env",
    "reopt_steps",
    "reoptimized_return_mean",
    "reoptimized_return_last3_mean",
    "control_return_mean",
    "control_return_last3_mean",
    "policy_transfer_return_mean",
    "random_return_mean",
    "reoptimized_control_normalized_return",
    "return_mean",
    "normalized_return",
    "n_demos",
    "env_steps",
    "wall_clock_s",
    "epic_to_true",
    "dard_to_true",
)


def maze_policy(obs: np.ndarray) -> np.ndarray:
    """Scripted expert of the left-open maze: left along below the wall, up through the
    opening, then straight to the goal."""
    x, y = float(obs[0]), float(obs[1])
    if y < WALL_Y + 0.05:
        target = (0.1, min(y + 0.02, WALL_Y - 0.05)) if x > 0.11 else (0.1, WALL_Y + 0.1)
    else:
        target = GOAL
    return np.clip((np.asarray(target) - obs) / MAX_STEP, -1.0, 1.0).astype(np.float32)


def record_maze_demos(path: Path) -> Path:
    """Four scripted demos of the training maze (they reach the goal)."""
    meta = irl.demos.record(maze_policy, SOURCE, 4, path, random_episodes=2)
    assert meta["expert_return_mean"] > meta["random_return_mean"] + 20
    return path


@pytest.fixture(scope="module")
def maze_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    """A tiny GAN-GCL run (irl.train) on the training maze, and its directory."""
    tmp = tmp_path_factory.mktemp("transfer")
    demos = record_maze_demos(tmp / "maze.npz")
    overrides = [
        f"env.id={SOURCE}",
        "debug=tiny",
        "video.enabled=false",
        "algo.bc_warmstart_epochs=0",
        f"demo_path={demos}",
    ]
    return irl.train(overrides, run_dir=tmp / "run"), tmp / "run"


def _eval_cfg(run_dir: Path, *overrides: str) -> Any:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        return compose("eval", overrides=[f"run_dir={run_dir}", *overrides])


def test_transfer_evaluation_writes_every_field_all_in_the_target(
    maze_run: tuple[Run, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, run_dir = maze_run
    envs_built: list[str] = []  # every env the transfer's rows train or are scored in
    make = ReoptTask.make

    def spy_make(self: ReoptTask) -> Any:
        envs_built.append(self.env_id)
        return make(self)

    def spy_evaluate(module: Any) -> Any:
        inner = module.evaluate

        def evaluate(env_id: str, *args: Any, **kwargs: Any) -> np.ndarray:
            envs_built.append(env_id)
            return inner(env_id, *args, **kwargs)

        return evaluate

    monkeypatch.setattr(ReoptTask, "make", spy_make)
    for module in (irl.transfer, irl.reoptimize_ars, irl.reopt_eval):
        monkeypatch.setattr(module, "evaluate", spy_evaluate(module))
    records = tmp_path / "transfer.jsonl"
    cfg = _eval_cfg(
        run_dir,
        f"reopt_env={TARGET}",
        "reopt_algo=ars",
        "reopt_steps=3200",  # two ARS iterations of 16 maze episodes
        "reopt_eval_every=1600",
        "reopt_eval_episodes=2",
        "episodes=3",
        "random_episodes=2",
        "learned_return_episodes=2",
        "figure_episodes=2",
        "progress_bar=false",
        f"record.path={records}",
    )
    result = evaluate_run(cfg)
    assert envs_built and set(envs_built) == {TARGET}
    # learned and control: 2 ARS envs, 2 periodic evaluations and 1 final evaluation each;
    # then the recovered policy's and the random policy's evaluations.
    assert envs_built.count(TARGET) >= 2 + 2 * (2 + 1) + 2
    [record] = [json.loads(line) for line in records.read_text().splitlines()]
    saved = json.loads((run_dir / "eval.json").read_text())
    for rec in (record, saved, result):
        for key in FIELDS:
            value = rec[key]
            assert isinstance(value, str) or math.isfinite(value), (key, value)
    assert record["env"] == SOURCE and record["target_env"] == TARGET
    # The training overrides (from the run's result.json) tell the run's variant apart.
    assert "algo.bc_warmstart_epochs=0" in record["overrides"]
    assert record["cost_state_only"] is False
    assert record["suite"] == "transfer" and record["reopt_steps"] == 3200
    assert record["reoptimized_reward"] == "learned" and record["control_reward"] == "true"
    assert record["reoptimized_algo"] == record["control_algo"] == "ars"
    assert record["reoptimized_evals"] == record["control_evals"] == 2
    # A target has no expert of its own: its scores are raw returns, not expert-normalised.
    assert record["reoptimized_normalized_return"] is None
    for key in ("commit", "machine", "command"):
        assert record[key]
    # The random row is the random policy in the target on the evaluation seeds.
    env = make_env(TARGET)
    rand = returns(rollout(env, random_policy(env), 3, reopt_eval_seed(0)))
    assert record["random_return_mean"] == pytest.approx(rand.mean())
    # The zero-action row: the particle stays at the start, (0.3, 0), 0.5 from the goal.
    assert record["zero_action_return_mean"] == pytest.approx(-0.5 * 100, rel=0.02)
    assert record["zero_action_return_std"] == pytest.approx(0.0, abs=1.0)
    # The learned run and the control kept their own files under transfer/<target>/.
    out = transfer_dir(run_dir, TARGET)
    assert out == run_dir / "transfer" / "irl__PointMazeRight-v0"
    for sub in ("learned", "true"):
        evals = np.loadtxt(out / sub / "reopt_evals.csv", delimiter=",", skiprows=1, ndmin=2)
        assert evals[:, 0].tolist() == [1600.0, 3200.0]
    assert (run_dir / "reward_heatmap.png").stat().st_size > 0


def test_the_planner_re_optimises_both_rows_exactly_without_env_steps(
    maze_run: tuple[Run, Path], tmp_path: Path
) -> None:
    """reopt_algo=planner: value iteration on the learned and on the true reward in the target;
    the control plans the true reward to the goal, and the record says no env steps were used."""
    _, run_dir = maze_run
    records = tmp_path / "transfer.jsonl"
    cfg = _eval_cfg(
        run_dir,
        f"reopt_env={TARGET}",
        "reopt_algo=planner",
        "episodes=3",
        "random_episodes=2",
        "learned_return_episodes=2",
        "figures=false",
        "progress_bar=false",
        f"record.path={records}",
    )
    evaluate_run(cfg)
    [record] = [json.loads(line) for line in records.read_text().splitlines()]
    assert record["reoptimized_algo"] == record["control_algo"] == "planner"
    # A transfer target pays the learned reward without its potential (reopt_shaping=auto).
    assert record["reoptimized_shaping"] is False and record["control_shaping"] is None
    assert record["reopt_steps"] == 0
    assert record["record_key"].endswith(f":planner:unshaped:termination-floor:{TARGET}")
    assert record["defaults"] == "recipe"  # from the run's result.json: joins its train record
    assert record["control_return_mean"] > -7.0  # the maze's optimum, around the right end
    assert math.isfinite(record["reoptimized_return_mean"])


def test_shaping_is_paid_in_the_own_task_and_dropped_in_a_target_unless_asked(
    maze_run: tuple[Run, Path],
) -> None:
    run, _ = maze_run
    own, target = reopt_task(run), reopt_task(run, TARGET)
    assert reopt_shaping(own) is True and reopt_shaping(target) is False
    assert reopt_shaping(target, True) is True and reopt_shaping(own, False) is False
    with pytest.raises(ValueError, match="reopt_shaping must be auto, true or false"):
        reopt_shaping(own, "sometimes")
    assert run.reward is not None and run.reward.shaping  # as trained: with h
    unshaped = reopt_run(run, False)
    assert unshaped.reward is not None and unshaped.reward.shaping is False
    assert run.reward.shaping and reopt_run(run, True) is run  # never changed in place
    with pytest.raises(ConfigError, match="reopt_shaping='sometimes' is not allowed"):
        validate_eval_config({"reopt_reward": "learned", "reopt_shaping": "sometimes"})
    validate_eval_config({"reopt_reward": "learned", "reopt_shaping": False})


def test_a_target_with_other_shapes_or_no_registration_is_a_clear_error(
    maze_run: tuple[Run, Path],
) -> None:
    run, _ = maze_run
    with pytest.raises(ConfigError, match="shapes"):
        reopt_task(run, "Pendulum-v1")
    with pytest.raises(ConfigError, match="not a registered"):
        reopt_task(run, "irl/NoSuchMaze-v0")
    assert reopt_task(run, None).env_id == SOURCE and not reopt_task(run, SOURCE).is_target


def test_periodic_evaluation_scores_each_crossed_interval_once(tmp_path: Path) -> None:
    task = ReoptTask(TARGET)
    evals = PeriodicEval(task, every=100, episodes=2, seed=0, path=tmp_path / "e.csv")
    calls: list[int] = []

    def still(obs: np.ndarray) -> np.ndarray:
        calls.append(1)
        return np.zeros(2, np.float32)

    for steps in (50, 99, 100, 150, 350, 360, 400):
        evals(steps, still)
    evals.close()
    assert [r["env_steps"] for r in evals.rows] == [100, 350, 400]
    out = evals.summary(None)
    assert out["reoptimized_evals"] == 3 and out["reoptimized_normalized_return_last3_mean"] is None
    assert out["reoptimized_return_last3_mean"] == pytest.approx(evals.rows[0]["return_mean"])
    # Resumed at step 350: the rows up to there are kept, the later one is redone.
    again = PeriodicEval(task, 100, 2, 0, path=tmp_path / "e.csv", resume_at=350)
    assert [r["env_steps"] for r in again.rows] == [100, 350]
    again(399, still)
    assert len(again.rows) == 2
    again.close()


def test_a_cached_control_is_reused_only_for_the_same_settings_and_code(
    maze_run: tuple[Run, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """reopt_control_cache: the first transfer computes the control and keeps it; the second,
    same target, settings and code, takes it from the cache without training it (its fields
    and files as computed, the run-specific learned return left out); another budget, other
    code or a damaged entry computes it again."""
    import irl.cli.evaluate as ev
    import irl.control_cache as cc

    _, run_dir = maze_run
    trained: list[str] = []
    real = ev._reoptimize

    def counting(run: Run, cfg: Any, out_dir: Path, reward: str, env_id: str | None = None) -> Any:
        trained.append(reward)
        return real(run, cfg, out_dir, reward, env_id)

    monkeypatch.setattr(ev, "_reoptimize", counting)
    cache = tmp_path / "controls"
    common = (
        f"reopt_env={TARGET}",
        "reopt_algo=ars",
        "reopt_eval_every=1600",
        "reopt_eval_episodes=2",
        "episodes=2",
        "random_episodes=2",
        "learned_return_episodes=2",
        "figures=false",
        "progress_bar=false",
        f"reopt_control_cache={cache}",
    )

    def transfer(steps: int, *extra: str) -> dict[str, Any]:
        return dict(evaluate_run(_eval_cfg(run_dir, *common, f"reopt_steps={steps}", *extra)))

    first = transfer(3200)
    assert trained == ["learned", "true"] and first["control_cached_key"] is None
    [entry] = [p for p in cache.iterdir()]
    true_dir = transfer_dir(run_dir, TARGET) / "true"
    (true_dir / "reopt_evals.csv").unlink()
    second = transfer(3200)
    assert trained == ["learned", "true", "learned"]  # the control was not trained again
    assert second["control_cached_key"] == entry.name
    for key in ("control_return_mean", "control_return_last3_mean", "control_evals"):
        assert second[key] == first[key], key
    assert first["control_last10_learned_return"] is not None
    assert second["control_last10_learned_return"] is None  # the run that computed it
    assert (true_dir / "reopt_evals.csv").is_file()  # the control's files, copied back
    transfer(1600)  # another budget: another control
    assert trained[-2:] == ["learned", "true"] and len(list(cache.iterdir())) == 2
    transfer(3200, "torch_threads=2")  # another thread count: another control
    assert trained[-2:] == ["learned", "true"] and len(list(cache.iterdir())) == 3
    monkeypatch.setattr(cc, "source_digest", lambda paths=None: "other code")
    transfer(3200)
    assert trained[-2:] == ["learned", "true"] and len(list(cache.iterdir())) == 4
    monkeypatch.undo()
    monkeypatch.setattr(ev, "_reoptimize", counting)
    (entry / cc.FIELDS_FILE).write_text("{not json")
    again = transfer(3200)
    assert trained[-2:] == ["learned", "true"] and again["control_cached_key"] is None
    assert again["control_return_mean"] == first["control_return_mean"]  # deterministic

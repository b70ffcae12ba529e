"""The side-by-side benchmark's logic: exact step budgets, the exported actor, the ratio table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import imitation_peer  # noqa: E402
import side_by_side  # noqa: E402


@pytest.mark.parametrize(
    ("budget", "target", "expected"),
    [(300_000, 8192, 1250), (300_000, 4096, 500), (16_000, 8192, 1000), (1_000_000, 8192, 1000)],
)
def test_rollout_size_meets_the_budget_exactly(budget: int, target: int, expected: int) -> None:
    """imitation trains whole rounds: the per-env rollout must divide the budget exactly."""
    n_steps = imitation_peer.rollout_steps_per_env(budget, target)
    assert n_steps == expected
    assert budget % (n_steps * imitation_peer.N_ENVS) == 0


def test_rollout_size_without_a_divisor_is_a_clear_error() -> None:
    with pytest.raises(SystemExit, match="no rollout size divides 12 steps"):
        imitation_peer.rollout_steps_per_env(12, 8192)


def test_exported_actor_is_normalise_mlp_then_clip() -> None:
    """The numpy forward the scorer runs: (x − µ)/√(σ² + ε), hidden activations, clip to bounds."""
    rng = np.random.default_rng(0)
    tensors = {
        "obs_mean": rng.normal(size=3).astype(np.float32),
        "obs_var": rng.uniform(0.5, 2.0, size=3).astype(np.float32),
        "layer0.weight": rng.normal(size=(4, 3)).astype(np.float32),
        "layer0.bias": rng.normal(size=4).astype(np.float32),
        "layer1.weight": rng.normal(size=(2, 4)).astype(np.float32),
        "layer1.bias": rng.normal(size=2).astype(np.float32),
    }
    spec = {
        "n_layers": 2,
        "activation": "tanh",
        "obs_eps": 1e-5,
        "action_low": [-0.5, -1.0],
        "action_high": [0.5, 1.0],
    }
    obs = rng.normal(size=(5, 3))
    x = (obs - tensors["obs_mean"]) / np.sqrt(tensors["obs_var"] + 1e-5)
    h = np.tanh(x @ tensors["layer0.weight"].T + tensors["layer0.bias"])
    ref = np.clip(h @ tensors["layer1.weight"].T + tensors["layer1.bias"], [-0.5, -1], [0.5, 1])
    np.testing.assert_allclose(imitation_peer.actor_forward(tensors, spec, obs), ref, rtol=1e-6)


def _rec(
    env: str, algo: str, seed: int, score: float, speed: float, suite: str = "side-by-side-2"
) -> dict[str, object]:
    return {
        "suite": suite,
        "env": env,
        "algo": algo,
        "seed": seed,
        "env_steps": 1000,
        "budget": 1000,
        "normalized_return": score,
        "steps_per_s": speed,
        "curve_wall_clock_s": [],  # today's protocol records carry it (empty: time unknown)
    }


def test_report_gives_ratios_to_each_peer_and_na_for_a_random_level_peer(tmp_path: Path) -> None:
    path = tmp_path / "side_by_side.jsonl"
    recs = [
        _rec("Hopper-v5", "gan_gcl", 0, 0.6, 500.0),
        _rec("Hopper-v5", "gan_gcl", 1, 0.4, 700.0),
        _rec("Hopper-v5", "imitation_airl", 0, 0.01, 1200.0),  # random-level: no score ratio
        _rec("Hopper-v5", "imitation_gail", 0, 0.25, 1500.0),
        _rec("Hopper-v5", "gan_gcl", 1, 0.8, 700.0),  # a re-run replaces seed 1's record
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    rows = {line.split("|")[3].strip(): line for line in side_by_side.report(path).splitlines()[2:]}
    gan = [c.strip() for c in rows["gan_gcl"].split("|")]
    assert gan[4] == "2"  # seeds
    assert gan[5] == "1,000"  # env steps of all samplers: no companion here
    assert gan[6] == "0.70 ± 0.14"
    assert gan[7] == "600"
    assert gan[8] == "–"  # records without per-evaluation wall-clock: time to 0.9 unknown
    assert gan[9] == "n/a / 2.80"  # 0.70 / 0.25
    assert gan[10] == "0.50 / 0.40"  # 600 / 1200, 600 / 1500
    assert gan[11] == "– / –"
    assert side_by_side._done(recs, "Hopper-v5", "gan_gcl", 1, 1000)
    assert not side_by_side._done(recs, "Hopper-v5", "airl", 0, 1000)


def test_a_companion_counts_in_the_env_steps_of_all_samplers(tmp_path: Path) -> None:
    """GAN-GCL's companion samples its own rollouts on top of the loop's budget: the table shows
    both, so a 300k run with its companion reads 600,000 beside the peer's 300,000."""
    path = tmp_path / "side_by_side.jsonl"
    ours = _rec("Hopper-v5", "gan_gcl", 0, 0.9, 400.0) | {"companion_env_steps": 1000}
    peer = _rec("Hopper-v5", "imitation_gail", 0, 0.5, 900.0)
    path.write_text("".join(json.dumps(r) + "\n" for r in (ours, peer)))
    rows = {line.split("|")[3].strip(): line for line in side_by_side.report(path).splitlines()[2:]}
    assert rows["gan_gcl"].split("|")[5].strip() == "2,000"
    assert rows["imitation_gail"].split("|")[5].strip() == "1,000"
    assert side_by_side.env_steps_used(ours) == 2000


def test_todays_records_without_per_evaluation_wall_clock_are_run_again(tmp_path: Path) -> None:
    """The job's first peer runs (before time-to-0.9 was kept) are neither done nor reported:
    every record of today's protocol can give its time to 0.9."""
    path = tmp_path / "side_by_side.jsonl"
    early = _rec("Walker2d-v5", "imitation_gail", 0, 0.09, 1480.0)
    del early["curve_wall_clock_s"]
    path.write_text(json.dumps(early) + "\n")
    assert not side_by_side._done([early], "Walker2d-v5", "imitation_gail", 0, 1000)
    assert side_by_side.report(path).splitlines()[2:] == []
    timed = early | {"curve_wall_clock_s": [[1000, 60.0]], "curve": [[1000, 0.09]]}
    assert side_by_side._done([early, timed], "Walker2d-v5", "imitation_gail", 0, 1000)


def test_records_of_the_first_job_are_neither_done_nor_reported_under_todays_protocol(
    tmp_path: Path,
) -> None:
    """The first job's records (suite side-by-side, or none) stay in the file and in their own
    table; today's protocol runs its own seeds and reports only its own records."""
    path = tmp_path / "side_by_side.jsonl"
    old = _rec("Hopper-v5", "gan_gcl", 0, 0.3, 500.0, suite="side-by-side")
    older = {k: v for k, v in _rec("Hopper-v5", "airl", 0, 0.0, 500.0).items() if k != "suite"}
    new = _rec("Hopper-v5", "gail", 0, 0.9, 400.0)
    path.write_text("".join(json.dumps(r) + "\n" for r in (old, older, new)))
    recs = [old, older, new]
    assert not side_by_side._done(recs, "Hopper-v5", "gan_gcl", 0, 1000)
    assert not side_by_side._done(recs, "Hopper-v5", "airl", 0, 1000)
    assert side_by_side._done(recs, "Hopper-v5", "gan_gcl", 0, 1000, suite="side-by-side")
    assert side_by_side._done(recs, "Hopper-v5", "airl", 0, 1000, suite="side-by-side")
    assert side_by_side._done(recs, "Hopper-v5", "gail", 0, 1000)
    today = [line.split("|")[3].strip() for line in side_by_side.report(path).splitlines()[2:]]
    assert today == ["gail"]
    first = side_by_side.report(path, side_by_side.LEGACY_SUITE).splitlines()[2:]
    assert [line.split("|")[3].strip() for line in first] == ["gan_gcl", "airl"]


def test_the_v4_walker_with_v5_feet_replays_the_v5_demos_and_the_plain_v4_does_not() -> None:
    """imitation trains on gymnasium's v4 tasks: Walker2d-v4's right foot has friction 0.9 where
    v5 gives both feet 1.9. make_v4 sets it, and the shipped v5 demos then replay exactly;
    the unpatched v4 task drifts away from them within one episode."""
    import gymnasium as gym

    meta, episodes = imitation_peer.load_demo_file(ROOT / "demos" / "Walker2d-v5.npz")
    parity = imitation_peer.check_parity("Walker2d-v4", meta, episodes, n_check=1)
    assert parity["max_obs_abs_diff"] < 1e-4 and parity["rewards_compared"]
    env = gym.make("Walker2d-v4")
    ep = episodes[0]
    env.reset(seed=int(meta["seed"]))
    drift = 0.0
    for t, act in enumerate(ep["acts"][:300]):
        ob, *_ = env.step(act)
        drift = max(drift, float(np.abs(ob - ep["obs"][t + 1]).max()))
    env.close()
    assert drift > 1e-2


def test_the_v4_ant_takes_the_v5_contact_flag_and_is_checked_on_observations_only() -> None:
    """Ant-v5's include_cfrc_ext_in_observation is Ant-v4's use_contact_forces; v5 always charges
    the contact cost, so the rewards differ and only the observations must match."""
    assert imitation_peer.v4_kwargs("Ant", {"include_cfrc_ext_in_observation": False}) == {
        "use_contact_forces": False
    }
    assert imitation_peer.v4_kwargs("Hopper", {"x": 1}) == {"x": 1}
    meta, episodes = imitation_peer.load_demo_file(ROOT / "demos" / "Ant-v5.npz")
    parity = imitation_peer.check_parity("Ant-v4", meta, episodes, n_check=1)
    assert parity["max_obs_abs_diff"] < 1e-4
    assert not parity["rewards_compared"] and parity["max_reward_abs_diff"] > 1e-3


def _timed(
    algo: str, seed: int, curve: list[tuple[int, float]], walls: list[float], **extra: object
):
    rec = _rec("Walker2d-v5", algo, seed, curve[-1][1], 500.0)
    rec["curve"] = [[k, v] for k, v in curve]
    rec["curve_wall_clock_s"] = [[k, w] for (k, _), w in zip(curve, walls, strict=True)]
    return rec | extra


def test_time_to_target_is_the_wall_clock_of_the_first_evaluation_at_or_above_it() -> None:
    """The training wall-clock at the first evaluation scoring >= 0.9 (the BC warm start added
    where recorded); inf when none did, None for a record without per-evaluation wall-clock."""
    rec = _timed("gan_gcl", 0, [(20, 0.5), (40, 0.9), (60, 0.95), (80, 0.7)], [10, 25, 40, 55])
    assert side_by_side.time_to_target(rec) == 25.0
    assert side_by_side.time_to_target(rec | {"warmstart_s": 3.5}) == 28.5
    assert side_by_side.time_to_target(rec, target=0.94) == 40.0
    assert side_by_side.time_to_target(rec, target=0.99) == float("inf")
    assert side_by_side.time_to_target(_rec("Walker2d-v5", "gan_gcl", 0, 0.95, 1.0)) is None


def test_report_gives_time_to_target_and_its_ratio_or_not_reached(tmp_path: Path) -> None:
    """Mean time over the seeds that reached 0.9, with how many did, and ratios to each peer;
    a peer that never reached it is a result, not a blank."""
    path = tmp_path / "side_by_side.jsonl"
    recs = [
        _timed("gan_gcl", 0, [(20, 0.95), (40, 0.97)], [100, 200]),
        _timed("gan_gcl", 1, [(20, 0.5), (40, 0.92)], [100, 300], warmstart_s=20.0),
        _timed("gan_gcl", 2, [(20, 0.5), (40, 0.6)], [100, 200]),
        _timed("imitation_airl", 0, [(20, 0.2), (40, 0.5)], [50, 90]),
        _timed("imitation_gail", 0, [(20, 0.91), (40, 0.93)], [40, 80]),
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    rows = {line.split("|")[3].strip(): line for line in side_by_side.report(path).splitlines()[2:]}
    gan = [c.strip() for c in rows["gan_gcl"].split("|")]
    assert gan[8] == "210 s (2/3)"  # (100 + 320) / 2
    assert gan[11] == "imitation not reached / 5.25"  # 210 / 40
    airl = [c.strip() for c in rows["imitation_airl"].split("|")]
    assert airl[8] == "not reached (0/1)"
    assert airl[11] == "neither reached / not reached"


def test_peer_records_count_only_on_the_demos_irl_train_draws_for_the_task(tmp_path: Path) -> None:
    """Today's protocol draws the peer's demos from the episodes the task's configuration trains
    on (Ant: the expert's episodes that never fell): an Ant peer record from before, drawn from
    all episodes, is neither done nor reported; Walker2d's draws from all, so its record stays."""
    assert side_by_side.task_demo_episodes("Ant-v5") == "not_terminated"
    assert side_by_side.task_demo_episodes("Walker2d-v5") == "all"
    old_ant = _rec("Ant-v5", "imitation_gail", 0, -0.4, 600.0)
    ant = old_ant | {"demo_episodes": "not_terminated"}
    walker = _rec("Walker2d-v5", "imitation_gail", 0, 0.1, 1500.0)
    assert not side_by_side.same_demos(old_ant)
    assert side_by_side.same_demos(ant) and side_by_side.same_demos(walker)
    assert not side_by_side._done([old_ant], "Ant-v5", "imitation_gail", 0, 1000)
    assert side_by_side._done([ant], "Ant-v5", "imitation_gail", 0, 1000)
    path = tmp_path / "side_by_side.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (old_ant, walker)))
    table = side_by_side.report(path)
    assert "Walker2d-v5" in table and "Ant-v5" not in table


def test_verdict_marks_where_gan_gcl_is_below_imitations_best_at_budget_and_at_equal_steps(
    tmp_path: Path,
) -> None:
    """Per task and budget: GAN-GCL's mean against the better of imitation's AIRL and GAIL, at
    the same budget and at GAN-GCL's env steps of all samplers (the peer's longer run's curve)."""
    path = tmp_path / "side_by_side.jsonl"
    ours = [
        _rec("Hopper-v5", "gan_gcl", s, v, 400.0) | {"companion_env_steps": 1000}
        for s, v in ((0, 0.5), (1, 0.7))
    ]
    peers = [
        _rec("Hopper-v5", "imitation_airl", 0, 0.2, 900.0),
        _rec("Hopper-v5", "imitation_gail", 0, 0.4, 900.0),
        # imitation's GAIL at twice the budget: 0.9 at 2,000 steps, where GAN-GCL used 2,000
        _rec("Hopper-v5", "imitation_gail", 0, 0.95, 900.0)
        | {"budget": 4000, "env_steps": 4000, "curve": [[2000, 0.9], [4000, 0.95]]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in (*ours, *peers)))
    rows = side_by_side.verdict(path).splitlines()[2:]
    assert len(rows) == 1  # no GAN-GCL record at 4,000: no row
    cells = [c.strip() for c in rows[0].split("|")[1:-1]]
    assert cells == [
        "Hopper-v5",
        "1,000",
        "0.60 (2 seeds)",
        "0.40 (imitation_gail)",
        "at least (+0.20)",
        "2,000",
        "0.90 (imitation_gail)",
        "**below** (-0.30)",
    ]


def test_verdict_prints_a_shortfalls_write_up_only_while_that_row_is_below(
    tmp_path: Path,
) -> None:
    """A write-up for (task, budget) follows the table while GAN-GCL is below imitation's best at
    that budget, and is left out once it is not (below only at equal steps does not count)."""
    path = tmp_path / "side_by_side.jsonl"
    ours = [_rec("Hopper-v5", "gan_gcl", 0, 0.6, 400.0) | {"companion_env_steps": 1000}]
    why = {("Hopper-v5", 1000): "Why: docs.", ("Ant-v5", 1000): "Never shown."}
    path.write_text(
        "".join(
            json.dumps(r) + "\n"
            for r in (*ours, _rec("Hopper-v5", "imitation_airl", 0, 0.4, 900.0))
        )
    )
    assert side_by_side.verdict(path, explained=why) == side_by_side.verdict(path)
    path.write_text(
        "".join(
            json.dumps(r) + "\n"
            for r in (*ours, _rec("Hopper-v5", "imitation_airl", 0, 0.8, 900.0))
        )
    )
    text = side_by_side.verdict(path, explained=why)
    assert text == side_by_side.verdict(path) + "\n\nWhy: docs."
    assert "**below** (-0.20)" in text


def test_bc_runs_once_per_task_and_seed_and_is_a_row_under_every_budget(tmp_path: Path) -> None:
    """BC uses no env steps: one record (budget 0) is done for every budget and is reported
    under each, with no env steps/s ratio."""
    path = tmp_path / "side_by_side.jsonl"
    bc = _rec("Hopper-v5", "bc", 0, 0.2, 0.0) | {"budget": 0, "env_steps": 0}
    recs = [
        bc,
        _rec("Hopper-v5", "gan_gcl", 0, 0.9, 400.0),
        _rec("Hopper-v5", "gan_gcl", 0, 0.95, 400.0) | {"budget": 4000, "env_steps": 4000},
        _rec("Hopper-v5", "imitation_gail", 0, 0.4, 900.0),
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert side_by_side._done(recs, "Hopper-v5", "bc", 0, 1000)
    assert side_by_side._done(recs, "Hopper-v5", "bc", 0, 4000)
    assert not side_by_side._done(recs, "Hopper-v5", "bc", 1, 1000)
    rows = [[c.strip() for c in line.split("|")] for line in side_by_side.report(path).splitlines()]
    bc_rows = [r for r in rows[2:] if r[3] == "bc"]
    assert [r[2] for r in bc_rows] == ["1,000", "4,000"]
    assert all(r[5] == "0" and r[6] == "0.20" and r[7] == "–" for r in bc_rows)
    assert bc_rows[0][9] == "– / 0.50"  # no imitation AIRL; 0.2 / imitation GAIL's 0.4
    assert bc_rows[0][10] == "– / –"

"""The cost-ranking benchmark: its standing controller and its agreement measures."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from irl.rollouts import rollout
from irl_envs import make_env

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import cost_ranking  # noqa: E402
from test_train import constant_cost_run  # noqa: E402


def test_hold_controller_stands_hopper_still_for_the_whole_episode() -> None:
    """Hopper pays 1 per healthy step: standing 1000 steps in place earns about 1000."""
    env = make_env("Hopper-v5")
    try:
        (traj,) = rollout(env, cost_ranking.hold_policy(env), 1, 0)
    finally:
        env.close()
    assert len(traj.acts) == 1000 and not traj.terminated[-1]
    assert float(np.sum(traj.rews)) == pytest.approx(1000.0, abs=10.0)


def test_a_cost_that_prices_the_stop_ranks_behaviours_by_survival(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """c ≡ 1 per step and 2 per absorbing step: the learned return rises with the length, as
    InvertedPendulum's true return does, so both orders agree exactly."""
    run = constant_cost_run(tmp_path, absorbing=2.0)
    monkeypatch.setattr(cost_ranking, "load_run", lambda _run_dir: run)
    rec = cost_ranking.rank_costs(tmp_path, episodes=2)
    assert (rec["env"], rec["algo"], rec["sampler"], rec["seed"]) == (
        "InvertedPendulum-v5",
        "gan_gcl",
        "ppo",
        0,
    )
    assert rec["length_demos"] == 1000 and rec["length_zero"] < 1000
    for b in cost_ranking.BEHAVIOURS:
        # −(len + 2·(1000 − len)) undiscounted: below −1000 for an episode that drops the pole.
        assert rec[f"learned_return_{b}"] <= -1000.0 + 1e-9
    assert rec["learned_return_demos"] == pytest.approx(-1000.0)
    assert rec["episode_spearman"] == pytest.approx(1.0)
    assert rec["pairs_in_true_order"] == 1.0


def test_the_termination_floor_turns_a_cost_that_pays_the_stop_into_one_that_charges_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """c ≡ 1 per step, c_abs = 0.25: as learned, dropping the pole early collects more learned
    return than the demos' −1000; priced at a floor of 2 (the reward load_run hands out when
    its demos' costliest step costs 2), the order is the true one again."""
    run = constant_cost_run(tmp_path)
    assert run.cost is not None and run.reward is not None
    monkeypatch.setattr(run.cost, "absorbing_cost", lambda: torch.tensor(0.25, dtype=torch.float64))
    run.reward.termination_floor = 2.0
    monkeypatch.setattr(cost_ranking, "load_run", lambda _run_dir: run)
    floored = cost_ranking.rank_costs(tmp_path, episodes=2)
    assert floored["termination_floor"] == 2.0
    assert floored["learned_return_zero"] < floored["learned_return_demos"] == -1000.0
    assert floored["pairs_in_true_order"] == 1.0
    learned = cost_ranking.rank_costs(tmp_path, episodes=2, termination_price="learned")
    assert learned["termination_floor"] is None
    assert learned["learned_return_zero"] > learned["learned_return_demos"] == -1000.0
    assert learned["pairs_in_true_order"] < 1.0


def test_a_probe_actor_is_scored_beside_the_five_and_left_out_of_the_pairs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--probe: a saved PPO actor's episodes are scored by the same learned return (c ≡ 1 per
    step, 2 per absorbing step: −(len + 2·(1000 − len))), recorded as the probe, and kept out of
    the correlations and the pairs, which stay those of the five behaviours."""
    from safetensors.torch import save_file
    from stable_baselines3 import PPO

    run = constant_cost_run(tmp_path, absorbing=2.0)
    monkeypatch.setattr(cost_ranking, "load_run", lambda _run_dir: run)
    torch.manual_seed(0)
    env = make_env("InvertedPendulum-v5")
    model = PPO("MlpPolicy", env, policy_kwargs={"net_arch": {"pi": [8, 8], "vf": [8, 8]}})
    with torch.no_grad():
        model.policy.action_net.bias.fill_(3.0)  # full push one way: the pole falls at once
    env.close()
    actor = tmp_path / "reopt_actor.safetensors"
    save_file({k: v.contiguous() for k, v in model.policy.state_dict().items()}, str(actor))
    plain = cost_ranking.rank_costs(tmp_path, episodes=2)
    rec = cost_ranking.rank_costs(tmp_path, episodes=2, probe=actor, probe_net_arch=(8, 8))
    assert rec["probe_actor"] == str(actor)
    n = rec["length_probe"]
    assert n < 100  # it drops the pole
    assert rec["learned_return_probe"] == pytest.approx(-(n + 2.0 * (1000 - n)))
    # InvertedPendulum-v5 pays 1 per step, 0 for the step that drops the pole
    assert rec["true_return_probe"] == pytest.approx(n - 1)
    for key in ("episode_spearman", "episode_pearson", "pairs_in_true_order"):
        assert rec[key] == pytest.approx(plain[key])
    with pytest.raises(SystemExit, match="no such actor file"):
        cost_ranking.main([str(tmp_path), "--probe", str(tmp_path / "none")])


def test_a_target_env_runs_the_behaviours_there_and_keeps_the_source_demos_out_of_the_pairs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    record_targets: Callable[[ModuleType, str], list[str]],
) -> None:
    """--env: every policy runs in the named target (here recorded through reopt_task), the
    record names it, and the source's demos stay in the record but out of the four behaviours'
    six pairs and their correlations."""
    run = constant_cost_run(tmp_path, absorbing=2.0)
    monkeypatch.setattr(cost_ranking, "load_run", lambda _run_dir: run)
    made = record_targets(cost_ranking, "InvertedPendulum-v5")
    pooled: list[int] = []
    real_correlations = cost_ranking.correlations

    def counting_correlations(learned: np.ndarray, true: np.ndarray) -> dict[str, float]:
        pooled.append(len(learned))
        return real_correlations(learned, true)

    monkeypatch.setattr(cost_ranking, "correlations", counting_correlations)
    rec = cost_ranking.rank_costs(tmp_path, episodes=2, env_id="irl/Target-v0")
    assert made == ["irl/Target-v0"] and rec["target_env"] == "irl/Target-v0"
    assert rec["learned_return_demos"] == pytest.approx(-1000.0)  # still recorded
    # Four behaviours of 2 episodes each are pooled, not five: the demos are left out.
    assert pooled == [8]
    plain = cost_ranking.rank_costs(tmp_path, episodes=2)
    assert plain["target_env"] is None and pooled == [8, 10]
    assert made[-1] == "InvertedPendulum-v5"  # the run's own task

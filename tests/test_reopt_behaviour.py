"""benchmarks/reopt_behaviour.py: a saved PPO actor's behaviour, its return split into parts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import reopt_behaviour  # noqa: E402

from irl_envs import make_env  # noqa: E402


def _actor(tmp_path: Path, env_id: str, arch: tuple[int, ...] = (8, 8)) -> Path:
    """A fresh PPO policy whose mean action is about 0.5 on every motor (its output layer is
    initialised near zero, its bias set), saved as irl-eval saves its re-optimised actor."""
    from stable_baselines3 import PPO

    torch.manual_seed(0)
    env = make_env(env_id)
    model = PPO("MlpPolicy", env, policy_kwargs={"net_arch": {"pi": list(arch), "vf": list(arch)}})
    with torch.no_grad():
        model.policy.action_net.bias.fill_(0.5)
    path = tmp_path / "reopt_actor.safetensors"
    save_file({k: v.contiguous() for k, v in model.policy.state_dict().items()}, str(path))
    env.close()
    return path


def test_the_return_splits_into_the_envs_reward_parts_and_actions_are_measured(
    tmp_path: Path,
) -> None:
    path = _actor(tmp_path, "Hopper-v5")
    out = tmp_path / "b.jsonl"
    reopt_behaviour.main(
        [str(path), "--env", "Hopper-v5", "--episodes", "2", "--net-arch", "8,8", "--out", str(out)]
    )
    [rec] = [json.loads(line) for line in out.read_text().splitlines()]
    parts = rec["reward_parts"]
    assert set(parts) >= {"reward_forward", "reward_ctrl", "reward_survive"}
    assert sum(parts.values()) == pytest.approx(rec["true_return_mean"], abs=1e-6)
    assert len(rec["action_sq_mean_per_motor"]) == 3
    assert rec["action_sq_mean_per_motor"] == pytest.approx([0.25] * 3, abs=0.02)
    # Hopper's control cost is 1e-3 · Σ a² per step: the same actions, measured by the env
    ctrl = -parts["reward_ctrl"] / 1e-3 / rec["episode_length_mean"]
    assert ctrl == pytest.approx(sum(rec["action_sq_mean_per_motor"]), rel=0.05)
    assert np.isfinite(rec["x_displacement_mean"])
    assert 0.5 < rec["torso_height_mean"] < 1.4  # Hopper's torso starts at 1.25
    assert rec["command"].startswith("python benchmarks/reopt_behaviour.py")


def test_an_actor_of_another_shape_is_one_clear_error(tmp_path: Path) -> None:
    path = _actor(tmp_path, "Hopper-v5", arch=(4,))
    with pytest.raises(SystemExit, match="not a PPO actor of net_arch"):
        reopt_behaviour.main([str(path), "--env", "Hopper-v5", "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit, match="--env-kwargs is not JSON"):
        reopt_behaviour.main([str(path), "--env", "Hopper-v5", "--env-kwargs", "{x"])
    with pytest.raises(SystemExit, match="no such actor file"):
        reopt_behaviour.main([str(tmp_path / "none"), "--env", "Hopper-v5"])

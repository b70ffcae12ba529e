"""Suite-wide settings: one torch thread (small nets on a shared CPU slow down 10-46x with more)."""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
import torch

from irl.reopt_eval import ReoptTask

os.environ.setdefault("MUJOCO_GL", "egl")
torch.set_num_threads(1)


@pytest.fixture
def record_targets(
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[ModuleType, str], list[str]]:
    """``install(module, build_as)``: replace ``module.reopt_task`` (how the benchmark scripts
    build a transfer target, or the run's own task) with one that records the env id asked for
    and builds ``build_as`` instead, a stand-in for a target the test does not register; returns
    the list the ids are recorded in."""

    def install(module: ModuleType, build_as: str) -> list[str]:
        made: list[str] = []

        def task(run: Any, env_id: str | None = None) -> ReoptTask:
            made.append(env_id or run.env_id)
            return ReoptTask(build_as, dict(run.env_kwargs))

        monkeypatch.setattr(module, "reopt_task", task)
        return made

    return install

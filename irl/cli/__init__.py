"""Console entry points (Hydra apps). Configs live in ``irl/conf/`` (shipped as package data)."""

from __future__ import annotations

from pathlib import Path

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
# irl-ebm's keys `sampler` and `dataset` are plain values, but `sampler` is also a config group
# of irl-train in CONF_DIR (Hydra would read `sampler=flow` as a group choice), so the EBM app
# keeps its config in its own directory.
EBM_CONF_DIR = str(Path(CONF_DIR) / "ebm")

"""Console entry points (Hydra apps). Configs live in ``irl/conf/`` (shipped as package data)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from irl.paths import safe_name

# `${safe_name:${env.id}}` in the configs' run directories: any env id as one directory name.
if not OmegaConf.has_resolver("safe_name"):
    OmegaConf.register_new_resolver("safe_name", safe_name)

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
# irl-ebm's keys `sampler` and `dataset` are plain values, but `sampler` is also a config group
# of irl-train in CONF_DIR (Hydra would read `sampler=flow` as a group choice), so the EBM app
# keeps its config in its own directory.
EBM_CONF_DIR = str(Path(CONF_DIR) / "ebm")

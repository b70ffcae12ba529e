"""Console entry points (Hydra apps). Configs live in the top-level ``conf/`` folder."""

from __future__ import annotations

from pathlib import Path

CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")

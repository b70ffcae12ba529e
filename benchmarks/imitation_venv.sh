#!/usr/bin/env bash
# The `imitation` library's own virtual environment for benchmarks/side_by_side.py.
# imitation 1.0.1 pins gymnasium ~0.29 and stable-baselines3 ~2.2, which cannot share a venv with
# ours (gymnasium 1.x, for the v5 MuJoCo tasks). torch is the same local CPU build as ours and is
# installed first (plain `torch` would pull CUDA wheels); mujoco is pinned to our version so both
# sides simulate with the same engine (imitation_peer.py checks the demos replay exactly).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv-imitation}
MUJOCO_VERSION=$(.venv/bin/python -c 'import mujoco; print(mujoco.__version__)')
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet torch==2.13.0
"$VENV/bin/pip" install --quiet imitation==1.0.1 "mujoco==$MUJOCO_VERSION" imageio safetensors
"$VENV/bin/python" -c 'import imitation, gymnasium, stable_baselines3 as sb3; print("imitation", imitation.__version__, "gymnasium", gymnasium.__version__, "sb3", sb3.__version__)'

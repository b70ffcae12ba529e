"""Suite-wide settings: one torch thread (small nets on a shared CPU slow down 10-46x with more)."""

from __future__ import annotations

import os

import torch

os.environ.setdefault("MUJOCO_GL", "egl")
torch.set_num_threads(1)

"""irl: maximum-entropy inverse reinforcement learning (GCL, GAN-GCL, AIRL, GAIL) in PyTorch."""

__version__ = "0.1.0"

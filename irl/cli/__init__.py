"""Console entry points (Hydra apps)."""

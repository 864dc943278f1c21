"""xner export: turn public checkpoints into a bundle (may use torch; never imported at run time)."""

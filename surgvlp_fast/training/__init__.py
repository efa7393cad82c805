"""Pretraining: the config-driven trainer, level schedules, distributed / SLURM environment,
checkpoints and logs (docs/training.md)."""

"""Scaling a search out with keras-tuner's chief and workers: launched, watched and stopped
together."""

from tuner.distributed.launcher import launch, run_distributed

__all__ = [
    "launch",
    "run_distributed",
]

"""The interface every pruner implements, like Optuna's ``BasePruner``: the trainer asks it after
each epoch and after each fold whether the trial should stop, and records its answer as the reason."""

from __future__ import annotations

import abc
from collections.abc import Sequence

__all__ = ["BasePruner"]


class BasePruner(abc.ABC):
    """Decides whether a trial stops early. An answer of None goes on; a string stops the trial and
    says why (``whole_reason``: as it is; otherwise the trainer prefixes where it stopped)."""

    whole_reason: bool = False

    @abc.abstractmethod
    def stop_after_epoch(self, fold: int, epoch: int, best_so_far: float) -> str | None:
        """After ``epoch`` (1-based) of ``fold`` (0-based), with the fold's best accuracy so far."""

    @abc.abstractmethod
    def stop_after_fold(self, fold_scores: Sequence[float]) -> str | None:
        """After a fold, with the accuracy of every fold finished so far."""

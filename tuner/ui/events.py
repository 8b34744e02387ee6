"""Progress events: the search and the export report what they do; a reporter decides how to show it.

``Reporter`` does nothing; ``tuner.ui.reporters`` has the terminal ones (rich progress bars, or one plain
line per event where output is not a terminal). Keeping the events here keeps display code out of
the tuner.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["Reporter", "RelayReporter", "Eta"]


class Reporter:
    """Receives progress events; every method is optional (the base class ignores them all)."""

    def search_begin(self, *, name: str, max_trials: int, done: int, folds: int) -> None: ...

    def time_budget(self, *, minutes: float) -> None:
        """The search starts no trial that would end past ``minutes`` from now (sent after
        ``search_begin`` when the search has a time budget)."""

    def trial_begin(self, *, trial_id: str, values: dict[str, Any], best: float | None) -> None: ...

    def fold_begin(self, *, fold: int, folds: int, epochs: int, first_epoch: int = 0) -> None:
        """A fold starts training at ``first_epoch`` (0, or the epochs its screen trained)."""

    def epoch_end(self, *, epoch: int, epochs: int, logs: dict[str, float]) -> None: ...

    def fold_end(self, *, fold: int, val_accuracy: float, seconds: float) -> None: ...

    def trial_end(self, record) -> None: ...

    def search_end(self, records) -> None: ...

    def retrain_begin(self, *, trial_id: str, epochs: int, images: int) -> None: ...

    def retrain_end(self, *, seconds: float) -> None: ...

    def message(self, text: str) -> None: ...

    def close(self) -> None:
        """Called once at the end, also after an error or Ctrl-C."""


class RelayReporter(Reporter):
    """A reporter in a trial's process: each event goes to ``send(name, fields)``, and the
    parent calls the same method of its own reporter (``replay``). One protocol, two processes."""

    RELAYED = ("fold_begin", "epoch_end", "fold_end", "message")

    def __init__(self, send: Callable[[str, dict[str, Any]], None]):
        self._send = send

    def fold_begin(self, **fields) -> None:
        self._send("fold_begin", fields)

    def epoch_end(self, **fields) -> None:
        self._send("epoch_end", fields)

    def fold_end(self, **fields) -> None:
        self._send("fold_end", fields)

    def message(self, text: str) -> None:
        self._send("message", {"text": text})

    @classmethod
    def replay(cls, reporter: Reporter, name: str, fields: dict[str, Any]) -> None:
        """Calls ``reporter``'s method for a relayed event."""
        if name not in cls.RELAYED:
            raise ValueError(f"not a relayed progress event: {name!r}")
        getattr(reporter, name)(**fields)


class Eta:
    """Time left for the epoch bar, the fold, the trial and the search, from measured epoch times.

    Fed the same events as a ``Reporter``; known from the first finished epoch. An epoch is
    expected to take as long as this trial's epochs so far (configurations differ several-fold),
    and a trial not started yet as long as the search's average epoch times its epochs and
    folds. Pruned or early-stopped trials end sooner than this says: it is an upper estimate.
    ``clock`` is seconds, monotonic (tests give a fake one).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.max_trials = self.done = 0
        self.folds = self.fold = self.epochs = self.epoch = 0
        self.last: float | None = None  # when the last epoch (or the fold) ended or began
        self.trial_seconds = self.trial_epochs = 0.0  # epochs timed in this trial
        self.search_seconds = self.search_epochs = 0.0  # ... in the whole search (this process)
        self.budget_end: float | None = None  # clock time after which no trial starts

    def search_begin(self, *, max_trials: int, done: int, folds: int) -> None:
        self.max_trials, self.done, self.folds = max_trials, done, folds

    def time_budget(self, *, minutes: float) -> None:
        self.budget_end = self.clock() + 60 * minutes

    def trial_begin(self) -> None:
        self.trial_seconds = self.trial_epochs = 0.0

    def fold_begin(self, *, fold: int, folds: int, epochs: int, first_epoch: int = 0) -> None:
        self.fold, self.folds, self.epochs, self.epoch = fold, folds, epochs, first_epoch
        self.last = self.clock()

    def epoch_end(self, *, epoch: int, epochs: int) -> None:
        now = self.clock()
        if self.last is not None and epoch > self.epoch:
            took = now - self.last
            self.trial_seconds += took
            self.trial_epochs += epoch - self.epoch
            self.search_seconds += took
            self.search_epochs += epoch - self.epoch
        self.epoch, self.epochs, self.last = epoch, epochs, now

    def trial_end(self) -> None:
        self.done += 1

    @property
    def per_epoch(self) -> float | None:
        """Seconds an epoch of the running trial is expected to take (None: nothing timed)."""
        if self.trial_epochs:
            return self.trial_seconds / self.trial_epochs
        if self.search_epochs:
            return self.search_seconds / self.search_epochs
        return None

    def epochs_left(self) -> float | None:
        """Seconds to the end of this fold's epochs."""
        per = self.per_epoch
        return None if per is None else per * max(self.epochs - self.epoch, 0)

    def fold_left(self) -> float | None:
        """Seconds to the end of this trial's folds."""
        per, left = self.per_epoch, self.epochs_left()
        if per is None or left is None:
            return None
        return left + per * self.epochs * max(self.folds - self.fold - 1, 0)

    def search_left(self) -> float | None:
        """Seconds to the end of the search's trials, this one included; with a time budget,
        at most to the budget's end (no trial starts that would end past it), or to this
        trial's end if that is later."""
        left = self.fold_left()
        if left is None or not self.search_epochs:
            return left
        average = self.search_seconds / self.search_epochs
        to_come = max(self.max_trials - self.done - 1, 0)
        total = left + average * self.epochs * self.folds * to_come
        if self.budget_end is not None:
            total = min(total, max(left, self.budget_end - self.clock()))
        return total

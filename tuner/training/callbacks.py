"""The Keras callbacks a fold trains with: progress events, the time budget's deadline, the pruning
rule after each epoch, and the clock of the validation passes."""

from __future__ import annotations

import math
import time

from tuner.backend import keras

from tuner import faults
from tuner.pruners.base import BasePruner
from tuner.ui.events import Reporter

__all__ = ["EpochEvents", "Deadline", "EpochPruning", "ValidationClock", "EpochClock"]


class EpochEvents(keras.callbacks.Callback):
    """Forwards epoch ends to ``reporter`` and stops training after an epoch whose loss is not
    finite.

    It acts at epoch ends only: a callback with a per-batch hook (``keras.callbacks.TerminateOnNaN``)
    makes Keras hand the logs to Python after every step, which costs about a tenth of the
    throughput of small CNNs on a 2-core CPU.
    """

    def __init__(self, reporter: Reporter, epochs: int):
        super().__init__()
        self.reporter, self.epochs = reporter, epochs

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        self.reporter.epoch_end(epoch=epoch + 1, epochs=self.epochs, logs=logs)
        faults.point("epoch_end")
        if not math.isfinite(logs.get("loss", 0.0)):
            self.model.stop_training = True


class Deadline(keras.callbacks.Callback):
    """Stops training after the first epoch that ends past ``deadline`` (time.monotonic), or,
    with ``ahead``, after the last epoch that the next one, as long as this one, would end
    past it (a final model under a run budget: it ends in time even when the host slows),
    never before ``at_least`` epochs."""

    def __init__(self, deadline: float, ahead: bool = False, at_least: int = 0):
        super().__init__()
        self.deadline, self.ahead, self.at_least = deadline, ahead, at_least
        self.stopped_after = None
        self.epoch_started = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        now = time.monotonic()
        if epoch + 1 < self.at_least:
            return
        if now + (now - self.epoch_started if self.ahead else 0.0) > self.deadline:
            self.stopped_after = epoch + 1
            self.model.stop_training = True


class EpochPruning(keras.callbacks.Callback):
    """Stops training after an epoch that the pruner rejects (``reason`` says why)."""

    def __init__(self, pruner: BasePruner, fold: int, best: float = 0.0):
        """``best``: the fold's best validation accuracy before this fit (its screen's epochs)."""
        super().__init__()
        self.pruner, self.fold, self.reason, self.best = pruner, fold, None, best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get("val_accuracy")
        if value is None:
            return
        self.best = max(self.best, float(value))
        self.reason = self.pruner.stop_after_epoch(self.fold, epoch + 1, self.best)
        if self.reason is not None:
            self.model.stop_training = True


class ValidationClock(keras.callbacks.Callback):
    """Adds up the wall time of ``fit``'s validation passes (``on_test_begin`` to ``on_test_end``,
    which ``fit`` calls around each one)."""

    def __init__(self):
        super().__init__()
        self.seconds, self._started = 0.0, None

    def on_test_begin(self, logs=None):
        self._started = time.perf_counter()

    def on_test_end(self, logs=None):
        if self._started is not None:
            self.seconds += time.perf_counter() - self._started
            self._started = None


class EpochClock(keras.callbacks.Callback):
    """The wall time of each epoch of ``fit`` (``seconds``, in order), its validation pass
    included."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._started)

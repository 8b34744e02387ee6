"""Progress events: the search and the export report what they do; a reporter decides how to show it.

``Reporter`` does nothing; ``tuner.render`` has the terminal ones (rich progress bars, or one plain
line per event where output is not a terminal). Keeping the events here keeps display code out of
the tuner.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Reporter", "epoch_callback"]


class Reporter:
    """Receives progress events; every method is optional (the base class ignores them all)."""

    def search_begin(self, *, name: str, max_trials: int, done: int, folds: int) -> None: ...

    def trial_begin(self, *, trial_id: str, values: dict[str, Any], best: float | None) -> None: ...

    def fold_begin(self, *, fold: int, folds: int, epochs: int) -> None: ...

    def epoch_end(self, *, epoch: int, epochs: int, logs: dict[str, float]) -> None: ...

    def fold_end(self, *, fold: int, val_accuracy: float, seconds: float) -> None: ...

    def trial_end(self, record) -> None: ...

    def search_end(self, records) -> None: ...

    def retrain_begin(self, *, trial_id: str, epochs: int, images: int) -> None: ...

    def retrain_end(self, *, seconds: float) -> None: ...

    def message(self, text: str) -> None: ...

    def close(self) -> None:
        """Called once at the end, also after an error or Ctrl-C."""


def epoch_callback(reporter: Reporter, epochs: int):
    """A Keras callback that forwards epoch ends to ``reporter`` and stops training after an epoch
    whose loss is not finite (Keras imported only here).

    It acts at epoch ends only: a callback with a per-batch hook (``keras.callbacks.TerminateOnNaN``)
    makes Keras hand the logs to Python after every step, which cost about 10 % of the
    throughput of small CNNs on a 2-core CPU.
    """
    import math

    import keras

    from tuner import faults

    class EpochCallback(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items()}
            reporter.epoch_end(epoch=epoch + 1, epochs=epochs, logs=logs)
            faults.point("epoch_end")
            if not math.isfinite(logs.get("loss", 0.0)):
                self.model.stop_training = True

    return EpochCallback()

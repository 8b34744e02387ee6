"""The Deadline callback: a final model under a run budget ends in time, never too short."""

from __future__ import annotations

from types import SimpleNamespace

import tuner.training.callbacks as callbacks
from tuner.training.callbacks import Deadline


def _epochs(stop: Deadline, clock: list[float], seconds: float, epochs: int) -> int:
    """Runs ``epochs`` epochs of ``seconds`` each on a fake clock; returns how many ran."""
    stop.set_model(SimpleNamespace(stop_training=False))
    for epoch in range(epochs):
        stop.on_epoch_begin(epoch)
        clock[0] += seconds
        stop.on_epoch_end(epoch)
        if stop.model.stop_training:
            return epoch + 1
    return epochs


def test_ahead_it_stops_before_an_epoch_that_would_end_past_the_deadline(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(callbacks.time, "monotonic", lambda: clock[0])
    # 10 s epochs, deadline at 55 s: epoch 5 ends at 50, a sixth would end at 60
    assert _epochs(Deadline(55.0, ahead=True), clock, 10.0, 40) == 5
    clock[0] = 0.0
    assert _epochs(Deadline(55.0), clock, 10.0, 40) == 6  # without ahead: the first past it
    clock[0] = 0.0
    assert _epochs(Deadline(0.0, ahead=True, at_least=6), clock, 10.0, 40) == 6  # never fewer
    clock[0] = 0.0
    assert _epochs(Deadline(1e9, ahead=True), clock, 10.0, 40) == 40  # in time: every epoch

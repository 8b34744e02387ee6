"""Progress events and the time-left estimate (tuner.ui.events), on a fake clock."""

from __future__ import annotations

import pytest

from tuner.ui.events import Eta
from tuner.ui.formats import format_eta


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def started(max_trials: int, folds: int, epochs: int) -> tuple[Clock, Eta]:
    """An estimate on a fake clock, at the start of the first fold of the first trial."""
    clock = Clock()
    eta = Eta(clock)
    eta.search_begin(max_trials=max_trials, done=0, folds=folds)
    eta.trial_begin()
    eta.fold_begin(fold=0, folds=folds, epochs=epochs)
    return clock, eta


def test_time_left_is_unknown_until_an_epoch_is_timed():
    _, eta = started(max_trials=3, folds=2, epochs=4)
    assert eta.epochs_left() is None and eta.fold_left() is None and eta.search_left() is None
    assert format_eta(eta.search_left()) == "-:--"


def test_time_left_follows_measured_epoch_times():
    clock, eta = started(max_trials=3, folds=2, epochs=4)
    clock.now += 6.0
    eta.epoch_end(epoch=1, epochs=4)
    assert eta.epochs_left() == pytest.approx(3 * 6.0)
    assert eta.fold_left() == pytest.approx(3 * 6.0 + 4 * 6.0)  # and the next fold's 4 epochs
    assert eta.search_left() == pytest.approx(42.0 + 2 * 8 * 6.0)  # and 2 trials of 2 x 4 epochs
    clock.now += 2.0  # a faster epoch: the estimate follows this trial's mean (4 s)
    eta.epoch_end(epoch=2, epochs=4)
    assert eta.epochs_left() == pytest.approx(2 * 4.0)


def test_a_time_budget_caps_the_search_left_but_not_the_running_trial():
    """No trial starts that would end past the budget: 14 trials of 40 s with a 2-minute budget
    leave about the budget, not 9 minutes; a trial running past it still counts whole."""
    clock, eta = started(max_trials=14, folds=2, epochs=4)
    eta.time_budget(minutes=2)
    clock.now += 5.0
    eta.epoch_end(epoch=1, epochs=4)
    assert eta.fold_left() == pytest.approx(35.0)
    assert eta.search_left() == pytest.approx(115.0)  # the budget's end, not 35 + 13 x 40
    clock.now += 200.0  # one slow epoch: this trial now ends past the budget
    eta.epoch_end(epoch=2, epochs=4)
    assert eta.search_left() == pytest.approx(eta.fold_left()) and eta.fold_left() > 0


def test_a_new_trial_uses_its_own_epochs_once_timed():
    """Configurations differ several-fold in speed: a trial's own epochs set its time left."""
    clock, eta = started(max_trials=2, folds=1, epochs=2)
    for epoch in (1, 2):
        clock.now += 10.0
        eta.epoch_end(epoch=epoch, epochs=2)
    eta.trial_end()
    eta.trial_begin()
    eta.fold_begin(fold=0, folds=1, epochs=2)
    assert eta.fold_left() == pytest.approx(20.0)  # nothing timed yet: the search's 10 s/epoch
    clock.now += 1.0
    eta.epoch_end(epoch=1, epochs=2)
    assert eta.fold_left() == pytest.approx(1.0)
    assert eta.search_left() == pytest.approx(1.0)  # the last trial: nothing after it


def test_format_eta():
    assert format_eta(59.6) == "1:00"
    assert format_eta(3 * 3600 + 61) == "3:01:01"


def test_a_fold_that_goes_on_from_its_screen_times_only_its_own_epochs():
    """A promoted trial's fold 1 starts at the screen's epoch 2: its first epoch is epoch 3, timed
    as one epoch, not three."""
    clock, eta = started(max_trials=1, folds=1, epochs=6)
    eta.fold_begin(fold=0, folds=1, epochs=6, first_epoch=2)
    clock.now += 10.0
    eta.epoch_end(epoch=3, epochs=6)
    assert eta.per_epoch == pytest.approx(10.0)
    assert eta.fold_left() == pytest.approx(30.0)  # epochs 4, 5 and 6

"""One trial (tuner.training.folds): folds, early stopping, trial processes."""

from __future__ import annotations

import pytest

from tests.helpers import TINY
from tuner.data.splits import fold_indices
from tuner.training.folds import TrialWork, train_trial

# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager


def test_early_stopping_watches_part_of_the_training_fold_and_records_the_best_epoch(tiny_train):
    splits = fold_indices(tiny_train.labels, 2, 0)
    values = {**TINY, "epochs": 4}
    work = TrialWork(values, splits, 0, "0", early_stopping=1)
    outcome = train_trial(work, tiny_train.images, tiny_train.labels)
    for fold, (train_idx, val_idx) in zip(outcome.folds, splits, strict=True):
        assert fold.train_size == len(train_idx) - round(0.1 * len(train_idx))
        assert fold.val_size == len(val_idx)  # the CV fold is still scored whole
        curve = fold.history["val_accuracy"]  # accuracy on the watched slice, not the CV fold
        assert 1 <= fold.best_epoch <= fold.epochs <= 4
        assert curve[fold.best_epoch - 1] == max(curve)


def test_a_trial_past_its_time_stops_after_the_epoch_as_a_pruned_one(tiny_train):
    """time_left (the run budget's share for trials): the trial stops after the first epoch that
    ends past it and says why; a trial whose last epoch ends past it is complete all the same."""
    x, y = tiny_train.images, tiny_train.labels
    splits = fold_indices(y, 2, 0)
    values = {**TINY, "epochs": 2}
    cut = train_trial(TrialWork(values, splits, 0, "0", time_left=0.0), x, y)
    assert len(cut.folds) == 1 and cut.folds[0].epochs == 1
    assert cut.pruned == (
        "stopped in fold 1 of 2 after epoch 1: the run budget's time for trials is spent (the "
        "rest is the final training's)"
    )
    whole = train_trial(TrialWork(values, splits, 0, "0", time_left=3600.0), x, y)
    assert whole.pruned is None and [f.epochs for f in whole.folds] == [2, 2]
    last = train_trial(TrialWork({**TINY, "epochs": 1}, splits[:1], 0, "0", time_left=0.0), x, y)
    assert last.pruned is None and len(last.folds) == 1


def test_worker_process_runs_target_and_forwards_events():
    from tests.training import trial_targets
    from tuner.training.process import run_in_process
    from tuner.ui.events import Reporter

    class Listener(Reporter):
        def __init__(self):
            self.messages = []

        def message(self, text):
            self.messages.append(text)

    listener = Listener()
    assert run_in_process(trial_targets.echo, {"value": 21}, listener) == 42
    assert listener.messages == ["got 21"]  # the worker's reporter call, made here


@pytest.mark.parametrize(
    "target, reason",
    [
        ("die", "the trial's process died: killed by signal 9 (out of memory?)"),
        ("fail", "fold 0: training loss is not finite (nan)"),
        (
            "crash",
            "ZeroDivisionError: division by zero in a worker (in the trial's process)",
        ),
    ],
)
def test_worker_failures_become_trial_failures(target, reason):
    from tests.training import trial_targets
    from tuner.errors import TrialFailed
    from tuner.training.process import run_in_process

    with pytest.raises(TrialFailed) as info:
        run_in_process(getattr(trial_targets, target), {})
    assert str(info.value).splitlines()[0] == reason


def test_a_hung_trial_process_is_stopped_at_its_time_limit():
    from tests.training import trial_targets
    from tuner.errors import TrialFailed
    from tuner.training.process import run_in_process

    with pytest.raises(TrialFailed, match="ran past its time limit of 2 s and was stopped"):
        run_in_process(trial_targets.hang, {}, timeout=2.0)


def test_a_warm_trial_process_runs_trials_in_turn_and_a_failure_costs_only_its_process():
    from tests.training import trial_targets
    from tuner.errors import TrialFailed
    from tuner.training.process import TrialProcess

    process = TrialProcess(reuse=2)
    try:
        first = process.run(trial_targets.pid, {})
        assert process.run(trial_targets.echo, {"value": 2}) == 4  # warm: the same process
        current = process.run(trial_targets.pid, {})
        assert current != first  # replaced after `reuse` trials
        for target in ("fail", "die"):  # an exception in the trial, the process killed
            with pytest.raises(TrialFailed):
                process.run(getattr(trial_targets, target), {})
            after = process.run(trial_targets.pid, {})
            assert after != current  # the failed trial's process went with it
            current = after
        with pytest.raises(TrialFailed, match="past its time limit"):
            process.run(trial_targets.hang, {}, timeout=1.0)
        assert process.run(trial_targets.pid, {}) != current
    finally:
        process.close()


@pytest.mark.slow  # trial processes score as in-process ones in the default suite (test_driver)
def test_a_trial_scores_the_same_in_a_warm_process_as_in_a_fresh_one(tiny_train):
    """Each trial gets a fresh Keras session and its own seeds: what an earlier trial in the
    same process did changes nothing (the crash test's resumed runs start fresh processes)."""
    from tuner.training.folds import train_trial_in_process
    from tuner.training.process import TrialProcess

    x, y = tiny_train.images, tiny_train.labels
    splits = fold_indices(y, 2, 0)
    fresh = train_trial_in_process(TrialWork(TINY, splits, 0, "1"), x, y)
    process = TrialProcess()
    try:
        other = TrialWork({**TINY, "dense_units": 8}, splits, 0, "0")
        train_trial_in_process(other, x, y, process=process)
        warm = train_trial_in_process(TrialWork(TINY, splits, 0, "1"), x, y, process=process)
    finally:
        process.close()
    assert [f.val_accuracy for f in warm.folds] == [f.val_accuracy for f in fresh.folds]
    assert (warm.oof == fresh.oof).all()

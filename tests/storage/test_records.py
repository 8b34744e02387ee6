"""The search's order of its trials, as the export reads it."""

from __future__ import annotations

from tuner.screening.marks import SCREEN_KEY, SCREENED_KEY
from tuner.storage.records import FoldResult, TrialRecord, TrialState, best_record, runners_up


def _trial(trial_id, state, accuracies, **marks):
    folds = tuple(FoldResult(i, a, 0.1, 2, 1.0, 100, 50) for i, a in enumerate(accuracies))
    return TrialRecord(trial_id, state, {"conv_filters": 32, **marks}, folds)


SCREENS = [
    _trial("00", TrialState.PRUNED, [0.95], **{SCREEN_KEY: 2}),
    _trial("01", TrialState.PRUNED, [0.97], **{SCREEN_KEY: 2}),
    _trial("02", TrialState.PRUNED, [0.96], **{SCREEN_KEY: 2}),
    _trial("03", TrialState.PRUNED, [0.96], **{SCREEN_KEY: 2}),
]


def test_the_runner_up_of_a_search_that_completed_one_trial_is_its_next_screen():
    """Screen 01 was promoted and completed (trial 04); screen 02's full trial was pruned: the
    runners-up are the screens not completed, best first, ties by trial id; a screen of a
    completed configuration never (it is the winner's)."""
    records = [*SCREENS,
               _trial("04", TrialState.COMPLETE, [0.98, 0.98, 0.98], **{SCREENED_KEY: "01"}),
               _trial("05", TrialState.PRUNED, [0.97, 0.97], **{SCREENED_KEY: "02"})]  # fmt: skip
    assert best_record(records).trial_id == "04"
    assert [r.trial_id for r in runners_up(records, 2)] == ["02", "03"]
    assert [r.trial_id for r in runners_up(records, 5)] == ["02", "03", "00"]
    assert runners_up(records, 0) == []


def test_completed_trials_come_before_every_screen():
    records = [*SCREENS,
               _trial("04", TrialState.COMPLETE, [0.98, 0.98], **{SCREENED_KEY: "01"}),
               _trial("05", TrialState.COMPLETE, [0.97, 0.97], **{SCREENED_KEY: "03"}),
               _trial("06", TrialState.FAILED, [])]  # fmt: skip
    assert [r.trial_id for r in runners_up(records, 3)] == ["05", "02", "00"]


def test_a_search_without_screens_has_its_completed_trials_for_runners_up():
    records = [_trial("00", TrialState.COMPLETE, [0.97, 0.97]),
               _trial("01", TrialState.PRUNED, [0.90]),
               _trial("02", TrialState.COMPLETE, [0.98, 0.98])]  # fmt: skip
    assert [r.trial_id for r in runners_up(records, 3)] == ["00"]

"""Pruning (tuner.pruners.rule): the rule on records, in a fold's epochs, after a fold, in a search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import TINY, write_space
from tests.helpers import search_config as config
from tuner.data.splits import fold_indices
from tuner.search.driver import run_search
from tuner.storage.records import TrialState, best_record, load_records
from tuner.training.folds import TrialWork, train_trial

# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager


def _earlier(fold_scores, curves=((),)):
    """Three earlier trials, all alike."""
    from tuner.pruners.rule import Finished

    return tuple(Finished(curves, fold_scores) for _ in range(3))


def test_a_trial_below_the_bar_is_pruned_after_its_first_fold(tiny_train):
    from tuner.pruners.rule import PruneRule

    splits = fold_indices(tiny_train.labels, 3, 0)
    x, y = tiny_train.images, tiny_train.labels
    impossible = PruneRule(_earlier((1.01, 1.01, 1.01)))
    outcome = train_trial(TrialWork(TINY, splits, 0, "0", prune=impossible), x, y)
    assert len(outcome.folds) == 1
    assert outcome.pruned.startswith("pruned after fold 1 of 3: mean")
    assert "the 75th percentile of 3 earlier trials over the same folds" in outcome.pruned
    assert np.isnan(outcome.oof[splits[1][1]].astype(np.float32)).all()  # folds not run
    reachable = PruneRule(_earlier((0.0, 0.0, 0.0)))
    kept = train_trial(TrialWork(TINY, splits, 0, "0", prune=reachable), x, y)
    assert len(kept.folds) == 3 and kept.pruned is None


def test_a_fold_below_the_earlier_trials_curves_stops_at_that_epoch(tiny_train):
    from tuner.pruners.rule import PruneRule, PruneSettings

    splits = fold_indices(tiny_train.labels, 2, 0)
    x, y = tiny_train.images, tiny_train.labels
    values = {**TINY, "epochs": 4}
    settings = PruneSettings(warmup=0.25)  # epoch 1 of 4 is never judged
    impossible = PruneRule(_earlier((0.5,), ((0.0, 1.01, 1.0, 1.0),)), settings, epochs=4)
    outcome = train_trial(TrialWork(values, splits, 0, "0", prune=impossible), x, y)
    assert len(outcome.folds) == 1 and outcome.folds[0].epochs == 2  # stopped after epoch 2
    assert outcome.pruned.startswith("pruned in fold 1 of 2, epoch 2: best validation accuracy")
    reachable = PruneRule(_earlier((0.0, 0.0), ((0.0,) * 4, (0.0,) * 4)), settings, epochs=4)
    kept = train_trial(TrialWork(values, splits, 0, "0", prune=reachable), x, y)
    assert kept.pruned is None and [f.epochs for f in kept.folds] == [4, 4]


def test_with_rungs_only_the_first_folds_geometric_epochs_and_the_fold_ends_judge():
    """rung_factor 3: epochs 1, 3 and 9 of the first fold, then fold ends; a trial far below the
    bar elsewhere in a fold goes on (the default, 2 after a warm-up of a tenth, judges epochs 2, 4
    and 8 of 10)."""
    from tuner.pruners.rule import PruneRule, PruneSettings

    settings = PruneSettings(warmup=0.0, rung_factor=3)
    earlier = _earlier((0.99, 0.99, 0.99), ((0.99,) * 10,) * 3)
    rule = PruneRule(earlier, settings, val_size=1000, epochs=10)
    stopped = [(f, e) for f in range(3) for e in range(1, 11) if rule.stop_after_epoch(f, e, 0.5)]
    assert stopped == [(0, 1), (0, 3), (0, 9)]
    assert rule.stop_after_fold([0.5]) is not None
    every = PruneRule(earlier, PruneSettings(warmup=0.0, rung_factor=0), val_size=1000, epochs=10)
    assert all(every.stop_after_epoch(f, e, 0.5) for f in range(3) for e in range(1, 11))
    default = PruneRule(earlier, PruneSettings(), val_size=1000, epochs=10)
    assert [e for e in range(1, 11) if default.stop_after_epoch(0, e, 0.5)] == [2, 4, 8]
    # a tenth of 6 epochs is under one: the warm-up still covers epoch 1
    short = PruneRule(
        _earlier((0.99,) * 3, ((0.99,) * 6,) * 3), PruneSettings(), val_size=1000, epochs=6
    )
    assert [e for e in range(1, 7) if short.stop_after_epoch(0, e, 0.5)] == [2, 4]
    with pytest.raises(ValueError, match="rung_factor must be 0 or at least 2, got 1"):
        PruneSettings(rung_factor=1)


def test_pruned_trials_are_recorded_and_never_win(tmp_path, tiny_train):
    # 6 points: three that learn (lr 3e-3) and three that cannot (lr 1e-6) within 2 epochs; the
    # seed draws 4 of them: good, hopeless, good, hopeless.
    space = write_space(
        tmp_path,
        "max_trials = 4\nfolds = 2",
        """
        input_batch_norm = false
        conv_blocks = 1
        conv_filters = 4
        dense_layers = 1
        dense_units = { type = "choice", values = [8, 16, 32] }
        learning_rate = { type = "choice", values = [3e-3, 1e-6] }
        batch_size = 64
        augment_strength = 0.0
        epochs = 2
        """,
    )
    result = run_search(tiny_train, space, config(tmp_path, prune=True, seed=SEED_WITH_PRUNING))
    records = load_records(tmp_path / "s" / "tuner")
    assert len(records) == 4
    pruned = [r for r in records if r.state is TrialState.PRUNED]
    assert pruned, "the seed orders hopeless trials after three others"
    for record in pruned:
        assert record.hyperparameters["learning_rate"] < 1e-4  # only hopeless ones
        # after a fold, or within one (fold 1's epochs 1 and 2 are rungs)
        assert record.reason.startswith(("pruned after fold 1 of 2", "pruned in fold "))
        assert "earlier trials" in record.reason
        # keras-tuner ended it without a score: not a completed trial for the oracle or for
        # plain keras_tuner reading the directory
        saved = json.loads((Path(record.path) / "trial.json").read_text())
        assert saved["status"] == "STOPPED" and saved["score"] is None
    best = best_record(records)
    assert best.state is TrialState.COMPLETE and len(best.folds) == 2
    assert best.hyperparameters["learning_rate"] == pytest.approx(3e-3)
    assert result.best.trial_id == best.trial_id
    import keras_tuner

    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("val_accuracy", "max"), max_trials=4
    )
    oracle._set_project_dir(str(tmp_path / "s"), "tuner")
    oracle.reload()
    completed = {i for i, t in oracle.trials.items() if t.status == "COMPLETED"}
    assert completed.isdisjoint({r.trial_id for r in pruned}) and len(completed) == 4 - len(pruned)
    assert oracle.get_best_trials(1)[0].trial_id == best.trial_id


SEED_WITH_PRUNING = 3  # trials: good, hopeless, good, hopeless


def test_the_rule_compares_trials_of_the_same_epochs_and_counts_pruned_curves():
    from tuner.pruners.rule import rule_for_trial
    from tuner.storage.records import FoldResult, TrialRecord

    def record(trial_id, scores, state=TrialState.COMPLETE, epochs=1, val_size=10**6):
        folds = tuple(
            FoldResult(i, s, 0.1, epochs, 1.0, 10, val_size, {"val_accuracy": [s] * epochs})
            for i, s in enumerate(scores)
        )
        return TrialRecord(trial_id, state, {**TINY, "epochs": epochs}, folds)

    assert rule_for_trial([], 0.002, TINY) is None  # no earlier trial: the first runs whole
    two = [record("0", [0.99, 0.99]), record("1", [0.98, 0.98])]
    three = [*two, record("2", [0.97], TrialState.PRUNED), record("3", [0.95, 0.95])]
    rule = rule_for_trial(three, 0.002, TINY)
    assert len(rule.earlier) == 4 and [f.complete for f in rule.earlier] == [1, 1, 0, 1]
    # after fold 1: the 75th percentile of 0.99, 0.98, 0.97 and 0.95 (0.9825) less the margin:
    # here the minimum, 0.002 (their folds agree, and a million validation images measure
    # exactly). How far the configurations are from one another is not noise and does not widen
    # it.
    assert rule.stop_after_fold([0.980]) is not None
    assert rule.stop_after_fold([0.981]) is None
    # a trial whose folds disagree shows the noise: the median fold spread, 3 times
    noisy = [record("0", [0.98, 1.0]), record("1", [0.97, 0.99]), record("3", [0.94, 0.96])]
    rule = rule_for_trial(noisy, 0.002, TINY)  # fold 1's 0.975, less 3 x 0.01 (their spread)
    assert rule.stop_after_fold([0.946]) is None
    assert rule.stop_after_fold([0.944]) is not None
    # a small validation fold measures accuracy coarsely: the sampling error widens the margin
    small = [
        record(r.trial_id, [f.val_accuracy for f in r.folds], r.state, val_size=100) for r in three
    ]
    assert rule_for_trial(three, 0.002, TINY).stop_after_fold([0.957]) is not None
    assert rule_for_trial(small, 0.002, TINY).stop_after_fold([0.957]) is None
    assert rule_for_trial(three, 0.002, {**TINY, "epochs": 3}) is None  # other epochs: none apply


def test_start_up_counts_the_earlier_trials_that_reached_the_point_judged():
    """As in asynchronous successive halving: a decision point (a fold's end, a fold's epoch)
    judges once ``startup_trials`` earlier trials reached it, whether they went on or stopped."""
    from tuner.pruners.rule import Finished, PruneSettings, make_rule

    one = PruneSettings(startup_trials=1)
    assert make_rule((), one) is None  # the first trial always runs whole
    first = Finished(((0.99,), (0.99,)), (0.99, 0.99))
    rule = make_rule((first,), one)
    assert rule.stop_after_fold([0.95]) is not None  # the second trial can stop after fold 1
    assert rule.stop_after_fold([0.99]) is None
    # start-up 3: three earlier trials, two of them stopped inside their first fold; only one
    # reached fold 1's end, so fold 1's end judges nothing yet, however low the new trial
    stopped = Finished(((0.5,),), (), complete=False)
    rule = make_rule((first, stopped, stopped), PruneSettings(startup_trials=3))
    assert rule is not None and rule.stop_after_fold([0.10]) is None
    rule = make_rule((first, first, stopped), PruneSettings(startup_trials=2))
    assert rule.stop_after_fold([0.10]) is not None

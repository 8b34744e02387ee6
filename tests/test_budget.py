"""Budget-aware search: oracles, fold-level pruning, early stopping, LR decay, label smoothing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tuner.errors import SearchError, SpaceError
from tuner.records import TrialState, best_record, load_records
from tuner.search import prepare_search, run_search
from tuner.settings import SearchConfig, hyperband_trials
from tuner.space import load_space
from tuner.splits import fold_indices
from tuner.trainer import train_trial

TINY = {
    "input_batch_norm": False,
    "conv_blocks": 1,
    "conv_filters": 4,
    "dense_layers": 1,
    "dense_units": 8,
    "learning_rate": 3e-3,
    "batch_size": 64,
    "epochs": 1,
    "augment_strength": 0.0,
}


def config(tmp_path, **kw):
    kw.setdefault("isolate", False)
    return SearchConfig(name=kw.pop("name", "s"), results_dir=tmp_path, **kw)


def write_space(tmp_path, search: str, hyperparameters: str):
    path = tmp_path / "space.toml"
    path.write_text(f"[search]\n{search}\n[hyperparameters]\n{hyperparameters}\n")
    return load_space(path)


TINY_HP = """
input_batch_norm = false
conv_blocks = 1
conv_filters = { type = "choice", values = [2, 4, 6] }
dense_layers = 1
dense_units = { type = "choice", values = [8, 16] }
learning_rate = 3e-3
batch_size = 64
augment_strength = 0.0
"""


# --- space file -----------------------------------------------------------------------------


def test_search_table_takes_oracle_prune_and_early_stopping(tmp_path):
    space = write_space(
        tmp_path, 'oracle = "bayesian"\nprune = true\nearly_stopping = 2', "epochs = 1"
    )
    assert (space.search.oracle, space.search.prune, space.search.early_stopping) == (
        "bayesian",
        True,
        2,
    )
    defaults = write_space(tmp_path, "", "epochs = 1").search
    assert (defaults.oracle, defaults.prune, defaults.early_stopping) == ("random", False, None)


@pytest.mark.parametrize(
    "search, message",
    [
        (
            'oracle = "grid"',
            "search.oracle: expected one of random, bayesian, hyperband, got 'grid'",
        ),
        ('prune = "yes"', "search.prune: expected bool, got 'yes'"),
        ("early_stopping = 0", "search.early_stopping: patience must be >= 1 epoch, got 0"),
        ("early_stopping = true", "search.early_stopping: expected int, got True"),
    ],
)
def test_bad_search_settings_name_the_key(tmp_path, search, message):
    with pytest.raises(SpaceError, match=message) as e:
        write_space(tmp_path, search, "epochs = 1")
    assert str(tmp_path / "space.toml") in str(e.value)


def test_pruning_with_hyperband_is_refused(tmp_path, tiny_train):
    space = write_space(tmp_path, "", TINY_HP + "epochs = 3")
    with pytest.raises(SearchError, match="pruning is for the random and bayesian oracles"):
        run_search(tiny_train, space, config(tmp_path, oracle="hyperband", prune=True))
    assert not (tmp_path / "s").exists()  # nothing written
    # a space that prunes by default yields to --oracle hyperband (it used to say "drop --prune"
    # to a user who gave none)
    pruning = write_space(tmp_path, "prune = true", TINY_HP + "epochs = 3")
    plan = prepare_search(tiny_train, pruning, config(tmp_path, oracle="hyperband"))
    assert plan.oracle == "hyperband" and plan.prune is False


# --- model --------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")  # never trained
def test_label_smoothing_loss_matches_the_formula_and_round_trips(tmp_path):
    import keras

    from tuner.model import SparseSmoothedCrossentropy, build_model

    probabilities = np.array([[0.7, 0.1] + [0.025] * 8, [0.1] * 10], dtype="float32")
    labels = np.array([0, 3])
    eps = 0.1
    target = np.eye(10)[labels] * (1 - eps) + eps / 10
    expected = np.mean(-np.sum(target * np.log(probabilities), axis=1))
    loss = SparseSmoothedCrossentropy(eps)(labels, probabilities)
    assert float(loss) == pytest.approx(expected, rel=1e-5)

    model = build_model({**TINY, "label_smoothing": eps})
    assert isinstance(model.loss, SparseSmoothedCrossentropy)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    assert again.loss.label_smoothing == pytest.approx(eps)


def test_lr_decay_spans_every_step_of_training():
    import keras

    from tuner.model import build_model

    model = build_model({**TINY, "lr_decay": True, "epochs": 3, "batch_size": 64}, train_size=200)
    schedule = model.optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    assert schedule.decay_steps == 3 * math.ceil(200 / 64)
    assert float(schedule(0)) == pytest.approx(3e-3)
    assert float(schedule(schedule.decay_steps)) == pytest.approx(0.0, abs=1e-9)
    constant = build_model(TINY, train_size=200)
    assert float(constant.optimizer.learning_rate) == pytest.approx(3e-3)


def test_hyperband_entries_are_dropped_and_its_budget_sets_the_epochs():
    from tuner.model import resolve_values

    values = resolve_values({**TINY, "tuner/epochs": 3, "tuner/initial_epoch": 1, "tuner/round": 1})
    assert values["epochs"] == 3
    assert not any(k.startswith("tuner/") for k in values)


# --- trainer: pruning and early stopping ----------------------------------------------------


def _earlier(fold_scores, curves=((),)):
    """Three earlier trials, all alike (the rule's default start-up is 3 completed trials)."""
    from tuner.pruning import Finished

    return tuple(Finished(curves, fold_scores) for _ in range(3))


def test_a_trial_below_the_bar_is_pruned_after_its_first_fold(tiny_train):
    from tuner.pruning import PruneRule

    splits = fold_indices(tiny_train.labels, 3, 0)
    x, y = tiny_train.images, tiny_train.labels
    impossible = PruneRule(_earlier((1.01, 1.01, 1.01)))
    outcome = train_trial(TINY, x, y, splits, 0, "0", prune=impossible)
    assert len(outcome.folds) == 1
    assert outcome.pruned.startswith("pruned after fold 1 of 3: mean")
    assert "the median of 3 earlier trials over the same folds" in outcome.pruned
    assert np.isnan(outcome.oof[splits[1][1]].astype(np.float32)).all()  # folds not run
    kept = train_trial(TINY, x, y, splits, 0, "0", prune=PruneRule(_earlier((0.0, 0.0, 0.0))))
    assert len(kept.folds) == 3 and kept.pruned is None


def test_a_fold_below_the_earlier_trials_curves_stops_at_that_epoch(tiny_train):
    from tuner.pruning import PruneRule, PruneSettings

    splits = fold_indices(tiny_train.labels, 2, 0)
    x, y = tiny_train.images, tiny_train.labels
    values = {**TINY, "epochs": 4}
    settings = PruneSettings(warmup=0.25)  # epoch 1 of 4 is never judged
    impossible = PruneRule(_earlier((0.5,), ((0.0, 1.01, 1.0, 1.0),)), settings, epochs=4)
    outcome = train_trial(values, x, y, splits, 0, "0", prune=impossible)
    assert len(outcome.folds) == 1 and outcome.folds[0].epochs == 2  # stopped after epoch 2
    assert outcome.pruned.startswith("pruned in fold 1 of 2, epoch 2: best validation accuracy")
    reachable = PruneRule(_earlier((0.0, 0.0), ((0.0,) * 4, (0.0,) * 4)), settings, epochs=4)
    kept = train_trial(values, x, y, splits, 0, "0", prune=reachable)
    assert kept.pruned is None and [f.epochs for f in kept.folds] == [4, 4]


def test_early_stopping_watches_part_of_the_training_fold_and_records_the_best_epoch(tiny_train):
    splits = fold_indices(tiny_train.labels, 2, 0)
    values = {**TINY, "epochs": 4}
    outcome = train_trial(
        values, tiny_train.images, tiny_train.labels, splits, 0, "0", early_stopping=1
    )
    for fold, (train_idx, val_idx) in zip(outcome.folds, splits, strict=True):
        assert fold.train_size == len(train_idx) - round(0.1 * len(train_idx))
        assert fold.val_size == len(val_idx)  # the CV fold is still scored whole
        curve = fold.history["val_accuracy"]  # accuracy on the watched slice, not the CV fold
        assert 1 <= fold.best_epoch <= fold.epochs <= 4
        assert curve[fold.best_epoch - 1] == max(curve)


# --- searches -------------------------------------------------------------------------------


def test_pruned_trials_are_recorded_and_never_win(tmp_path, tiny_train):
    # 6 points: three that learn (lr 3e-3) and three that cannot (lr 1e-6) within 2 epochs.
    space = write_space(
        tmp_path,
        "max_trials = 6\nfolds = 3",
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
    assert len(records) == 6
    pruned = [r for r in records if r.state is TrialState.PRUNED]
    assert pruned, "the seed orders hopeless trials after three others"
    for record in pruned:
        assert record.hyperparameters["learning_rate"] < 1e-4  # only hopeless ones
        assert record.reason.startswith("pruned after fold ")
        assert "earlier trials over the same folds" in record.reason and len(record.folds) < 3
        # keras-tuner ended it without a score: not a completed trial for the oracle or for
        # plain keras_tuner reading the directory
        saved = json.loads((Path(record.path) / "trial.json").read_text())
        assert saved["status"] == "STOPPED" and saved["score"] is None
    best = best_record(records)
    assert best.state is TrialState.COMPLETE and len(best.folds) == 3
    assert best.hyperparameters["learning_rate"] == pytest.approx(3e-3)
    assert result.best.trial_id == best.trial_id
    import keras_tuner

    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("val_accuracy", "max"), max_trials=6
    )
    oracle._set_project_dir(str(tmp_path / "s"), "tuner")
    oracle.reload()
    completed = {i for i, t in oracle.trials.items() if t.status == "COMPLETED"}
    assert completed.isdisjoint({r.trial_id for r in pruned}) and len(completed) == 6 - len(pruned)
    assert oracle.get_best_trials(1)[0].trial_id == best.trial_id


SEED_WITH_PRUNING = 3  # trials: good, hopeless, good, then hopeless ones


def test_the_rule_compares_trials_of_the_same_epochs_and_counts_pruned_curves():
    from tuner.records import FoldResult, TrialRecord
    from tuner.search import _prune_rule

    def record(trial_id, scores, state=TrialState.COMPLETE, epochs=1, val_size=10**6):
        folds = tuple(
            FoldResult(i, s, 0.1, epochs, 1.0, 10, val_size, {"val_accuracy": [s] * epochs})
            for i, s in enumerate(scores)
        )
        return TrialRecord(trial_id, state, {**TINY, "epochs": epochs}, folds)

    two = [record("0", [0.99, 0.99]), record("1", [0.98, 0.98])]
    assert _prune_rule(two, 0.002, TINY) is None  # 2 completed: still starting up
    three = [*two, record("2", [0.97], TrialState.PRUNED), record("3", [0.95, 0.95])]
    rule = _prune_rule(three, 0.002, TINY)
    assert len(rule.earlier) == 4 and [f.complete for f in rule.earlier] == [1, 1, 0, 1]
    # after fold 1: the median of 0.99, 0.98, 0.97 and 0.95 (0.975) less the margin: here the
    # minimum, 0.002 (their folds agree, and a million validation images measure exactly). How
    # far the configurations are from one another is not noise and does not widen it.
    assert rule.stop_after_fold([0.972]) is not None
    assert rule.stop_after_fold([0.974]) is None
    # a trial whose folds disagree shows the noise: the median fold spread, twice
    noisy = [record("0", [0.98, 1.0]), record("1", [0.97, 0.99]), record("3", [0.94, 0.96])]
    rule = _prune_rule(noisy, 0.002, TINY)  # fold 1's median 0.97, less 2 x 0.01 (their spread)
    assert rule.stop_after_fold([0.951]) is None
    assert rule.stop_after_fold([0.949]) is not None
    # a small validation fold measures accuracy coarsely: the sampling error widens the margin
    small = [
        record(r.trial_id, [f.val_accuracy for f in r.folds], r.state, val_size=100) for r in three
    ]
    assert _prune_rule(small, 0.002, TINY).stop_after_fold([0.945]) is None
    assert _prune_rule(three, 0.002, {**TINY, "epochs": 3}) is None  # other epochs: none apply


@pytest.mark.slow  # keeps the default suite under its time budget
def test_bayesian_oracle_runs_a_cv_search(tmp_path, tiny_train, monkeypatch):
    """3 random points, then the Gaussian process (fitted to the CV scores) picks the 4th."""
    import sklearn.gaussian_process

    fits = []
    real_fit = sklearn.gaussian_process.GaussianProcessRegressor.fit

    def fit(self, x, y):
        fits.append(len(y))
        return real_fit(self, x, y)

    monkeypatch.setattr(sklearn.gaussian_process.GaussianProcessRegressor, "fit", fit)
    space = write_space(tmp_path, "max_trials = 4\nfolds = 2", TINY_HP + "epochs = 1")
    result = run_search(tiny_train, space, config(tmp_path, oracle="bayesian"))
    assert [r.state for r in result.records] == [TrialState.COMPLETE] * 4
    assert fits == [3]  # the 4th trial came from a GP fitted to the 3 completed scores


def test_hyperband_trial_count_follows_keras_tuners_brackets():
    assert hyperband_trials(3) == 6  # brackets of 3x1 epoch -> 1x3 epochs, and 2x3 epochs
    assert hyperband_trials(9) == 23  # 9 -> 3 -> 1 (x1, x3, x9 epochs), 5 -> 2, and 3


@pytest.mark.slow  # 6 trials; keeps the default suite under its time budget
def test_hyperband_continues_each_round_from_the_last_rounds_fold_models(tmp_path, tiny_train):
    space = write_space(tmp_path, "folds = 2", TINY_HP + "epochs = 3")
    result = run_search(tiny_train, space, config(tmp_path, oracle="hyperband"))
    records = result.records
    assert len(records) == 6
    assert all(r.state is TrialState.COMPLETE for r in records)
    continued = [r for r in records if "tuner/trial_id" in r.hyperparameters]
    assert continued, "a later round goes on from an earlier trial"
    for record in continued:
        assert all(f.epochs == 3 for f in record.folds)  # 1 epoch before + 2 in this round
        assert len(record.folds[0].history["loss"]) == 2
    first_round = [r for r in records if r.hyperparameters.get("tuner/epochs") == 1]
    assert all(f.epochs == 1 for r in first_round for f in r.folds)
    trial_dir = tmp_path / "s" / "tuner" / f"trial_{records[0].trial_id}"
    assert (trial_dir / "fold_0.weights.h5").is_file()
    manifest = json.loads((tmp_path / "s" / "search.json").read_text())
    assert manifest["config"]["oracle"] == "hyperband"
    assert manifest["config"]["max_trials"] == 6


def test_export_retrains_for_the_folds_median_best_epoch(tmp_path, tiny_dir, tiny_space_path):
    from tuner.data import load_data
    from tuner.export import export_best

    data = load_data(tiny_dir)
    space = write_space(tmp_path, "max_trials = 1\nfolds = 2", TINY_HP + "epochs = 3")
    result = run_search(data.train, space, config(tmp_path, early_stopping=1))
    best = result.best
    assert all(f.best_epoch is not None for f in best.folds)
    exported = export_best(tmp_path / "s", data)
    manifest = json.loads((tmp_path / "s" / "search.json").read_text())
    assert manifest["export"]["retrain_epochs"] == best.retrain_epochs
    assert manifest["best"]["oof_accuracy"] == pytest.approx(best.oof_accuracy)
    assert exported.rows == len(data.test)


def test_time_budget_starts_no_trial_that_would_end_past_it(tmp_path, tiny_train, monkeypatch):
    import itertools

    from tuner import search as search_module

    ticks = itertools.count(0, 40)  # every look at the clock: 40 s later
    monkeypatch.setattr(search_module, "_clock", lambda: float(next(ticks)))
    messages = []

    class Listener(search_module.Reporter):
        def message(self, text):
            messages.append(text)

    space = write_space(
        tmp_path, "max_trials = 3\nfolds = 2\ntime_budget = 1", TINY_HP + "epochs = 1"
    )
    result = run_search(tiny_train, space, config(tmp_path), Listener())
    # start (0 s); before trial 0: 40 s gone + 0 expected < 60 s; before trial 1: 80 s > 60 s
    assert len(result.records) == 1
    assert messages and messages[-1].startswith("time budget of 1 min spent")
    manifest = json.loads((tmp_path / "s" / "search.json").read_text())
    assert manifest["config"]["time_budget_minutes"] == 1.0
    # a resumed search gets the budget anew, and --time-budget 0 lifts it
    again = run_search(tiny_train, space, config(tmp_path, time_budget=0))
    assert len(again.records) == 3

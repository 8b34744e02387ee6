"""The CV tuner: stratified folds, per-fold records, resume, overwrite, failed trials."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import TINY_HP, write_space
from tests.helpers import search_config as config
from tuner.errors import SearchError, TooManyFailures
from tuner.search.driver import run_search
from tuner.search.plan import hyperband_trials
from tuner.space.spaces import load_space
from tuner.storage.records import TrialState, load_records

# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager


def test_search_records_per_fold_scores_and_resumes(tmp_path, tiny_train, tiny_space_path):
    space = load_space(tiny_space_path)
    result = run_search(tiny_train, space, config(tmp_path))
    records = result.records
    assert [r.state for r in records] == [TrialState.COMPLETE] * 2
    for record in records:
        assert len(record.folds) == 2
        assert [f.fold for f in record.folds] == [0, 1]
        assert all(0.0 <= f.val_accuracy <= 1.0 and f.epochs == 1 for f in record.folds)
        assert sum(f.val_size for f in record.folds) == len(tiny_train)
        assert record.mean == pytest.approx(np.mean([f.val_accuracy for f in record.folds]))
        assert record.std == pytest.approx(np.std([f.val_accuracy for f in record.folds]))
        assert record.params > 0 and record.seconds > 0
        assert set(record.folds[0].history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
        oof = np.load(f"{record.path}/oof.npy", allow_pickle=False)
        assert oof.shape == (300, 10) and np.isfinite(oof.astype(np.float32)).all()
        # the stored score is what the out-of-fold predictions give
        hits = np.argmax(oof, axis=1) == tiny_train.labels
        assert hits.mean() == pytest.approx(record.mean, abs=0.01)
    manifest = json.loads((tmp_path / "s" / "search.json").read_text())
    assert manifest["config"]["seed"] == 0 and manifest["config"]["folds"] == 2
    assert manifest["versions"]["keras"] and manifest["data"]["train_size"] == 300
    assert "conv_blocks" in manifest["space"]["text"]

    # the same search again continues it: 2 done, one more to reach 3
    resumed = run_search(tiny_train, space, config(tmp_path, max_trials=3))
    assert len(resumed.records) == 3
    for before, after in zip(records, resumed.records[:2], strict=True):
        assert before.folds == after.folds and before.hyperparameters == after.hyperparameters
    # nothing left to do: nothing runs
    again = run_search(tiny_train, space, config(tmp_path, max_trials=3))
    assert [r.folds for r in again.records] == [r.folds for r in resumed.records]


def test_resume_refuses_other_seed_or_data_and_overwrite_starts_anew(
    tmp_path, tiny_train, tiny_space_path
):
    space = load_space(tiny_space_path)
    run_search(tiny_train, space, config(tmp_path, max_trials=1))
    with pytest.raises(SearchError, match="different seed \\(was 0, now 1\\).*--overwrite"):
        run_search(tiny_train, space, config(tmp_path, max_trials=1, seed=1))
    from tuner.data.kaggle import Dataset

    other = Dataset(tiny_train.images[::-1].copy(), tiny_train.labels[::-1].copy(), "other")
    with pytest.raises(
        SearchError, match="started on other training data \\(was tiny, now other\\)"
    ):
        run_search(other, space, config(tmp_path, max_trials=1))
    fresh = run_search(tiny_train, space, config(tmp_path, max_trials=1, seed=1, overwrite=True))
    assert len(fresh.records) == 1
    assert json.loads((tmp_path / "s" / "search.json").read_text())["config"]["seed"] == 1


def test_same_seed_same_trials_and_scores(tmp_path, tiny_train, tiny_space_path, monkeypatch):
    """On one machine and backend, a seed repeats the hyperparameters and the scores exactly."""
    space = load_space(tiny_space_path)
    _smaller_models(monkeypatch)
    a = run_search(tiny_train, space, config(tmp_path, name="a", max_trials=2))
    b = run_search(tiny_train, space, config(tmp_path, name="b", max_trials=2))
    hyperparameters = [r.hyperparameters for r in a.records]
    assert hyperparameters[0] != hyperparameters[1]  # really drawn
    assert hyperparameters == [r.hyperparameters for r in b.records]
    assert [[f.val_accuracy for f in r.folds] for r in a.records] == [
        [f.val_accuracy for f in r.folds] for r in b.records
    ]
    assert [[f.history["loss"] for f in r.folds] for r in a.records] == [
        [f.history["loss"] for f in r.folds] for r in b.records
    ]
    c = run_search(tiny_train, space, config(tmp_path, name="c", max_trials=1, seed=1))
    assert [r.hyperparameters for r in c.records] != hyperparameters[:1]


def _smaller_models(monkeypatch):
    """Shrinks every model to a few hundred weights: the tuner logic runs, training is instant."""
    import tuner.models.cnn
    import tuner.models.hypermodels
    from tuner.space.values import resolve_values

    real = tuner.models.cnn.build_model

    def build(hp, seed=None, **_):
        return real({**resolve_values(hp), "conv_filters": 2, "dense_units": 4}, seed=seed)

    monkeypatch.setattr(tuner.models.hypermodels, "build_model", build)


def test_failed_trials_are_recorded_and_never_best(
    tmp_path, tiny_train, tiny_space_path, monkeypatch
):
    """A trial whose model cannot be built fails with its reason; the search goes on, and the best
    trial is a completed one."""
    import tuner.models.cnn
    import tuner.models.hypermodels

    real = tuner.models.cnn.build_model

    def build(hp, seed=None, **_):
        if hp.get("conv_blocks") == 2:
            raise RuntimeError("out of memory (simulated)")
        return real(hp, seed=seed)

    monkeypatch.setattr(tuner.models.hypermodels, "build_model", build)
    space = load_space(tiny_space_path)
    result = run_search(tiny_train, space, config(tmp_path, max_trials=3))
    states = {r.trial_id: r.state for r in result.records}
    assert TrialState.FAILED in states.values() and TrialState.COMPLETE in states.values()
    failed = [r for r in result.records if r.state is TrialState.FAILED]
    assert all(r.hyperparameters["conv_blocks"] == 2 for r in failed)
    assert failed[0].reason == "RuntimeError: out of memory (simulated)"
    assert result.best.state is TrialState.COMPLETE
    assert result.best.hyperparameters["conv_blocks"] == 1


def _failing_builds(monkeypatch, fail_first: int | None = None):
    """Makes model building fail (each time with another reason), for the first N builds or all."""
    import tuner.models.cnn
    import tuner.models.hypermodels

    real, calls = tuner.models.cnn.build_model, []

    def build(hp, seed=None, **kw):
        calls.append(1)
        if fail_first is None or len(calls) <= fail_first:
            raise ValueError(f"bad model #{len(calls)}")
        return real(hp, seed=seed, **kw)

    monkeypatch.setattr(tuner.models.hypermodels, "build_model", build)


def test_consecutive_failures_stop_the_search_with_the_last_reason(
    tmp_path, tiny_train, tiny_space_path, monkeypatch
):
    """keras-tuner raised before saving the Nth failure: it stayed RUNNING and the reason shown
    was the one before."""
    _failing_builds(monkeypatch)
    space = load_space(tiny_space_path)
    with pytest.raises(
        TooManyFailures,
        match=r"stopped after 2 failed trials in a row; last reason \(trial 1\): "
        r"ValueError: bad model #2",
    ):
        run_search(tiny_train, space, config(tmp_path, max_trials=5, max_consecutive_failures=2))
    records = load_records(tmp_path / "s" / "tuner")
    assert [r.state for r in records] == [TrialState.FAILED, TrialState.FAILED]  # both saved
    assert records[1].reason == "ValueError: bad model #2"


def test_a_lower_failure_cap_on_resume_keeps_new_trials(
    tmp_path, tiny_train, tiny_space_path, monkeypatch
):
    """keras-tuner counted failures over the whole history: with two old failures and a cap of 2,
    every newly completed trial was left RUNNING, to be redone on every resume."""
    space = load_space(tiny_space_path)
    _failing_builds(monkeypatch)
    run_search(tiny_train, space, config(tmp_path, max_trials=2, max_consecutive_failures=5))
    monkeypatch.undo()
    result = run_search(
        tiny_train, space, config(tmp_path, max_trials=3, max_consecutive_failures=2)
    )
    states = [r.state for r in result.records]
    assert states == [TrialState.FAILED, TrialState.FAILED, TrialState.COMPLETE]
    assert result.best.trial_id == "2"


def _poisoned(monkeypatch, *, loss=None, output=None):
    import keras

    import tuner.models.cnn
    import tuner.models.hypermodels

    real = tuner.models.cnn.build_model

    def build(hp, seed=None, **_):
        model = real(hp, seed=seed)
        if output is not None:
            model = keras.Model(model.inputs, output(model.outputs[0]))
        model.compile(
            optimizer="adam", loss=loss or "sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        return model

    monkeypatch.setattr(tuner.models.hypermodels, "build_model", build)


@pytest.mark.parametrize("poison", ["loss", "predictions"])
def test_nan_fails_the_trial(tmp_path, tiny_train, tiny_space_path, monkeypatch, poison):
    """A NaN loss, or NaN predictions under a finite (clipped) loss, fail the trial: never a
    'completed' trial with a meaningless score."""
    from keras import ops

    if poison == "loss":
        _poisoned(monkeypatch, loss=lambda y, p: ops.mean(ops.log(p - 2.0)))
    else:
        import keras

        class NanAtInference(keras.layers.Layer):
            def call(self, p, training=None):
                return p if training else p * float("nan")

        _poisoned(monkeypatch, output=NanAtInference())
    result = run_search(tiny_train, load_space(tiny_space_path), config(tmp_path, max_trials=1))
    (record,) = result.records
    assert record.state is TrialState.FAILED
    assert (
        "loss is not finite" if poison == "loss" else "non-finite probabilities"
    ) in record.reason
    assert result.best is None


@pytest.mark.slow  # the retry itself is in the default suite (killed once, below)
def test_a_trial_process_killed_twice_fails_that_trial_only(
    tmp_path, tiny_train, tiny_space_path, monkeypatch
):
    from tuner.faults import KILL_VAR

    # as the out-of-memory killer, in trial 0's process and again in the process it is retried in
    monkeypatch.setenv(KILL_VAR, "trial_0:fold_begin#1")
    result = run_search(tiny_train, load_space(tiny_space_path), config(tmp_path, isolate=True))
    states = {r.trial_id: r.state for r in result.records}
    assert states == {"0": TrialState.FAILED, "1": TrialState.COMPLETE}
    assert result.records[0].reason == (
        "the trial's process was killed by signal 9 twice (out of memory?)"
    )
    assert result.best.trial_id == "1"


def test_a_trial_process_killed_once_is_retried_and_scores_as_undisturbed(
    tmp_path, tiny_train, tiny_space_path, monkeypatch
):
    """A kill the toolkit did not send costs one retry in a fresh process, not the trial: the
    retried trial scores as if nothing had happened, and the search says what happened."""
    from tuner.faults import KILL_VAR, ONCE_VAR
    from tuner.ui.events import Reporter

    class Listener(Reporter):
        def __init__(self):
            self.messages = []

        def message(self, text):
            self.messages.append(text)

    space, heard = load_space(tiny_space_path), Listener()
    one = dict(isolate=True, max_trials=1)
    calm = run_search(tiny_train, space, config(tmp_path, name="calm", **one))
    monkeypatch.setenv(KILL_VAR, "trial_0:fold_begin#1")
    monkeypatch.setenv(ONCE_VAR, str(tmp_path / "killed-once"))
    killed = run_search(tiny_train, space, config(tmp_path, name="k", **one), heard)
    assert (tmp_path / "killed-once").exists()  # the kill happened
    assert [r.state for r in killed.records] == [TrialState.COMPLETE]
    assert [r.mean for r in killed.records] == [r.mean for r in calm.records]
    assert (
        "trial 0: the trial's process died: killed by signal 9 (out of memory?); running it "
        "again in a fresh process"
    ) in heard.messages


def test_isolated_trials_score_exactly_as_in_process(tmp_path, tiny_train, tiny_space_path):
    from tuner.ui.events import Reporter

    class Listener(Reporter):  # what a reporter hears: the same events from both
        def __init__(self):
            self.events = []

        def fold_begin(self, **fields):
            self.events.append(("fold_begin", fields))

        def epoch_end(self, **fields):
            self.events.append(("epoch_end", fields["epoch"]))

        def fold_end(self, **fields):
            self.events.append(("fold_end", fields["val_accuracy"]))

    space = load_space(tiny_space_path)
    heard = Listener(), Listener()
    inline = run_search(tiny_train, space, config(tmp_path, name="inline", max_trials=1), heard[0])
    isolated = run_search(
        tiny_train, space, config(tmp_path, name="worker", max_trials=1, isolate=True), heard[1]
    )
    assert heard[0].events == heard[1].events and len(heard[0].events) == 6  # 2 folds x 3
    assert isolated.records[0].hyperparameters == inline.records[0].hyperparameters
    assert [f.val_accuracy for f in isolated.records[0].folds] == [
        f.val_accuracy for f in inline.records[0].folds
    ]
    assert [f.history for f in isolated.records[0].folds] == [
        f.history for f in inline.records[0].folds
    ]


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


def test_a_run_budget_keeps_the_final_trainings_time(tmp_path, tiny_train, monkeypatch):
    """--run-budget: no trial starts that would leave too little for the export's retrain,
    estimated from the best trial's seconds per training image and epoch."""
    import itertools

    import tuner.search.cv_tuner as cv_tuner
    import tuner.ui.events as search_module
    from tuner.storage.records import load_records

    ticks = itertools.count(0, 10)  # every look at the clock: 10 s later
    monkeypatch.setattr(cv_tuner, "clock", lambda: float(next(ticks)))
    # once a trial has finished, the retrain is estimated at 1,000 s
    space = write_space(tmp_path, "max_trials = 3\nfolds = 2", TINY_HP + "epochs = 1")
    monkeypatch.setattr(
        cv_tuner, "retrain_seconds", lambda records, plan, space=None: 1000.0 * bool(records)
    )
    messages = []

    class Listener(search_module.Reporter):
        def message(self, text):
            messages.append(text)

    # the trials' share of the budget is also a deadline inside each trial (time_left), once a
    # completed trial exists: the budget never cuts the only candidate
    import tuner.search.cv_tuner as trainer

    given, real = [], trainer.train_trial

    def spy(work, *args, **kwargs):
        given.append(work.time_left)
        return real(work, *args, **kwargs)

    monkeypatch.setattr(trainer, "train_trial", spy)
    result = run_search(tiny_train, space, config(tmp_path, run_budget=10.0), Listener())
    assert len(result.records) == 1  # 10 s + trial + 1,000 s > 600 s before trial 1
    assert messages[-1].startswith("run budget of 10 min: ")
    assert "the final training about 16.7 min" in messages[-1]
    assert given == [None]  # no completed trial yet
    given.clear()
    # resumed: trials 1 and 2 run after the completed trial 0
    assert len(run_search(tiny_train, space, config(tmp_path, run_budget=30.0)).records) == 3
    # 1,800 s less the time gone (10 s a look at the clock) and the retrain's 1,000 s
    assert len(given) == 2 and all(0 < t < 800 and t % 10 == 0 for t in given)
    assert given[1] < given[0]
    # the estimate itself: the best trial's seconds per image-epoch, scaled to the retrain
    from tuner.search.plan import plan_search
    from tuner.storage.records import best_record

    records = load_records(tmp_path / "s" / "tuner")
    monkeypatch.undo()
    plan, _ = plan_search(tiny_train, space, config(tmp_path, final_epochs=4))
    best = best_record(records)
    work = sum(f.train_size * f.epochs for f in best.folds)
    training = sum(f.train_seconds - f.validation_seconds for f in best.folds)
    assert all(0 < f.validation_seconds < f.train_seconds for f in best.folds)
    from tuner.search.budget import RETRAIN_MARGIN

    expected = RETRAIN_MARGIN * training / work * len(tiny_train) * 4
    assert cv_tuner.retrain_seconds(records, plan) == pytest.approx(expected)


def test_time_budget_starts_no_trial_that_would_end_past_it(tmp_path, tiny_train, monkeypatch):
    import itertools

    import tuner.search.cv_tuner as cv_tuner
    import tuner.ui.events as search_module

    ticks = itertools.count(0, 40)  # every look at the clock: 40 s later
    monkeypatch.setattr(cv_tuner, "clock", lambda: float(next(ticks)))
    messages, budgets = [], []

    class Listener(search_module.Reporter):
        def message(self, text):
            messages.append(text)

        def time_budget(self, *, minutes):  # so that the time left is capped by it
            budgets.append(minutes)

    space = write_space(
        tmp_path, "max_trials = 3\nfolds = 2\ntime_budget = 1", TINY_HP + "epochs = 1"
    )
    result = run_search(tiny_train, space, config(tmp_path), Listener())
    # start (0 s); before trial 0: 40 s gone + 0 expected < 60 s; before trial 1: 80 s > 60 s
    assert len(result.records) == 1
    assert messages and messages[-1].startswith("time budget of 1 min spent")
    assert budgets == [1.0]
    manifest = json.loads((tmp_path / "s" / "search.json").read_text())
    assert manifest["config"]["time_budget_minutes"] == 1.0
    # a resumed search gets the budget anew, and --time-budget 0 lifts it
    again = run_search(tiny_train, space, config(tmp_path, time_budget=0))
    assert len(again.records) == 3


@pytest.mark.slow  # two searches on tiny data; run with -m slow
def test_a_poisoned_trial_is_rerun_cleanly_on_resume(tmp_path, tiny_train, tiny_space_path):
    """A trial left running with a reported score (a stranger's report, once accepted by a chief,
    or a process killed between the report and the end) is rerun on resume, and its score is the
    rerun's, not the reported one (keras-tuner skips a report when a value is there already)."""
    space = load_space(tiny_space_path)
    run_search(tiny_train, space, config(tmp_path))
    tuner_dir = tmp_path / "s" / "tuner"
    trial_file = tuner_dir / "trial_1" / "trial.json"
    trial = json.loads(trial_file.read_text())
    trial["status"], trial["score"] = "RUNNING", None
    history = trial["metrics"]["metrics"]["val_accuracy"]
    history["observations"] = [{"value": [0.5], "step": 0}]
    trial_file.write_text(json.dumps(trial))
    oracle_file = tuner_dir / "oracle.json"
    oracle = json.loads(oracle_file.read_text())
    oracle["end_order"] = [t for t in oracle["end_order"] if t != "1"]
    oracle_file.write_text(json.dumps(oracle))

    resumed = run_search(tiny_train, space, config(tmp_path))
    rerun = resumed.records[1]
    assert rerun.state is TrialState.COMPLETE
    saved = json.loads(trial_file.read_text())
    assert saved["status"] == "COMPLETED"
    assert saved["score"] == pytest.approx(rerun.mean) and saved["score"] != 0.5

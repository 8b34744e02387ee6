"""Screen, then search: the oracle's rounds, the screen's stop, and a whole tiny search."""

from __future__ import annotations

import pytest

from tuner.screening.marks import SCREEN_KEY, SCREENED_KEY
from tuner.screening.oracle import ScreeningOracle
from tuner.screening.rounds import Screening, ScreenStop

# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager


def _oracle(tmp_path, screening, max_trials=20, seed=1):
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    hp.Choice("a", list(range(50)))
    oracle = ScreeningOracle(
        screening,
        "score",
        objective=keras_tuner.Objective("score", "max"),
        max_trials=max_trials,
        hyperparameters=hp,
        seed=seed,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=None,
    )
    oracle._set_project_dir(str(tmp_path), "o")
    return oracle


def _finish(oracle, trial, score, status="STOPPED"):
    if score is not None:
        oracle.update_trial(trial.trial_id, {"score": score})
    trial.status = status
    oracle.end_trial(trial)


def _screened_space(tmp_path, search: str, learning_rate: str):
    """Tiny CNNs, 2 folds x 2 epochs, screened 4 at a time for 1 epoch (6 trials in all)."""
    from tests.helpers import write_space

    return write_space(
        tmp_path,
        f"max_trials = 6\nfolds = 2\nscreen = 4\nscreen_epochs = 1\n{search}",
        f"""
        input_batch_norm = false
        conv_blocks = 1
        conv_filters = 4
        dense_layers = 1
        dense_units = {{ type = "choice", values = [8, 16, 32] }}
        {learning_rate}
        batch_size = 64
        augment_strength = 0.0
        epochs = 2
        """,
    )


def test_a_round_screens_then_promotes_the_best_screens_best_first(tmp_path):
    oracle = _oracle(tmp_path, Screening(size=5, epochs=2, keep=2))
    screens = [oracle.create_trial(f"w{i}") for i in range(5)]  # 5 workers
    scores = [0.91, 0.97, None, 0.95, 0.93]  # the third screen failed
    for trial, score in zip(screens, scores, strict=True):
        assert trial.hyperparameters.values[SCREEN_KEY] == 2
        _finish(oracle, trial, score, "FAILED" if score is None else "STOPPED")
    for screen in (screens[1], screens[3]):  # 0.97, then 0.95
        trial = oracle.create_trial("w")
        values = trial.hyperparameters.values
        assert values[SCREENED_KEY] == screen.trial_id and SCREEN_KEY not in values
        assert values["a"] == screen.hyperparameters.values["a"]
        _finish(oracle, trial, 0.98, "COMPLETED")
    # then a new round of screens, of configurations not screened before
    nxt = oracle.create_trial("w")
    assert nxt.hyperparameters.values[SCREEN_KEY] == 2
    tried = {t.hyperparameters.values["a"] for t in screens}
    assert nxt.hyperparameters.values["a"] not in tried


@pytest.mark.parametrize(
    "left, shape",
    [(54, (45, 9)), (100, (45, 9)), (53, (44, 9)), (10, (8, 2)), (3, (2, 1)), (2, (0, 2)),
     (1, (0, 1))],
)  # fmt: skip
def test_a_round_shrinks_to_the_trials_left_and_keeps_room_for_its_promotions(left, shape):
    screens, keep = Screening(size=45, epochs=2, keep=9).round_shape(left)
    assert (screens, keep) == shape
    assert screens + keep <= left


def test_too_few_trials_for_a_round_still_end_in_full_trials(tmp_path):
    """--trials below a round: the round shrinks (3 screens, 1 promotion of 4 trials); --trials 1
    runs one full trial, never a lone screen."""
    oracle = _oracle(tmp_path, Screening(size=45, epochs=2, keep=9), max_trials=4)
    screens = [oracle.create_trial(f"w{i}") for i in range(3)]
    assert all(t.hyperparameters.values[SCREEN_KEY] == 2 for t in screens)
    for trial, score in zip(screens, (0.7, 0.9, 0.8), strict=True):
        _finish(oracle, trial, score)
    promoted = oracle.create_trial("w")
    assert promoted.hyperparameters.values[SCREENED_KEY] == screens[1].trial_id
    _finish(oracle, promoted, 0.95, "COMPLETED")
    assert oracle.create_trial("w").status == "STOPPED"  # 4 trials in all
    assert oracle.passed_over() == {screens[0].trial_id, screens[2].trial_id}

    one = _oracle(tmp_path / "one", Screening(size=45, epochs=2, keep=9), max_trials=1)
    values = one.create_trial("w").hyperparameters.values
    assert SCREEN_KEY not in values and SCREENED_KEY not in values  # a full trial
    assert values["a"] == 0  # of the default point


def test_promotions_wait_for_every_screen_of_their_round(tmp_path):
    """A distributed worker asking while a screen still runs is told to wait (IDLE)."""
    oracle = _oracle(tmp_path, Screening(size=2, epochs=1, keep=1))
    a, b = oracle.create_trial("w1"), oracle.create_trial("w2")
    _finish(oracle, a, 0.9)
    assert oracle.create_trial("w3").status == "IDLE"
    _finish(oracle, b, 0.8)
    promoted = oracle.create_trial("w3")
    assert promoted.hyperparameters.values[SCREENED_KEY] == a.trial_id


def test_the_rounds_survive_a_reload(tmp_path):
    """A resumed search goes on with its round: the promotions come from the saved screens."""
    oracle = _oracle(tmp_path, Screening(size=3, epochs=1, keep=1))
    screens = [oracle.create_trial(f"w{i}") for i in range(3)]
    for trial, score in zip(screens, (0.7, 0.9, 0.8), strict=True):
        _finish(oracle, trial, score)
    oracle.save()
    again = _oracle(tmp_path, Screening(size=3, epochs=1, keep=1))
    again.reload()
    promoted = again.create_trial("w")
    assert promoted.hyperparameters.values[SCREENED_KEY] == screens[1].trial_id


def test_a_round_passes_over_its_screens_once_its_promotions_are_known(tmp_path):
    """passed_over: the screens whose models no promotion will go on from (they can go), known
    once every screen of the round has ended; a failed screen is one of them."""
    oracle = _oracle(tmp_path, Screening(size=3, epochs=1, keep=1))
    a, b, c = (oracle.create_trial(f"w{i}") for i in range(3))
    _finish(oracle, a, 0.7)
    _finish(oracle, b, 0.9)
    assert oracle.passed_over() == set()  # c still runs: any of them may be promoted
    _finish(oracle, c, None, "FAILED")
    assert oracle.passed_over() == {a.trial_id, c.trial_id}


@pytest.mark.slow  # the promotion going on from its screen is in the default suite
def test_without_its_screens_model_a_promoted_trial_trains_fold_1_from_the_start(
    tmp_path, tiny_train, monkeypatch
):
    """A screen's model gone (a search made before screens kept them, a disk cleaned by hand):
    its promoted trial trains every epoch of fold 1 itself and completes."""
    from tests.helpers import search_config
    from tuner.search import cv_tuner
    from tuner.search.driver import run_search
    from tuner.storage.records import TrialState, load_records

    monkeypatch.setattr(cv_tuner.CVTuner, "_screens_needed", lambda self, records: set())
    space = _screened_space(
        tmp_path, "screen_keep = 2", 'learning_rate = { type = "choice", values = [3e-3, 1e-3] }'
    )
    run_search(tiny_train, space, search_config(tmp_path, prune=False))
    full = [r for r in load_records(tmp_path / "s" / "tuner") if SCREENED_KEY in r.hyperparameters]
    assert len(full) == 2
    for trial in full:
        assert trial.state is TrialState.COMPLETE
        assert [(f.started_from, f.epochs) for f in trial.folds] == [(0, 2), (0, 2)]


def test_the_retrain_estimate_counts_only_the_epochs_a_trial_trained_itself():
    """A fold that went on from its screen's 2 epochs timed 4 of its 6: the speed is per those."""
    from types import SimpleNamespace

    from tuner.search.budget import RETRAIN_MARGIN, retrain_seconds
    from tuner.storage.records import FoldResult, TrialRecord, TrialState

    folds = (
        FoldResult(0, 0.98, 0.1, 6, 40.0, 100, 50, started_from=2),  # 4 epochs in 40 s
        FoldResult(1, 0.98, 0.1, 6, 60.0, 100, 50),  # 6 epochs in 60 s
    )
    record = TrialRecord("1", TrialState.COMPLETE, {"epochs": 6}, folds)
    plan = SimpleNamespace(final_images=1000, final_epochs=10, run_budget=None)
    # 10 s per 100 image-epochs, for 1,000 images x 10 epochs
    assert retrain_seconds([record], plan) == pytest.approx(RETRAIN_MARGIN * 1000.0)


def test_the_screen_stops_after_its_epochs_of_fold_1_and_says_so():
    stop = ScreenStop(Screening(size=18, epochs=2))
    assert stop.stop_after_epoch(0, 1, 0.9) is None
    reason = stop.stop_after_epoch(0, 2, 0.9712)
    assert (
        reason.startswith("screened: 97.12% by epoch 2 of fold 1") and "best 6 of each 18" in reason
    )
    assert stop.stop_after_fold([0.97]) is None


@pytest.mark.parametrize(
    "shape, epochs, message",
    [
        (Screening(size=1), 6, "screen: must be 0 .off. or >= 2 configurations, got 1"),
        (Screening(size=18, epochs=6), 6, r"screen_epochs: must be within 1..5 epochs .* got 6"),
        (Screening(size=18, epochs=0), 6, "screen_epochs: must be >= 1 epochs, got 0"),
        (Screening(size=18, keep=19), 6, r"screen_keep: must be within 1..18 .* got 19"),
        (Screening(size=18, keep=0), 6, "screen_keep: must be >= 1, got 0"),
    ],
)
def test_a_bad_shape_is_refused_naming_the_value(shape, epochs, message):
    with pytest.raises(ValueError, match=message):
        shape.check(epochs)


def test_a_screened_search_records_screens_as_pruned_and_promotes_the_best_in_full(
    tmp_path, tiny_train, monkeypatch
):
    """4 screens of 1 epoch of fold 1, the best 2 in full (2 folds x 2 epochs), in one search:
    the screens end pruned with their reason and never win; each promoted trial is its
    screen's configuration, seeded as the screen was, and its fold 1 goes on from the screen's
    model (weights and optimizer state after epoch 1) instead of training epoch 1 again; plain
    keras_tuner sees only the full trials as completed, and no screen keeps its model."""
    import json
    from pathlib import Path

    import tuner.training.folds as folds
    from tests.helpers import search_config
    from tuner.search.driver import run_search
    from tuner.storage.records import TrialState, best_record, load_records

    space = _screened_space(
        tmp_path,
        "screen_keep = 2",
        'learning_rate = { type = "choice", values = [3e-3, 1e-3, 1e-5] }',
    )
    fits, fit_model = [], folds.fit_model

    def spy(recipe, x, y, **kw):  # what each fold trained from
        fits.append(kw["resume"] or (None, 0))
        return fit_model(recipe, x, y, **kw)

    monkeypatch.setattr(folds, "fit_model", spy)
    result = run_search(tiny_train, space, search_config(tmp_path, prune=False))
    records = {r.trial_id: r for r in load_records(tmp_path / "s" / "tuner")}
    assert len(records) == 6
    screens = [r for r in records.values() if SCREEN_KEY in r.hyperparameters]
    full = [r for r in records.values() if SCREENED_KEY in r.hyperparameters]
    assert len(screens) == 4 and len(full) == 2
    for screen in screens:
        assert screen.state is TrialState.PRUNED and screen.reason.startswith("screened: ")
        assert len(screen.folds) == 1 and screen.folds[0].epochs == 1
        saved = json.loads((Path(screen.path) / "trial.json").read_text())
        assert saved["status"] == "STOPPED" and saved["score"] is None
    ranked = sorted(screens, key=lambda r: -r.folds[0].val_accuracy)
    assert [r.hyperparameters[SCREENED_KEY] for r in full] == [s.trial_id for s in ranked[:2]]
    for trial in full:
        screen = records[trial.hyperparameters[SCREENED_KEY]]
        assert trial.state is TrialState.COMPLETE and len(trial.folds) == 2
        for name in ("dense_units", "learning_rate"):
            assert trial.hyperparameters[name] == screen.hyperparameters[name]
        # fold 1 went on from the screen's model after its epoch: one epoch trained here, the
        # record's curves hold both (the screen's first); fold 2 trained from the start
        first, second = trial.folds
        assert (first.started_from, first.epochs, second.started_from) == (1, 2, 0)
        for name, curve in screen.folds[0].history.items():
            assert first.history[name][:1] == curve and len(first.history[name]) == 2
        weights = str(Path(screen.path) / "fold_0.weights.h5")
        assert fits.index((weights, 1)) >= 4  # after the 4 screens
    # 4 screens and 2 second folds trained from the start
    assert fits.count((None, 0)) == 6 and len(fits) == 8
    for screen in screens:  # the search is over: the screens' models are gone
        assert not list(Path(screen.path).glob("fold_*.weights.h5"))
    best = Path(result.best.path)  # and the best trial's stay (export --ensemble folds)
    assert sorted(p.name for p in best.glob("fold_*.weights.h5")) == [
        "fold_0.weights.h5",
        "fold_1.weights.h5",
    ]
    assert best_record(list(records.values())).trial_id in {t.trial_id for t in full}
    assert result.best.trial_id in {t.trial_id for t in full}
    manifest = json.loads((tmp_path / "s" / "search.json").read_text())
    assert manifest["config"]["screen"] == {"size": 4, "epochs": 1, "keep": 2}
    # `digit-tuner trials`: the full trials first, each naming its screen, then the screens by
    # their score, labelled as screens (not as pruned trials)
    import io

    from rich.console import Console

    from tuner.ui.tables import sorted_records, trials_table

    out = io.StringIO()
    Console(file=out, width=120).print(
        trials_table(list(records.values()), ["dense_units"], folds=2)
    )
    text = out.getvalue()
    assert text.count("screen e1") == 4 and "pruned 1/2" not in text
    assert [r.trial_id for r in sorted_records(list(records.values()))][2:] == [
        s.trial_id for s in ranked
    ]
    for trial in full:
        assert f"{trial.trial_id} <{trial.hyperparameters[SCREENED_KEY]}" in text


def test_the_pruning_rule_never_measures_a_full_trial_against_the_screens():
    """A screen stops by design after an epoch or two: its partial curve is no bar for the
    full trials."""
    from tuner.pruners.rule import rule_for_trial
    from tuner.storage.records import FoldResult, TrialRecord, TrialState

    def record(trial_id, values, curve):
        fold = FoldResult(0, curve[-1], 0.1, len(curve), 1.0, 200, 100, {"val_accuracy": curve})
        return TrialRecord(trial_id, TrialState.PRUNED, values, (fold,))

    values = {"epochs": 2, "learning_rate": 3e-3}
    screens = [record(str(i), {**values, SCREEN_KEY: 1}, [0.99]) for i in range(3)]
    assert rule_for_trial(screens, 0.002, values) is None  # no earlier full trial: no bar
    full = record("3", {**values, SCREENED_KEY: "0"}, [0.5, 0.6])
    rule = rule_for_trial([*screens, full], 0.002, values)
    assert len(rule.earlier) == 1


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"screen": 4, "oracle": "bayesian"},
            "screen is for the random oracle .* got oracle='bayesian'",
        ),
        ({"screen": 4, "early_stopping": 2}, "screen needs every epoch of fold 1 trained"),
        ({"screen": 1}, "screen: must be 0 .off. or >= 2 configurations, got 1"),
    ],
)
def test_screening_settings_that_cannot_work_are_refused(tmp_path, tiny_train, options, message):
    from tests.helpers import TINY_SPACE, search_config
    from tuner.errors import SearchError
    from tuner.search.plan import plan_search
    from tuner.space.spaces import load_space

    path = tmp_path / "space.toml"
    path.write_text(TINY_SPACE.replace("epochs = 1", "epochs = 3"))
    with pytest.raises(SearchError, match=message):
        plan_search(tiny_train, load_space(path), search_config(tmp_path, **options))


def test_the_screen_option_reaches_the_search(tmp_path, tiny_dir, tiny_space_path):
    from typer.testing import CliRunner

    from tuner.cli import app

    result = CliRunner().invoke(
        app,
        ["search", "--data", str(tiny_dir), "--space", str(tiny_space_path), "--name", "s",
         "--results-dir", str(tmp_path), "--screen", "1"],
    )  # fmt: skip
    assert result.exit_code != 0
    assert "screen: must be 0 (off) or >= 2 configurations, got 1" in result.output


def test_a_budget_too_short_for_the_round_closes_it_and_promotes_the_best_screen(
    tmp_path, tiny_train
):
    """With a time budget that fits one screen, the search neither stops with only screens (it
    would have nothing to export) nor screens on: the round closes and its best screen runs in
    full, then the budget ends the search."""
    from tests.helpers import search_config
    from tuner.search.driver import run_search
    from tuner.storage.records import TrialState, load_records

    space = _screened_space(tmp_path, "", "learning_rate = 3e-3")
    result = run_search(tiny_train, space, search_config(tmp_path, time_budget=0.01))
    records = load_records(tmp_path / "s" / "tuner")
    assert [r.state for r in records] == [TrialState.PRUNED, TrialState.COMPLETE]
    assert records[1].hyperparameters[SCREENED_KEY] == records[0].trial_id
    assert result.best.trial_id == records[1].trial_id


def test_a_round_closes_when_another_screen_and_a_full_trial_would_not_fit():
    """20 minutes: with full trials of 100 s and screens of 15 s, screening goes on while
    elapsed + 15 + 100 s stays within 1,200 s; before any full trial, a full trial is
    estimated from the best screen (its training seconds per epoch for every fold's epochs,
    plus what it spent outside training)."""
    from types import SimpleNamespace

    from tuner.search.budget import screens_too_late
    from tuner.storage.records import FoldResult, TrialRecord, TrialState

    def record(trial_id, values, seconds, accuracy=0.97, epochs=2, train=10.0):
        fold = FoldResult(0, accuracy, 0.1, epochs, train, 5600, 2800, {})
        return TrialRecord(trial_id, TrialState.PRUNED, values, (fold,), seconds=seconds)

    plan = SimpleNamespace(time_budget=20.0, run_budget=None, folds=3)
    values = {"epochs": 6}
    screens = [record(str(i), {**values, SCREEN_KEY: 2}, 15.0) for i in range(3)]
    full = record("3", {**values, SCREENED_KEY: "0"}, 100.0, epochs=6, train=90.0)
    assert not screens_too_late([full], 2000.0, plan)  # no screen yet: nothing to close
    assert not screens_too_late([*screens, full], 1085.0, plan)  # 1,085 + 15 + 100 = 1,200
    assert screens_too_late([*screens, full], 1086.0, plan)
    # only screens: the full trial of the best (10 s for 2 epochs: 5 s an epoch, 18 epochs in
    # all, and 5 s outside training) is 95 s
    assert not screens_too_late(screens, 1090.0, plan) and screens_too_late(screens, 1091.0, plan)
    assert not screens_too_late(screens, 5000.0, SimpleNamespace(time_budget=None,
                                                                 run_budget=None, folds=3))  # fmt: skip


def test_one_slow_screen_does_not_close_the_round_through_the_retrain_estimate():
    """Before any trial completes, the run budget keeps the retrain of the best screen's
    configuration, not of the slowest screen's (two epochs measure speed poorly): on the real
    data one screen trained 22.6 s where the others took 5-12 s, and the round closed after 7
    of its 27 screens."""
    from types import SimpleNamespace

    from tuner.search.budget import screens_too_late
    from tuner.storage.records import FoldResult, TrialRecord, TrialState

    def screen(trial_id, train, accuracy):
        fold = FoldResult(0, accuracy, 0.1, 2, train, 5600, 2800, {}, validation_seconds=1.0)
        values = {"epochs": 6, SCREEN_KEY: 2}
        return TrialRecord(trial_id, TrialState.PRUNED, values, (fold,), seconds=train + 4.0)

    plan = SimpleNamespace(time_budget=None, run_budget=29.0, folds=3, final_epochs=20,
                           final_images=37800)  # fmt: skip
    screens = [screen(str(i), 8.0, 0.95 + i / 1000) for i in range(6)]
    slow = screen("6", 22.6, 0.94)
    # the best screen: 7 s for 11,200 image-epochs, so the final models' room (under a run
    # budget, at the trials' 6 epochs) ~ 1.15 x 7 / 11,200 x 37,800 x 6 = 163 s: the trials end
    # by 1,740 - 163 = 1,577 s; another screen (26.6 s, the slow one) and a full trial (76 s)
    # fit until 1,474 s. The slow screen's speed would have kept 503 s and closed at 1,134 s.
    assert not screens_too_late([*screens, slow], 1300.0, plan)
    assert screens_too_late([*screens, slow], 1500.0, plan)


def test_the_spaces_screening_yields_to_an_oracle_the_user_chose(tmp_path, tiny_train):
    """quick screens; `--oracle bayesian` (or `--early-stopping 2`) on it turns screening off
    rather than failing, as the space's pruning yields to Hyperband."""
    from tests.helpers import TINY_SPACE, search_config
    from tuner.search.plan import plan_search
    from tuner.space.spaces import load_space

    path = tmp_path / "space.toml"
    path.write_text(TINY_SPACE.replace("epochs = 1", "epochs = 3").replace(
        "folds = 2", "folds = 2\nscreen = 4"))  # fmt: skip
    space = load_space(path)
    assert plan_search(tiny_train, space, search_config(tmp_path))[0].screening.size == 4
    for options in ({"oracle": "bayesian"}, {"early_stopping": 2}):
        assert (
            plan_search(tiny_train, space, search_config(tmp_path, **options))[0].screening is None
        )


def test_the_searchs_end_drops_the_screens_models_and_nothing_else(tmp_path):
    """A screen's model is dropped; a full trial's is kept, best or not (Hyperband goes on from
    every trial's fold models in its later rounds)."""
    from tuner.search.cv_tuner import drop_screen_models
    from tuner.storage.records import FoldResult, TrialRecord, TrialState

    def trial(trial_id, values, accuracy, state=TrialState.COMPLETE):
        path = tmp_path / f"trial_{trial_id}"
        path.mkdir()
        (path / "fold_0.weights.h5").write_bytes(b"model")
        fold = FoldResult(0, accuracy, 0.1, 2, 1.0, 10, 10)
        return TrialRecord(trial_id, state, values, (fold,), path=str(path))

    records = [
        trial("0", {SCREEN_KEY: 2}, 0.99, TrialState.PRUNED),  # a screen ends as pruned
        trial("1", {"tuner/epochs": 1}, 0.8),  # a full trial, not the best
        trial("2", {"tuner/epochs": 3}, 0.95),
    ]
    drop_screen_models(records)
    kept = sorted(p.parent.name for p in tmp_path.glob("trial_*/fold_0.weights.h5"))
    assert kept == ["trial_1", "trial_2"]


def test_a_screened_search_of_one_trial_completes_it(tmp_path, tiny_train):
    """`--trials 1` on a screening profile: one full trial, a winner to export."""
    from tests.helpers import search_config
    from tuner.search.driver import run_search
    from tuner.storage.records import TrialState

    space = _screened_space(tmp_path, "", "learning_rate = 1e-3")
    result = run_search(tiny_train, space, search_config(tmp_path, max_trials=1))
    assert [r.state for r in result.records] == [TrialState.COMPLETE]
    assert result.best is not None and len(result.best.folds) == 2


def test_the_first_screen_is_the_spaces_default_point(tmp_path):
    """A profile's default point (quick's: the hand-written CNN) is screened first, then random
    points, never it again."""
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    hp.Choice("a", list(range(50)), default=17)
    oracle = ScreeningOracle(
        Screening(size=6, epochs=1, keep=2), "score", hyperparameters=hp, max_trials=8, seed=3,
        objective=keras_tuner.Objective("score", "max"), max_consecutive_failed_trials=None,
    )  # fmt: skip
    oracle._set_project_dir(str(tmp_path), "o")
    drawn = [oracle.create_trial(f"w{i}").hyperparameters.values["a"] for i in range(6)]
    assert drawn[0] == 17 and 17 not in drawn[1:] and len(set(drawn)) == 6


@pytest.mark.parametrize(
    "size, keep, trials",
    [(5, 2, 7), (5, 2, 12), (5, 2, 3), (5, 2, 1), (24, 4, 28), (24, 4, 40), (6, 2, 5)],
)
def test_the_dry_runs_course_of_rounds_is_the_oracles(tmp_path, size, keep, trials):
    """``simulated_course`` (what ``search --dry-run`` counts) hands out the screens and full
    trials in the order the oracle does, for whole rounds, rounds cut short by ``--trials`` and
    searches too short to screen."""
    import math

    from tuner.screening.rounds import FULL, SCREEN, simulated_course

    oracle = _oracle(tmp_path, Screening(size=size, epochs=2, keep=keep), max_trials=trials)
    course = []
    for i in range(trials + 1):
        trial = oracle.create_trial("w")
        if trial.status == "STOPPED":
            break
        screen = SCREEN_KEY in trial.hyperparameters.values
        course.append(SCREEN if screen else FULL)
        _finish(oracle, trial, 0.5 + i / 1000, "STOPPED" if screen else "COMPLETED")
    expected = simulated_course(Screening(size=size, keep=keep), trials, 1.0, 3.0, math.inf)
    assert course == expected
    assert course[-1] == FULL  # a search always ends with a full trial

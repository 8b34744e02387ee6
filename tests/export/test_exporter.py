"""Export: the winner retrained on all data, best.keras, submission.csv, search.json."""

from __future__ import annotations

import dataclasses
import json
import time

import keras
import numpy as np
import pandas as pd
import pytest

from tests.helpers import TINY_HP, assert_plain_keras_reproduces, write_space
from tests.helpers import search_config as config
from tuner.data.kaggle import Dataset, DigitData
from tuner.data.splits import search_part
from tuner.errors import SearchError
from tuner.export.estimate import wilson_interval
from tuner.export.exporter import export_best
from tuner.export.inference import predict_tta
from tuner.export.recipes import parse_ensemble, tta_shifts
from tuner.search.driver import run_search
from tuner.search.plan import SearchConfig
from tuner.space.spaces import EstimateCorrection, load_space
from tuner.storage.records import load_records, ranked

# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager


def test_export_writes_model_submission_and_manifest(tmp_path, tiny_data, tiny_space_path):
    search = run_search(
        tiny_data.train,
        load_space(tiny_space_path),
        SearchConfig(name="s", results_dir=tmp_path, isolate=False),
    )
    result = export_best(search.directory, tiny_data)
    assert result.best.trial_id == search.best.trial_id
    assert result.tta == 1 and result.holdout is None  # no holdout: no TTA unless asked

    submission = pd.read_csv(result.submission_path)
    assert list(submission.columns) == ["ImageId", "Label"]
    assert submission["ImageId"].tolist() == list(range(1, 51))
    assert submission["Label"].between(0, 9).all()

    model = keras.saving.load_model(result.model_path)
    predicted = np.argmax(model.predict(tiny_data.test.images, verbose=0), axis=1)
    np.testing.assert_array_equal(predicted, submission["Label"].to_numpy())
    assert result.test_accuracy == pytest.approx(np.mean(predicted == tiny_data.test_labels))

    manifest = json.loads((search.directory / "search.json").read_text())
    assert manifest["best"]["trial_id"] == search.best.trial_id
    assert manifest["best"]["hyperparameters"] == search.best.hyperparameters
    assert len(manifest["best"]["folds"]) == 2
    assert manifest["best"]["cv_mean"] == pytest.approx(search.best.mean)
    assert manifest["export"]["test_rows"] == 50 and manifest["export"]["retrain_images"] == 300
    assert manifest["export"]["versions"]["keras"] == keras.__version__
    assert manifest["config"]["seed"] == 0
    # no holdout: the expected accuracy is the best trial's out-of-fold accuracy, said so
    expected = manifest["export"]["estimate"]
    assert expected["method"] == "out-of-fold" and expected["images"] == 300
    assert expected["accuracy"] == pytest.approx(search.best.oof_accuracy)
    # no temporary files left behind
    assert not [p for p in search.directory.iterdir() if p.name.startswith(".")]


def test_export_refuses_a_search_without_completed_trial(
    tmp_path, tiny_data, tiny_space_path, monkeypatch
):
    import tuner.models.cnn
    import tuner.models.hypermodels

    def build(hp, seed=None, **_):
        raise RuntimeError("boom")

    monkeypatch.setattr(tuner.models.hypermodels, "build_model", build)
    search = run_search(
        tiny_data.train,
        load_space(tiny_space_path),
        SearchConfig(name="s", results_dir=tmp_path, max_trials=2, isolate=False),
    )
    assert search.best is None
    with pytest.raises(SearchError, match="no completed trial to export .*2 failed.*boom"):
        export_best(search.directory, tiny_data)
    assert not (search.directory / "best.keras").exists()
    assert not (search.directory / "submission.csv").exists()


def test_export_refuses_other_training_data(tmp_path, tiny_data, tiny_space_path):
    search = run_search(
        tiny_data.train,
        load_space(tiny_space_path),
        SearchConfig(name="s", results_dir=tmp_path, max_trials=1, isolate=False),
    )
    other = DigitData(
        train=Dataset(tiny_data.train.images[:200], tiny_data.train.labels[:200], "other"),
        test=tiny_data.test,
        source="other",
    )
    with pytest.raises(SearchError, match="ran on other training data"):
        export_best(search.directory, other)


def test_the_exported_model_reproduces_the_submission_without_digit_tuner(
    tmp_path, tiny_data, tiny_space_path
):
    """best.keras used to need tuner.models.augmentation (DigitAugmentation) to load, and held no TTA. Three
    recipes of one search (single, single + TTA 5, the folds' ensemble + TTA 9), each checked by
    plain Keras (one fresh interpreter for the three)."""
    import shutil

    search = run_search(
        tiny_data.train,
        load_space(tiny_space_path),
        SearchConfig(name="s", results_dir=tmp_path, max_trials=1, isolate=False),
    )
    kept = []
    for name, recipe in [
        ("single", dict()),
        ("single+tta5", dict(tta=5)),
        ("folds+tta9", dict(ensemble="folds", tta=9)),
    ]:
        result = export_best(search.directory, tiny_data, **recipe)
        assert result.tta == recipe.get("tta", 1)
        copy = tmp_path / name
        copy.mkdir()
        kept += [
            shutil.copy(result.model_path, copy / result.model_path.name),
            shutil.copy(result.submission_path, copy / result.submission_path.name),
        ]
    assert_plain_keras_reproduces(kept[0], tiny_data.test.images, kept[1], *kept[2:])


def test_predict_writes_a_submission_from_any_exported_model(tmp_path, tiny_data, tiny_space_path):
    from typer.testing import CliRunner

    from tests.helpers import write_csv
    from tuner.cli import app

    search = run_search(
        tiny_data.train,
        load_space(tiny_space_path),
        SearchConfig(name="s", results_dir=tmp_path, max_trials=1, isolate=False),
    )
    result = export_best(search.directory, tiny_data, tta=5)
    test_csv = write_csv(tmp_path / "test.csv.gz", tiny_data.test.images, None)
    out = tmp_path / "again.csv"
    done = CliRunner().invoke(
        app, ["predict", str(result.model_path), "--data", str(test_csv), "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    assert "(50 rows)" in done.output
    assert out.read_text() == result.submission_path.read_text()
    bad = CliRunner().invoke(
        app, ["predict", str(tmp_path / "nope.keras"), "--data", str(test_csv)]
    )
    assert bad.exit_code == 2 and "nope.keras: cannot load the model" in bad.output


def test_export_retrains_for_the_folds_median_best_epoch(tmp_path, tiny_dir, tiny_space_path):
    from tuner.data.kaggle import load_data
    from tuner.export.exporter import export_best

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


@pytest.fixture(scope="module")
def holdout_search(tmp_path_factory, embedded, tiny_space_path):
    """A 2-trial, 2-fold search of the tiny data with a fifth of it held out (shared: the tests
    only export from it and read it)."""
    train = Dataset(embedded.train.images[:300], embedded.train.labels[:300], "tiny")
    return run_search(
        train,
        load_space(tiny_space_path),
        SearchConfig(
            name="h", results_dir=tmp_path_factory.mktemp("holdout"), isolate=False, holdout=0.2
        ),
    )


def test_a_search_never_sees_its_holdout(holdout_search, tiny_data):
    manifest = json.loads((holdout_search.directory / "search.json").read_text())
    assert manifest["config"]["holdout"] == 0.2 and manifest["config"]["holdout_size"] == 60
    part, held = search_part(manifest, tiny_data.train)
    for record in holdout_search.records:
        assert sum(f.val_size for f in record.folds) == len(part) == 240
        oof = np.load(f"{record.path}/oof.npy")
        assert oof.shape == (240, 10)
    # resuming with another holdout is refused
    with pytest.raises(SearchError, match="different holdout"):
        run_search(
            tiny_data.train,
            load_space(manifest["space"]["path"]),
            SearchConfig(name="h", results_dir=holdout_search.directory.parent, holdout=0.3),
        )


def test_only_the_best_trial_keeps_its_fold_models(holdout_search):
    tuner_dir = holdout_search.directory / "tuner"
    for record in load_records(tuner_dir):
        kept = sorted(p.name for p in (tuner_dir / f"trial_{record.trial_id}").glob("fold_*"))
        if record.trial_id == holdout_search.best.trial_id:
            assert kept == ["fold_0.weights.h5", "fold_1.weights.h5"]
        else:
            assert kept == []


def test_folds_ensemble_is_scored_on_the_holdout_and_saved_as_one_model(holdout_search, tiny_data):
    result = export_best(holdout_search.directory, tiny_data, ensemble="folds", tta=1)
    assert set(result.holdout) == {"fold 1", "fold 2", "folds", "folds+tta5"}
    assert all(0.0 <= v <= 1.0 for v in result.holdout.values())
    manifest = json.loads((holdout_search.directory / "search.json").read_text())
    export = manifest["export"]
    assert export["ensemble"] == "folds" and export["tta"] == 1
    assert export["retrain_images"] == 0 and export["holdout_size"] == 60
    assert export["holdout_accuracy"] == result.holdout
    # what it is expected to score: the exported recipe's holdout score, with its sampling error
    expected = export["estimate"]
    assert expected["method"] == "holdout" and expected["images"] == 60
    assert expected["accuracy"] == result.holdout["folds"]
    low, high = wilson_interval(expected["accuracy"], 60)
    assert (expected["low"], expected["high"]) == pytest.approx((low, high))
    assert low < expected["accuracy"] <= high
    # best.keras is the ensemble: it predicts what the submission says
    model = keras.saving.load_model(result.model_path)
    assert model.name == "digit_tuner_export"
    predicted = np.argmax(model.predict(tiny_data.test.images, verbose=0), axis=1)
    submission = pd.read_csv(result.submission_path)
    np.testing.assert_array_equal(predicted, submission["Label"].to_numpy())


def test_top_k_ensemble_retrains_the_k_best_trials(holdout_search, tiny_data):
    result = export_best(holdout_search.directory, tiny_data, ensemble="top-2")
    best_first = sorted(holdout_search.records, key=lambda r: -r.mean)
    manifest = json.loads((holdout_search.directory / "search.json").read_text())
    assert manifest["export"]["members"] == [r.trial_id for r in best_first]
    assert manifest["export"]["retrain_images"] == 240  # the search part, never the holdout
    assert {"single", "single+tta5", "top-2", "top-2+tta5"} == set(result.holdout)
    # TTA by default only where it scores higher on the holdout
    assert result.tta == (5 if result.holdout["top-2+tta5"] > result.holdout["top-2"] else 1)
    with pytest.raises(SearchError, match="top-3 needs 3 completed trials, the search has 2"):
        export_best(holdout_search.directory, tiny_data, ensemble="top-3")


def test_without_a_holdout_tta_applies_when_asked(tmp_path, tiny_data, tiny_space_path):
    search = run_search(
        tiny_data.train,
        load_space(tiny_space_path),
        SearchConfig(name="s", results_dir=tmp_path, isolate=False, max_trials=1),
    )
    asked = export_best(search.directory, tiny_data, tta=9)
    assert asked.tta == 9 and asked.holdout is None


@pytest.mark.parametrize(
    "text, parsed", [("none", ("none", 0)), ("folds", ("folds", 0)), ("top-3", ("top", 3))]
)
def test_ensemble_names(text, parsed):
    assert parse_ensemble(text) == parsed


@pytest.mark.parametrize("text", ["top-1", "top-", "best", "top-x"])
def test_bad_ensemble_names_are_refused(text):
    with pytest.raises(SearchError, match=f"got '{text}'"):
        parse_ensemble(text)


def test_tta_shifts_images_by_one_pixel_and_averages():
    from tuner.export.recipes import shift_images

    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28, 1)
    right = shift_images(images, 0, 1)
    assert (right[:, :, 0] == 0).all()
    np.testing.assert_array_equal(right[:, :, 1:], images[:, :, :-1])
    down = shift_images(images, 1, 0)
    np.testing.assert_array_equal(down[:, 1:], images[:, :-1])
    assert tta_shifts(1) == [(0, 0)] and len(set(tta_shifts(9))) == 9
    with pytest.raises(SearchError, match="tta must be 1, 5 or 9"):
        tta_shifts(3)

    class Echo:  # a "model" whose probabilities reveal the mean pixel it saw
        output_shape = (None, 10)

        def predict(self, x, **_):
            out = np.zeros((len(x), 10))
            out[:, 0] = x.reshape(len(x), -1).mean(axis=1)
            return out

    plain = predict_tta([Echo()], images, 1)[:, 0]
    np.testing.assert_allclose(plain, images.reshape(2, -1).mean(axis=1), rtol=1e-6)
    shifted = predict_tta([Echo()], images, 5)[:, 0]
    expected = np.mean(
        [shift_images(images, dy, dx).reshape(2, -1).mean(axis=1) for dy, dx in tta_shifts(5)],
        axis=0,
    )
    np.testing.assert_allclose(shifted, expected, rtol=1e-6)


def test_report_of_a_holdout_search_analyses_the_search_part(holdout_search, tiny_data):
    from tuner.analysis.report import analyse

    _, analysis = analyse(holdout_search.directory, tiny_data)
    assert analysis.confusion.sum() == 240


def test_a_search_on_a_subset_retrains_on_all_of_it_for_the_final_epochs(tmp_path, tiny_data):
    """search_images: the folds run on a stratified subset (a cheaper fidelity); the export
    retrains on the whole search part, for final_epochs; report's out-of-fold rows are the
    subset's."""
    from tuner.analysis.report import analyse
    from tuner.storage.manifest import open_search

    space = write_space(
        tmp_path,
        "max_trials = 1\nfolds = 2\nsearch_images = 120\nfinal_epochs = 2",
        TINY_HP + "epochs = 1",
    )
    search = run_search(tiny_data.train, space, config(tmp_path, holdout=0.2))
    folds = search.best.folds
    assert sum(f.val_size for f in folds) == 120  # the folds saw the subset only
    assert all(f.epochs == 1 for f in folds)
    handle = open_search(search.directory)
    searched = handle.searched(tiny_data.train)
    part, _ = handle.parts(tiny_data.train)
    assert len(searched) == 120 and len(part) == 240
    # stratified: every class in the subset in about its share of the search part
    share = np.bincount(searched.labels, minlength=10) / 120
    np.testing.assert_allclose(share, np.bincount(part.labels, minlength=10) / 240, atol=0.01)
    _, analysis = analyse(handle, tiny_data)  # the out-of-fold rows line up with the subset
    assert len(analysis.predicted) == 120
    export_best(search.directory, tiny_data)
    manifest = json.loads((search.directory / "search.json").read_text())
    assert manifest["config"]["search_images"] == 120 and manifest["config"]["final_epochs"] == 2
    assert manifest["export"]["retrain_images"] == 240
    assert manifest["export"]["retrain_epochs"] == 2  # not the trials' 1


def test_without_a_holdout_the_profiles_measured_gain_corrects_the_estimate(tmp_path, tiny_data):
    """A profile's [estimate] gains (holdout minus out-of-fold, measured per seed) are added to
    the out-of-fold accuracy when the export is the recipe they were measured for; otherwise the
    estimate is the out-of-fold accuracy and says why the gain was left out."""
    estimate = "[estimate]\ngains = [0.5, 0.9]\ntrain_images = 300"
    space = write_space(
        tmp_path,
        "max_trials = 1\nfolds = 2\nsearch_images = 120\nfinal_epochs = 2",
        TINY_HP + "epochs = 1\n" + estimate,
    )
    search = run_search(tiny_data.train, space, config(tmp_path))
    oof = search.best.oof_accuracy

    def expected():
        return json.loads((search.directory / "search.json").read_text())["export"]["estimate"]

    result = export_best(search.directory, tiny_data)
    got = expected()
    assert result.estimate.to_dict() == got
    assert got["method"] == "out-of-fold, corrected" and got["images"] == 120
    assert got["accuracy"] == pytest.approx(min(oof + 0.007, 1.0))
    binomial = 1.96 * np.sqrt(oof * (1 - oof) / 120)
    spread = 1.96 * np.std([0.005, 0.009], ddof=1) * np.sqrt(1 + 1 / 2)
    half = np.hypot(binomial, spread)
    assert (got["low"], got["high"]) == pytest.approx(
        (got["accuracy"] - half, got["accuracy"] + half)
    )
    assert "+0.70" in got["note"] and "2 measured seeds" in got["note"]

    export_best(search.directory, tiny_data, tta=5)  # not the recipe the gain was measured for
    got = expected()
    assert got["method"] == "out-of-fold" and got["accuracy"] == pytest.approx(oof)
    assert "measured for a single model, this export is single+tta5" in got["note"]


def test_a_measured_gain_applies_only_to_the_settings_it_was_measured_with(tmp_path):
    from tuner.export.estimate import correction_applies

    bare = write_space(
        tmp_path, "folds = 3\nsearch_images = 12600\nfinal_epochs = 20", "epochs = 1"
    )  # no [estimate] table
    space = dataclasses.replace(bare, estimate=EstimateCorrection((0.8, 0.6), 37800))
    same = {"folds": 3, "search_images": 12600, "final_epochs": 20}
    assert correction_applies(space, same, "single", 42000) is None
    assert correction_applies(bare, same, "single", 42000) is None
    # on the embedded 4,000 digits the subset is all of them: another fidelity
    small = same | {"search_images": 4000}
    assert correction_applies(space, small, "single", 4000) == (
        "it was measured with search_images 12600, this search used 4000"
    )
    assert "final_epochs 20, this search used 30" in correction_applies(
        space, same | {"final_epochs": 30}, "single", 37800
    )
    assert "this export is top-2" in correction_applies(space, same, "top-2", 37800)
    assert "retrain on 37,800 images, this one used 20,000" in correction_applies(
        space, same, "single", 20000
    )


def test_search_images_and_final_epochs_are_checked(tmp_path, tiny_train):
    from tuner.errors import SpaceError
    from tuner.search.plan import plan_search
    from tuner.space.spaces import parse_space

    space = write_space(tmp_path, "max_trials = 1\nfolds = 2", TINY_HP)
    with pytest.raises(SearchError, match="search_images=5 is too few"):
        plan_search(tiny_train, space, config(tmp_path, search_images=5))
    with pytest.raises(SearchError, match="final_epochs: must be 0 .off. or >= 1 epochs, got -1"):
        plan_search(tiny_train, space, config(tmp_path, final_epochs=-1))
    with pytest.raises(
        SpaceError, match=r"s.toml: search.search_images: must be 0 .off. or >= 1 images, got -1"
    ):
        parse_space("[search]\nsearch_images = -1\n", path="s.toml")
    # more images than the search part: all of it
    plan, _ = plan_search(tiny_train, space, config(tmp_path, search_images=10_000))
    assert len(plan.train) == len(tiny_train)


def test_the_holdouts_interval_is_wilsons():
    """Near 100 % on few images the normal interval claims too much (199 of 200: 99.5 +- 1.0,
    above the truth's plausible range on the low side); Wilson's is the textbook answer."""
    low, high = wilson_interval(199 / 200, 200)
    assert (round(100 * low, 2), round(100 * high, 2)) == (97.22, 99.91)
    low, high = wilson_interval(1.0, 100)  # no error seen: the interval still has width
    assert high == pytest.approx(1.0) and 0.96 < low < 0.97
    low, high = wilson_interval(0.996, 2100)  # the quick profile's holdout on Kaggle's images
    assert (high - low) / 2 < 0.0035


def test_final_models_split_between_the_holdout_and_every_image(
    tmp_path, tiny_data, tiny_space_path
):
    """final_models 3 with a holdout: 2 models train on the search part and are measured on the
    holdout, 1 trains on every labelled image; the export averages all 3, and says so. A run
    budget already spent trains the first two only, and the second, of the first's
    configuration, goes on from its weights (the two within the final epochs) and replaces it."""
    search = run_search(
        tiny_data.train,
        load_space(tiny_space_path),
        SearchConfig(name="m", results_dir=tmp_path, isolate=False, holdout=0.2, max_trials=1,
                     final_models=3, final_epochs=3, run_budget=30),
    )  # fmt: skip
    result = export_best(search.directory, tiny_data, tta=1)
    manifest = json.loads((search.directory / "search.json").read_text())
    fits = manifest["export"]["final_models"]
    assert [(f["images"], f["measured"]) for f in fits] == [(240, True), (300, False), (240, True)]
    assert [f["epochs"] for f in fits] == [3, 3, 3]  # no run under way: final_epochs as asked
    assert [f["continues"] for f in fits] == [None, None, None]  # 3 + 3: past final_epochs
    # each model's training curves, for the page (its loss falls as it trains)
    assert all(len(f["history"]["loss"]) == len(f["history"]["accuracy"]) == 3 for f in fits)
    assert len({f["seed"] for f in fits}) == 3 and fits[0]["seed"] == 0  # each its own seed
    assert manifest["export"]["retrain_images"] == 300  # the submission saw every image
    assert manifest["config"]["final_models"] == 3
    # the holdout scores the measured models: the first alone and the two averaged
    assert {"single", "single+tta5", "2 seeds"} <= set(result.holdout)
    assert result.measured == "2 seeds"
    expected = manifest["export"]["estimate"]
    assert expected["method"] == "holdout" and expected["images"] == 60
    assert expected["accuracy"] == result.holdout["2 seeds"]
    assert "1 more model(s) trained on every image" in expected["note"]
    exported = keras.saving.load_model(result.model_path)
    members = [layer for layer in exported.layers if layer.name.startswith("member_")]
    assert len(members) == 3

    # a run whose budget is spent: the two models always trained, at the winner's own epochs
    late = export_best(search.directory, tiny_data, tta=1, run_started=time.monotonic() - 3600)
    assert [(f["images"], f["epochs"]) for f in late.fits] == [(240, 1), (300, 1)]
    # 1 + 1 epochs within the final 3: the second went on from the first and replaced it
    assert [f["continues"] for f in late.fits] == [None, 0]
    assert "went on from the measured one(s) for 1 more epochs" in late.estimate.note
    assert "more model(s) trained on every image" not in late.estimate.note
    exported = keras.saving.load_model(late.model_path)
    assert sum(layer.name.startswith("member_") for layer in exported.layers) == 1  # one model
    manifest = json.loads((search.directory / "search.json").read_text())
    assert manifest["export"]["final_models_cut"] == (
        "the run budget left time for 2 of 3 final models"
    )
    assert (
        manifest["export"]["final_epochs_cut"]
        == "epochs the run budget had time for: 1, 1 (of up to 3)"
    )
    assert late.budget_notes == (
        "epochs the run budget had time for: 1, 1 (of up to 3)",
        "the run budget left time for 2 of 3 final models",
    )


def test_final_trials_2_trains_the_runner_up_on_every_image(tmp_path, tiny_data, tiny_space_path):
    """final_trials 2 with a holdout: the models measured there are the winner's (the holdout
    measures its recipe), those on every image the runner-up's; the note names it."""
    search = run_search(
        tiny_data.train,
        load_space(tiny_space_path),
        config(tmp_path, holdout=0.2, max_trials=2, final_models=3, final_epochs=1, final_trials=2),
    )
    winner, runner_up = [r.trial_id for r in ranked(search.records)]
    result = export_best(search.directory, tiny_data, tta=1)
    assert [(f["trial_id"], f["images"], f["measured"]) for f in result.fits] == [
        (winner, 240, True), (runner_up, 300, False), (winner, 240, True)
    ]  # fmt: skip
    assert [f["continues"] for f in result.fits] == [None, None, None]  # another configuration
    assert result.measured == "2 seeds" and result.best.trial_id == winner
    assert f"1 more model(s) trained on every image (trial {runner_up}'s configuration)" in (
        result.estimate.note
    )
    manifest = json.loads((search.directory / "search.json").read_text())
    assert manifest["config"]["final_trials"] == 2
    assert manifest["export"]["members"] == [winner, runner_up]
    exported = keras.saving.load_model(result.model_path)
    assert sum(layer.name.startswith("member_") for layer in exported.layers) == 3


def test_final_fits_measure_half_and_train_the_rest_on_every_image():
    from tuner.data.splits import final_fits

    assert final_fits(1, 240, 60) == [240]  # one model: measured, as the holdout requires
    assert final_fits(2, 240, 60) == [240, 300]
    assert final_fits(4, 240, 60) == [240, 300, 240, 300]  # alternated: a budget's cut keeps half
    assert final_fits(5, 240, 60) == [240, 300, 240, 300, 240]
    assert final_fits(3, 300, 0) == [300, 300, 300]  # no holdout: every model sees every image


def test_the_run_budget_keeps_room_for_the_first_two_final_models(
    tmp_path, tiny_train, tiny_space_path
):
    from tuner.search.plan import plan_search

    space = load_space(tiny_space_path)
    plan, manifest = plan_search(tiny_train, space, config(tmp_path, holdout=0.2, final_models=3))
    assert plan.final_images == 240 + 300  # room for the two models the export always trains
    assert manifest["config"]["final_models"] == 3
    single, _ = plan_search(tiny_train, space, config(tmp_path, holdout=0.2))
    assert single.final_images == 240


def test_final_epochs_fill_the_time_left_between_the_fewest_and_the_most():
    from tuner.search.budget import final_epochs_in_time

    # 0.001 s an image-epoch, 1,000 images: 1 s an epoch
    assert final_epochs_in_time(25.5, 0.001, 1000, most=40, fewest=6) == 25
    assert final_epochs_in_time(100.0, 0.001, 1000, most=40, fewest=6) == 40
    assert final_epochs_in_time(-5.0, 0.001, 1000, most=40, fewest=6) == 6  # late: the fewest
    assert final_epochs_in_time(10.0, 0.0, 1000, most=40, fewest=6) == 40  # nothing timed


def _planning(monkeypatch, seconds: float, startup: float):
    """The export's choice for two final models of 100 and 120 images, ``seconds`` before the run
    budget's end, the winner training at 1,000 images/s with ``startup`` seconds before its
    epochs run at speed; the images each speed measurement trained on."""
    from types import SimpleNamespace

    from tuner.data.kaggle import Dataset
    from tuner.export import exporter
    from tuner.storage.records import FoldResult, TrialRecord, TrialState

    measured = []

    def speed(recipe, x, y, **kw):
        measured.append(len(x))
        return exporter.Speed(1000.0, startup)

    monkeypatch.setattr(exporter, "training_speed", speed)
    folds = (FoldResult(0, 0.98, 0.1, 6, 60.0, 100, 50),)  # 600 image-epochs in 60 s
    best = TrialRecord("1", TrialState.COMPLETE, {"epochs": 6, "batch_size": 32}, folds)
    fits = [Dataset(np.zeros((n, 28, 28, 1), np.uint8), np.zeros(n, np.uint8), "x")
            for n in (100, 120)]  # fmt: skip
    choice = SimpleNamespace(deadline=time.monotonic() + seconds, most_epochs=40, own_epochs=6,
                             fits=fits, best=best, configurations=[best, best],
                             recipe=lambda record: exporter.Recipe(record.hyperparameters))  # fmt: skip
    return choice, measured


def test_the_first_final_model_is_planned_at_the_speed_measured_then(monkeypatch):
    """The folds timed 0.1 s an image-epoch, but the winner trains at 1,000 images/s when the
    export starts (the host switched speed): the first of the two models always trained (100 +
    120 images) gets the epochs that leave the second as many at that speed, 20; planned at
    the folds' speed it would get only the winner's own 6."""
    from tuner.export import exporter

    seconds = 0.001 * 220 * 20.5  # 20 epochs of both at 1,000 images/s, and a half
    choice, measured = _planning(monkeypatch, seconds, startup=0.0)
    assert exporter._epochs_for(choice, exporter._Built([], 1, None), choice.fits[0], 0) == 20
    assert measured == [100]  # measured on the first model's own images


def test_each_final_models_start_up_is_planned_for(monkeypatch):
    """Each model spends 2 s building and tracing before its epochs run at speed: the first is
    planned so that both start-ups and 20 epochs of both fit (planned without them, it would
    take 38 epochs and leave the second 14), and the second gets the same 20 from what is left."""
    from tuner.export import exporter

    seconds = 2 * 2.0 + 0.001 * 220 * 20.5
    choice, _ = _planning(monkeypatch, seconds, startup=2.0)
    built = exporter._Built([], 1, None)
    assert exporter._epochs_for(choice, built, choice.fits[0], 0) == 20
    # the first trained as planned: its start-up and 20 epochs of 100 images at speed
    built.seconds = 2.0 + 0.001 * 100 * 20
    built.fits.append({"images": 100, "epochs": 20})
    choice.deadline -= built.seconds
    assert exporter._epochs_for(choice, built, choice.fits[1], 1) == 20


def test_a_runner_ups_model_is_planned_at_its_own_speed(monkeypatch):
    """With final_trials 2 the second model is the runner-up's configuration, which trains at
    2,000 images/s where the winner's trained at 1,000: it is measured before it trains and
    gets the epochs of the time left at its speed (planned at the first's, it would get 30)."""
    from tuner.export import exporter
    from tuner.storage.records import TrialRecord, TrialState

    choice, measured = _planning(monkeypatch, 0.001 * 120 * 30.5, startup=0.0)
    other = TrialRecord("2", TrialState.COMPLETE, {"epochs": 6, "batch_size": 64}, ())
    choice.configurations = [choice.best, other]
    speeds = {32: exporter.Speed(1000.0, 0.0), 64: exporter.Speed(2000.0, 0.0)}

    def speed(recipe, x, y, **kw):
        measured.append(len(x))
        return speeds[recipe.batch_size]

    monkeypatch.setattr(exporter, "training_speed", speed)
    built = exporter._Built([], 1, None, seconds=0.001 * 100 * 20,
                            fits=[{"images": 100, "epochs": 20}])  # fmt: skip
    assert exporter._epochs_for(choice, built, choice.fits[1], 1) == 40  # 60 at its speed: the most
    assert measured == [120]  # on its own images
    choice.configurations = [choice.best, choice.best]  # the winner again: at the first's speed
    assert 28 <= exporter._epochs_for(choice, built, choice.fits[1], 1) <= 30  # less time taken
    assert measured == [120]


def test_without_a_holdout_every_final_model_trains_on_every_image(
    tmp_path, tiny_data, tiny_space_path
):
    """--holdout 0 with final_models 2: both models on all 300 images, none measured, and the
    estimate is the out-of-fold accuracy (a lower one: no holdout to measure the average). With
    final_trials 2 and one completed trial, both are the winner's."""
    search = run_search(
        tiny_data.train,
        load_space(tiny_space_path),
        SearchConfig(name="n", results_dir=tmp_path, isolate=False, max_trials=1, final_models=2,
                     final_trials=2),
    )  # fmt: skip
    result = export_best(search.directory, tiny_data)
    assert [(f["images"], f["measured"]) for f in result.fits] == [(300, False), (300, False)]
    assert {f["trial_id"] for f in result.fits} == {search.best.trial_id}
    assert result.holdout is None and result.estimate.method == "out-of-fold"

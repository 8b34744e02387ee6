"""Export: the winner retrained on all data, best.keras, submission.csv, search.json."""

from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd
import pytest

from tests.conftest import assert_plain_keras_reproduces
from tuner.data import Dataset, DigitData
from tuner.errors import SearchError
from tuner.export import export_best
from tuner.search import run_search
from tuner.settings import SearchConfig
from tuner.space import load_space


@pytest.fixture
def tiny_data(embedded, tiny_train):
    test = Dataset(embedded.test.images[:50], None, "tiny-test")
    return DigitData(
        train=tiny_train, test=test, source="tiny", test_labels=embedded.test_labels[:50]
    )


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
    # no temporary files left behind
    assert not [p for p in search.directory.iterdir() if p.name.startswith(".")]


def test_export_refuses_a_search_without_completed_trial(
    tmp_path, tiny_data, tiny_space_path, monkeypatch
):
    import tuner.model

    def build(hp, seed=None, **_):
        raise RuntimeError("boom")

    monkeypatch.setattr(tuner.model, "build_model", build)
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


@pytest.mark.parametrize(
    "recipe",
    [dict(), dict(tta=5), dict(ensemble="folds", tta=9)],
    ids=["single", "single+tta5", "folds+tta9"],
)
def test_the_exported_model_reproduces_the_submission_without_digit_tuner(
    tmp_path, tiny_data, tiny_space_path, recipe
):
    """best.keras used to need tuner.augment (DigitAugmentation) to load, and held no TTA."""
    search = run_search(
        tiny_data.train,
        load_space(tiny_space_path),
        SearchConfig(name="s", results_dir=tmp_path, max_trials=1, isolate=False),
    )
    result = export_best(search.directory, tiny_data, **recipe)
    assert result.tta == recipe.get("tta", 1)
    assert_plain_keras_reproduces(result.model_path, tiny_data.test.images, result.submission_path)


def test_predict_writes_a_submission_from_any_exported_model(tmp_path, tiny_data, tiny_space_path):
    from typer.testing import CliRunner

    from tests.conftest import write_csv
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

"""A finished search read back with keras-tuner's result API (tuner.open_results)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from tests.helpers import FIXTURES
from tuner.data.kaggle import load_csv
from tuner.errors import SearchError

# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager


@pytest.fixture
def results(tmp_path):
    import tuner

    shutil.copytree(FIXTURES / "legacy-search", tmp_path / "legacy")
    return tuner.open_results("legacy", results_dir=tmp_path)


def test_best_hyperparameters_and_summary_follow_the_ranking(results, capsys):
    best = results.search.best
    (hp,) = results.get_best_hyperparameters(1)
    assert {k: v for k, v in hp.values.items() if k in best.hyperparameters} == {
        k: v for k, v in best.hyperparameters.items() if not k.startswith("tuner/")
    }
    text = results.results_summary()
    assert capsys.readouterr().out.strip() == text
    assert f"Trial {best.trial_id} summary" in text and f"Score: {best.mean}" in text


def test_best_models_are_the_export_and_fold_models_the_best_trials(results, tiny_dir):
    test = load_csv(tiny_dir / "test.csv", labelled=False)
    (exported,) = results.get_best_models()
    predicted = np.argmax(exported.predict(test.images, verbose=0), axis=1)
    expected = pd.read_csv(results.directory / "submission.csv")["Label"].to_numpy()
    assert (predicted == expected).all()
    folds = results.get_fold_models()
    assert len(folds) == len(results.search.best.folds)
    assert folds[0].predict(test.images[:3], verbose=0).shape == (3, 10)
    with pytest.raises(SearchError, match="a search exports one model"):
        results.get_best_models(2)

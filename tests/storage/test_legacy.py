"""Search directories and ``best.keras`` files written by earlier versions of the package still
list, resume, export, load and predict identically. The fixtures are screened searches of
``legacy-search.toml`` on the tiny digits, seed 1, exported: ``legacy-search`` by an earlier
layout of the package, ``legacy-e36fede`` by git e36fede (before the final models, the
screening and distributed packages, and Kaggle's files)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from tests.helpers import FIXTURES, assert_plain_keras_reproduces, invoke
from tuner.data.kaggle import load_csv
from tuner.storage.manifest import open_search
from tuner.storage.records import TrialState

# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager

# the older layout's resume and export under -m slow (its model's predictions in the default suite)
FIXTURE_NAMES = ["legacy-search", "legacy-e36fede"]
RESUMED = [pytest.param("legacy-search", marks=pytest.mark.slow), "legacy-e36fede"]


def legacy(tmp_path, fixture):
    results = tmp_path / "results"
    shutil.copytree(FIXTURES / fixture, results / "legacy")
    return results, results / "legacy"


@pytest.mark.parametrize("fixture", FIXTURE_NAMES)
def test_its_model_still_predicts_its_submission(tmp_path, tiny_dir, fixture):
    results, directory = legacy(tmp_path, fixture)
    test = load_csv(tiny_dir / "test.csv", labelled=False)
    assert_plain_keras_reproduces(
        directory / "best.keras", test.images, directory / "submission.csv"
    )
    out = tmp_path / "again.csv"
    done = invoke(
        "predict", directory / "best.keras", "--data", tiny_dir / "test.csv", "--out", out
    )
    assert done.exit_code == 0, done.output
    assert pd.read_csv(out).equals(pd.read_csv(directory / "submission.csv"))


@pytest.mark.parametrize("fixture", RESUMED)
def test_it_lists_resumes_and_exports(tmp_path, tiny_dir, fixture):
    results, directory = legacy(tmp_path, fixture)
    before = open_search(directory)
    assert len(before.records) == 4 and before.best is not None
    shown = invoke("trials", "legacy", "--results-dir", results)
    assert shown.exit_code == 0 and f"best: trial {before.best.trial_id}" in shown.output
    more = invoke("resume", "legacy", "--results-dir", results, "--data", tiny_dir, "--trials", 5)
    assert more.exit_code == 0, more.output
    after = open_search(directory)
    assert len(after.records) == 5
    old = {r.trial_id: (r.state, r.mean) for r in before.records}
    assert {r.trial_id: (r.state, r.mean) for r in after.records if r.trial_id in old} == old
    assert all(r.state is not TrialState.FAILED for r in after.records)
    exported = invoke("export", "legacy", "--results-dir", results, "--data", tiny_dir)
    assert exported.exit_code == 0, exported.output
    test = load_csv(tiny_dir / "test.csv", labelled=False)
    assert_plain_keras_reproduces(
        directory / "best.keras", test.images, directory / "submission.csv"
    )
    labels = pd.read_csv(directory / "submission.csv")["Label"].to_numpy()
    assert len(labels) == len(test.images) and np.isin(labels, np.arange(10)).all()

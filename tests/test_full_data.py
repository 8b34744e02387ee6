"""Checks on the full competition data (slow; run with `pytest -m slow`)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import ROOT

DATA = ROOT.parent / "shared" / "data" / "digit-recognizer"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.is_dir(), reason=f"competition data not at {DATA}"),
]


def test_competition_files_load_and_validate():
    from tuner.data.kaggle import load_data

    data = load_data(DATA)
    assert data.train.images.shape == (42000, 28, 28, 1)
    assert data.test.images.shape == (28000, 28, 28, 1)
    assert data.train.images.dtype == np.uint8
    assert np.bincount(data.train.labels).min() > 3700


def test_one_fold_of_a_small_model_learns_the_real_data(tmp_path):
    from tuner.data.kaggle import load_data
    from tuner.search.driver import run_search
    from tuner.search.plan import SearchConfig
    from tuner.space.spaces import load_space

    space_file = tmp_path / "one.toml"
    space_file.write_text(
        "[search]\nmax_trials = 1\nfolds = 2\n[hyperparameters]\ninput_batch_norm = false\n"
        "conv_blocks = 2\nconv_filters = 32\ndense_layers = 1\ndense_units = 64\n"
        "learning_rate = 2e-3\nbatch_size = 128\nepochs = 1\naugment_strength = 0.5\n"
    )
    data = load_data(DATA, test=False)
    result = run_search(data.train, load_space(space_file), SearchConfig("one", tmp_path))
    assert result.best.mean > 0.95

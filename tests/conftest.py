"""Fixtures: tiny real digits (as arrays and as Kaggle CSVs), a tiny search space, Keras run
eagerly. Shared helpers that are not fixtures live in ``tests/helpers.py``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import TINY_SPACE, write_csv

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Keras runs eagerly here and in every process the tests start (tuner.backend.EAGER_VAR): on tiny
# models, tracing graphs costs more than training them.
os.environ.setdefault("DIGIT_TUNER_EAGER", "1")
# Stable, wide enough output for rich in CliRunner (no terminal, no colour).
os.environ["COLUMNS"] = "120"
os.environ["NO_COLOR"] = "1"
os.environ.setdefault("TERM", "dumb")


@pytest.fixture(scope="session", autouse=True)
def _eager():
    """Keras in this process runs eagerly too (tests import it directly, not only through
    tuner.backend)."""
    from tuner.backend import import_keras_quietly

    import_keras_quietly()


@pytest.fixture(scope="session")
def embedded():
    from tuner.data.kaggle import load_embedded

    return load_embedded()


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory, embedded) -> Path:
    """A data directory with 300 labelled training digits and 40 test digits (train gzipped)."""
    directory = tmp_path_factory.mktemp("digits")
    write_csv(directory / "train.csv.gz", embedded.train.images[:300], embedded.train.labels[:300])
    write_csv(directory / "test.csv", embedded.test.images[:40], None)
    return directory


@pytest.fixture(scope="session")
def tiny_space_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spaces") / "tiny.toml"
    path.write_text(TINY_SPACE)
    return path


@pytest.fixture
def tiny_train(embedded):
    from tuner.data.kaggle import Dataset

    return Dataset(embedded.train.images[:300], embedded.train.labels[:300], "tiny")


@pytest.fixture
def tiny_data(embedded, tiny_train):
    """The tiny training digits with 50 test digits whose labels are known."""
    from tuner.data.kaggle import Dataset, DigitData

    test = Dataset(embedded.test.images[:50], None, "tiny-test")
    return DigitData(
        train=tiny_train, test=test, source="tiny", test_labels=embedded.test_labels[:50]
    )

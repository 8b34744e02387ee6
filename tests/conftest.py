"""Fixtures: tiny real digits (as arrays and as Kaggle CSVs), a tiny search space, and Keras'
mode for each test. Shared helpers that are not fixtures live in ``tests/helpers.py``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import TINY_SPACE, write_csv

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# DIGIT_TUNER_EAGER=1 given to pytest runs every test eagerly (debugging); otherwise each test
# runs as the toolkit ships (compiled graphs) unless it is marked ``eager``.
EAGER_EVERYWHERE = os.environ.get("DIGIT_TUNER_EAGER") == "1"
# Stable, wide enough output for rich in CliRunner (no terminal, no colour).
os.environ["COLUMNS"] = "120"
os.environ["NO_COLOR"] = "1"
os.environ.setdefault("TERM", "dumb")


def _set_mode(node) -> None:
    """Keras' mode for ``node`` (a test, or a module) and the processes it starts: eager when it
    is marked ``eager`` (or pytest runs under DIGIT_TUNER_EAGER=1), else compiled."""
    from tuner.backend import set_eager

    set_eager(EAGER_EVERYWHERE or node.get_closest_marker("eager") is not None)


@pytest.fixture(scope="module", autouse=True)
def _module_keras_mode(request):
    """A module's own fixtures (made before its first test's mode is set) run in the mode its
    ``eager`` mark gives, not in the mode the module before left."""
    _set_mode(request.node)


@pytest.fixture(autouse=True)
def _keras_mode(request):
    """Keras as shipped, compiled, in the test and every process it starts; eagerly for a test
    marked ``eager`` (on tiny models, tracing a fold's graphs costs more than training it: those
    tests check what a search or an export does, not how Keras compiles)."""
    _set_mode(request.node)


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

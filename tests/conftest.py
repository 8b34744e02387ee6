"""Shared fixtures: tiny real digits written as Kaggle CSVs, a tiny search space, fixed seeds."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Stable, wide enough output for rich in CliRunner (no terminal, no colour).
os.environ["COLUMNS"] = "120"
os.environ["NO_COLOR"] = "1"
os.environ.setdefault("TERM", "dumb")


def tiny_space(max_trials: int = 2, folds: int = 2, batch_size: int = 64, epochs: int = 1) -> str:
    """A search space of tiny CNNs (4 points), as TOML text."""
    return f"""
[search]
description = "tiny models for tests"
max_trials = {max_trials}
folds = {folds}

[hyperparameters]
input_batch_norm = false
conv_blocks = {{ type = "int", min = 1, max = 2 }}
conv_filters = 4
dense_layers = 1
dense_units = {{ type = "choice", values = [8, 16] }}
learning_rate = 3e-3
batch_size = {batch_size}
epochs = {epochs}
augment_strength = 0.5
"""


TINY_SPACE = tiny_space()


@pytest.fixture(autouse=True)
def _seeded():
    np.random.seed(0)
    yield


@pytest.fixture(scope="session")
def embedded():
    from tuner.data import load_embedded

    return load_embedded()


def write_csv(path: Path, images: np.ndarray, labels: np.ndarray | None) -> Path:
    """Writes digits in the Kaggle format (gzipped if the name ends in .gz)."""
    flat = images.reshape(len(images), -1).astype(np.int64)
    header = ([] if labels is None else ["label"]) + [f"pixel{i}" for i in range(784)]
    rows = flat if labels is None else np.column_stack([labels.astype(np.int64), flat])
    text = ",".join(header) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


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
    from tuner.data import Dataset

    return Dataset(embedded.train.images[:300], embedded.train.labels[:300], "tiny")

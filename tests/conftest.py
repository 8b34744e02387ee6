"""Shared fixtures: tiny real digits written as Kaggle CSVs, a tiny search space, fixed seeds."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Keras runs eagerly here and in every process the tests start (tuner.backend.EAGER_VAR): on tiny
# models, tracing graphs costs more than training them.
os.environ.setdefault("DIGIT_TUNER_EAGER", "1")
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
    from tuner.data.kaggle import Dataset

    return Dataset(embedded.train.images[:300], embedded.train.labels[:300], "tiny")


PLAIN_KERAS = """
import sys
sys.modules["tuner"] = None  # digit-tuner made unimportable: only Keras reads the file
import keras, numpy as np, pandas as pd
images = np.load(sys.argv[1], allow_pickle=False)
for model_path, submission_path in zip(sys.argv[2::2], sys.argv[3::2]):
    model = keras.models.load_model(model_path)
    predicted = np.argmax(model.predict(images, verbose=0), axis=1)
    expected = pd.read_csv(submission_path)["Label"].to_numpy()
    layers = sorted({type(layer).__module__.split(".")[0] for layer in model._flatten_layers()})
    print(model_path, "layers:", layers)
    print(model_path, "same:", bool((predicted == expected).all()), int((predicted != expected).sum()))
"""


def assert_plain_keras_reproduces(model_path, images: np.ndarray, submission_path, *more) -> None:
    """In a fresh interpreter where ``tuner`` cannot be imported, plain ``keras`` loads the
    model, whose predictions on ``images`` are the submission's labels; stock layers only.
    ``more``: further (model, submission) paths, checked in the same interpreter."""
    import subprocess
    import sys
    import tempfile

    pairs = [(model_path, submission_path), *zip(more[::2], more[1::2], strict=True)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "images.npy"
        np.save(path, images, allow_pickle=False)
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                PLAIN_KERAS,
                str(path),
                *(str(p) for pair in pairs for p in pair),
            ],
            capture_output=True,
            text=True,
            cwd=tmp,
            timeout=180,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    for model, _ in pairs:
        assert f"{model} same: True 0" in done.stdout, done.stdout
        assert f"{model} layers: ['keras']" in done.stdout, done.stdout  # stock layers only


# A tiny CNN's full set of values (a point of no space: what the trainer and the model take).
TINY = {
    "input_batch_norm": False,
    "conv_blocks": 1,
    "conv_filters": 4,
    "dense_layers": 1,
    "dense_units": 8,
    "learning_rate": 3e-3,
    "batch_size": 64,
    "epochs": 1,
    "augment_strength": 0.0,
}

# The [hyperparameters] of a tiny space with 6 points, without epochs (tests add their own).
TINY_HP = """
input_batch_norm = false
conv_blocks = 1
conv_filters = { type = "choice", values = [2, 4, 6] }
dense_layers = 1
dense_units = { type = "choice", values = [8, 16] }
learning_rate = 3e-3
batch_size = 64
augment_strength = 0.0
"""


def search_config(tmp_path, **kw):
    """A SearchConfig under ``tmp_path`` (name "s"), trials in this process: fast, and
    monkeypatched builders apply (a trial process would not see them). Process isolation has
    tests of its own."""
    from tuner.search.plan import SearchConfig

    kw.setdefault("isolate", False)
    return SearchConfig(name=kw.pop("name", "s"), results_dir=tmp_path, **kw)


def write_space(tmp_path, search: str, hyperparameters: str):
    """A space file of a ``[search]`` table and ``[hyperparameters]`` text, loaded."""
    from tuner.space.spaces import load_space

    path = tmp_path / "space.toml"
    path.write_text(f"[search]\n{search}\n[hyperparameters]\n{hyperparameters}\n")
    return load_space(path)


@pytest.fixture
def tiny_data(embedded, tiny_train):
    """The tiny training digits with 50 test digits whose labels are known."""
    from tuner.data.kaggle import Dataset, DigitData

    test = Dataset(embedded.test.images[:50], None, "tiny-test")
    return DigitData(
        train=tiny_train, test=test, source="tiny", test_labels=embedded.test_labels[:50]
    )

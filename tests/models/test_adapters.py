"""Users' hypermodels as keras-tuner's guides and the TensorFlow tutorials write them: no Input,
``Flatten(input_shape=(28, 28))``, flat inputs, one-hot losses by string or object, label smoothing
and logits, taken as they are; what cannot be taken is one line naming the file and the fix."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from tests.helpers import assert_plain_keras_reproduces, invoke
from tuner.errors import SpaceError
from tuner.models.hypermodels import build, load_hypermodel
from tuner.storage.manifest import open_search

# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager

# A getting-started style: a Sequential with Flatten first, no Input, a one-hot loss by name.
NO_INPUT = """
import keras

def build_model(hp):
    model = keras.Sequential()
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(units=hp.Int("units", min_value=8, max_value=16, step=8),
                                 activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(optimizer=keras.optimizers.Adam(hp.Choice("learning_rate", [1e-2, 3e-3])),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    return model
"""

# A TensorFlow-tutorial style: Flatten(input_shape=(28, 28)), logits out, from_logits=True.
LOGITS = """
import keras

def model_builder(hp):
    model = keras.Sequential([
        keras.layers.Flatten(input_shape=(28, 28)),
        keras.layers.Dense(units=hp.Int("units", min_value=8, max_value=16, step=8),
                           activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model
"""

# Flat rows, as in the CSV, with a one-hot loss object and label smoothing.
FLAT = """
import keras

def build(hp):
    inputs = keras.Input((784,))
    x = keras.layers.Dense(hp.Choice("units", [8, 16]), activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    model.compile("adam", loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1))
    return model
"""


# The guide's "tune model training": a HyperModel whose fit() chooses batch size and shuffling.
FIT = """
import keras
import keras_tuner

CALLS = []  # (batch_size, shuffle) of every model.fit the toolkit ran through this fit


class Tuned(keras_tuner.HyperModel):
    def build(self, hp):
        hp.Fixed("epochs", 2)
        model = keras.Sequential([
            keras.layers.Flatten(),
            keras.layers.Dense(hp.Choice("units", [8, 16]), activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return model

    def fit(self, hp, model, *args, **kwargs):
        batch_size, shuffle = hp.Choice("batch_size", [16, 32]), hp.Boolean("shuffle")
        CALLS.append((batch_size, shuffle))
        return model.fit(*args, batch_size=batch_size, shuffle=shuffle, **kwargs)
"""


def write(tmp_path, text: str, name: str = "mine.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize(
    ("text", "function"),
    [(NO_INPUT, "build_model"), (LOGITS, "model_builder"), (FLAT, "build")],
)
def test_a_guides_hypermodel_builds_to_probabilities_of_raw_pixels(tmp_path, text, function):
    space = load_hypermodel(f"{write(tmp_path, text)}:{function}")
    model = build(space.default_values() | {"augment_strength": 0.0}, space=space, seed=0)
    pixels = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1)).astype(np.uint8)
    probabilities = model.predict(pixels, verbose=0)
    assert probabilities.shape == (4, 10)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5) and (probabilities >= 0).all()


def test_its_losses_train_on_integer_labels():
    from tuner.backend import keras

    from tuner.models.adapters import probability_loss
    from tuner.models.cnn import SparseSmoothedCrossentropy

    assert probability_loss("categorical_crossentropy", "w") == (
        "sparse_categorical_crossentropy",
        False,
    )
    assert probability_loss(keras.losses.categorical_crossentropy, "w")[1] is False
    loss, logits = probability_loss(
        keras.losses.SparseCategoricalCrossentropy(from_logits=True), "w"
    )
    assert loss == "sparse_categorical_crossentropy" and logits
    loss, logits = probability_loss(
        keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2), "w"
    )
    assert isinstance(loss, SparseSmoothedCrossentropy) and loss.label_smoothing == 0.2 and logits


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (FLAT.replace("keras.Input((784,))", "keras.Input((32, 32, 3))"),
         "mine.py:build: the model takes input shape (32, 32, 3); the toolkit feeds 28x28 digits as "
         "one of (28, 28, 1), (28, 28), (784,)"),
        (FLAT.replace("loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1)", 'loss="mse"'),
         "mine.py:build: the model is compiled with loss 'mse'"),
        (FLAT.replace("keras.layers.Dense(10, ", "keras.layers.Dense(1, "),
         "mine.py:build: the model must return one score per class"),
    ],
)  # fmt: skip
def test_what_cannot_be_taken_is_one_line_naming_the_file(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(SpaceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_hypermodel(f"{path}:build")
    result = invoke("search", "--model", f"{path}:build", "--results-dir", tmp_path / "r")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("text", "function"),
    [
        # slow, all three: the builders' models are checked above, and a hypermodel's search,
        # resume and export from the CLI run in the default suite (test_hypermodels.py)
        pytest.param(NO_INPUT, "build_model", marks=pytest.mark.slow),
        pytest.param(LOGITS, "model_builder", marks=pytest.mark.slow),
        pytest.param(FIT, "Tuned", marks=pytest.mark.slow),
    ],
)
def test_run_model_searches_and_exports_a_guides_hypermodel(tmp_path, tiny_dir, text, function):
    reference = f"{write(tmp_path, text, f'{function}.py')}:{function}"
    result = invoke(
        "run", "--model", reference, "--data", tiny_dir, "--trials", 1, "--folds", 2,
        "--results-dir", tmp_path / "r", "--name", "guide", "--in-process",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    search = open_search(tmp_path / "r" / "guide")
    assert search.best is not None and "units" in search.varying
    from tuner.data.kaggle import load_csv

    test = load_csv(tiny_dir / "test.csv", labelled=False)
    directory = tmp_path / "r" / "guide"
    assert_plain_keras_reproduces(
        directory / "best.keras", test.images, directory / "submission.csv"
    )


def test_a_space_file_with_only_a_search_table_gives_a_model_its_settings(tmp_path, tiny_dir):
    """As the README says: with --model, --space gives only the [search] settings."""
    space = tmp_path / "settings.toml"
    space.write_text("[search]\nmax_trials = 1\nfolds = 2\n")
    reference = f"{write(tmp_path, FLAT)}:build"
    result = invoke(
        "search", "--model", reference, "--space", space, "--data", tiny_dir,
        "--results-dir", tmp_path / "r", "--name", "s", "--in-process",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    search = open_search(tmp_path / "r" / "s")
    assert len(search.records) == 1 and search.folds == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[search]\nfolds = 1\n")
    refused = invoke("search", "--model", reference, "--space", bad, "--results-dir", tmp_path)
    assert (
        refused.exit_code == 2 and "bad.toml: search.folds: must be >= 2, got 1" in refused.output
    )


def test_a_hypermodels_fit_is_called_and_what_it_declares_is_searched(tmp_path, tiny_train):
    import importlib.util

    from tuner.search.driver import run_search
    from tuner.settings import SearchConfig
    from tuner.training.fit import Recipe, fit_model

    path = write(tmp_path, FIT, "tuned.py")
    space = load_hypermodel(f"{path}:Tuned")
    assert {"units", "batch_size", "shuffle"} <= set(space.varying())
    spec = importlib.util.spec_from_file_location("tuned_for_the_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    space = load_hypermodel(module.Tuned())  # its CALLS are this test's to read
    values = {"units": 8, "batch_size": 32, "shuffle": False, "epochs": 1, "augment_strength": 0.0}
    fit = fit_model(Recipe(values, space), tiny_train.images[:64], tiny_train.labels[:64], seed=0)
    assert module.CALLS[-1] == (32, False) and len(fit.history["loss"]) == 1
    config = SearchConfig(name="fit", results_dir=tmp_path, max_trials=2, folds=2, isolate=False)
    records = run_search(tiny_train, space, config).records
    assert {"batch_size", "shuffle"} <= set(records[0].hyperparameters)
    chosen = [(r.hyperparameters["batch_size"], r.hyperparameters["shuffle"]) for r in records]
    assert module.CALLS[-4:] == [c for c in chosen for _ in range(2)]  # each trial's 2 folds
    shown = invoke("trials", "fit", "--results-dir", tmp_path)
    assert shown.exit_code == 0 and "batch_size" in shown.output and "shuffle" in shown.output


BRANCHES = """
import keras

def build(hp):
    model = keras.Sequential([keras.layers.Flatten()])
    if hp.Boolean("deeper"):
        with hp.conditional_scope("deeper", [True]):
            model.add(keras.layers.Dense(hp.Choice("extra_units", [8, 16]), activation="relu"))
    if hp.Choice("head", ["plain", "wide"]) == "wide":
        model.add(keras.layers.Dense(hp.Int("wide_units", 16, 32, step=16), activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    return model
"""


def test_hyperparameters_under_a_condition_are_found(tmp_path):
    space = load_hypermodel(f"{write(tmp_path, BRANCHES)}:build")
    assert {"deeper", "extra_units", "head", "wide_units"} <= set(space.varying())
    wide = space.default_values() | {"deeper": True, "extra_units": 16, "head": "wide"}
    model = build(wide | {"augment_strength": 0.0, "wide_units": 32}, space=space, seed=0)
    assert [w.shape[-1] for w in model.weights if w.path.endswith("kernel")][-3:] == [16, 32, 10]

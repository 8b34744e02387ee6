"""Bring your own hypermodel: a KerasTuner-style build(hp) searched, resumed and exported."""

from __future__ import annotations

import json

import pytest

from tests.helpers import ROOT, assert_plain_keras_reproduces, invoke
from tuner.errors import SearchError, SpaceError
from tuner.models.hypermodels import TRAINING_DEFAULTS, ModelSource, load_hypermodel
from tuner.storage.records import TrialState, load_records

# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager

EXAMPLE = ROOT / "examples" / "v5.py"

# The seed's v5 example, run as it is but narrowed for a test: a name declared first is fixed,
# and the example's own hp.Choice / hp.Int of that name then return the fixed value.
WRAPPER = f"""
import importlib.util
from tests.helpers import ROOT, invoke
spec = importlib.util.spec_from_file_location("v5_example", {str(EXAMPLE)!r})
v5 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(v5)

def build(hp):
    hp.Fixed("epochs", 1)
    hp.Fixed("conv_filters", 8)
    hp.Fixed("dense_units", 16)
    hp.Fixed("augment_strength", 0.5)
    return v5.build(hp)
"""


def test_the_v5_example_is_the_seeds_model():
    """examples/v5.py's default point is v5: the built-in builder's v5, layer for layer."""
    from tuner.models.cnn import build_model
    from tuner.models.hypermodels import build
    from tuner.space.spaces import V5

    space = load_hypermodel(f"{EXAMPLE}:build")
    assert space.default_values()["conv_filters"] == 256
    ours = build(space.default_values(), space=space)
    reference = build_model(V5)
    assert ours.count_params() == reference.count_params()
    assert {"conv_blocks", "conv_filters", "dropout", "learning_rate"} <= set(space.varying())


def test_declared_hyperparameters_become_the_space(tmp_path):
    space = load_hypermodel(f"{EXAMPLE}:build_small")
    kinds = {e.name: e.type for e in space.hyperparameters}
    assert kinds["conv_blocks"] == "int" and kinds["learning_rate"] == "float"
    assert kinds["conv_filters"] == "choice" and kinds["epochs"] == "fixed"
    lr = next(e for e in space.hyperparameters if e.name == "learning_rate")
    assert (lr.min, lr.max, lr.sampling, lr.default) == (3e-4, 3e-3, "log", 1e-3)
    assert space.model == ModelSource(str(EXAMPLE), "build_small")
    assert space.text == EXAMPLE.read_text()
    # what build(hp) leaves out of the toolkit's settings takes TRAINING_DEFAULTS
    bare = tmp_path / "bare.py"
    bare.write_text(
        "import keras\n"
        "def build(hp):\n"
        "    hp.Int('units', 8, 16)\n"
        "    inputs = keras.Input((28, 28, 1))\n"
        "    x = keras.layers.Flatten()(inputs)\n"
        "    return keras.Model(inputs, keras.layers.Dense(10, activation='softmax')(x))\n"
    )
    defaults = load_hypermodel(bare).default_values()
    assert defaults == {"units": 8, **TRAINING_DEFAULTS}


@pytest.mark.parametrize(
    "body, message",
    [
        ("def other(hp): pass", "no 'build' in it"),
        ("raise RuntimeError('boom')", "importing it raised RuntimeError: boom"),
        ("def build(hp): raise KeyError('x')", r"build\(hp\) raised KeyError"),
        ("def build(hp): return 3", "must return a keras.Model"),
        (
            "import keras\ndef build(hp):\n    i = keras.Input((32, 32, 3))\n"
            "    return keras.Model(i, keras.layers.Dense(10)(keras.layers.Flatten()(i)))",
            r"takes input shape \(32, 32, 3\); the toolkit feeds 28x28 digits as one of",
        ),
        (
            "import keras\ndef build(hp):\n    i = keras.Input((28, 28, 1))\n"
            "    return keras.Model(i, keras.layers.Dense(1)(keras.layers.Flatten()(i)))",
            r"one score per class.*\(1,\)",
        ),
    ],
    ids=["no-function", "import-error", "build-raises", "not-a-model", "rgb-input", "one-score"],
)
def test_a_broken_hypermodel_is_refused_naming_the_file(tmp_path, body, message):
    path = tmp_path / "mine.py"
    path.write_text(body + "\n")
    with pytest.raises(SpaceError, match=message) as caught:
        load_hypermodel(f"{path}:build")
    assert str(path) in str(caught.value)


def test_a_bad_model_reference_is_one_line_exit_2(tmp_path):
    result = invoke("search", "--model", tmp_path / "missing.py:build", "--results-dir", tmp_path)
    assert result.exit_code == 2
    assert "missing.py: no such file" in result.output
    result = invoke("search", "--model", "notes.txt", "--results-dir", tmp_path)
    assert result.exit_code == 2 and "FILE.py:FUNCTION" in result.output


def test_a_notebook_function_needs_in_process_trials(tiny_train, tmp_path):
    """A build defined in __main__ (a notebook) cannot reach spawned trial processes."""
    import keras

    from tuner.search.driver import run_search
    from tuner.search.plan import SearchConfig

    def network(hp):
        hp.Int("units", 4, 8)
        inputs = keras.Input((28, 28, 1))
        x = keras.layers.Flatten()(inputs)
        return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))

    network.__module__ = "__main__"
    space = load_hypermodel(network)
    with pytest.raises(SearchError, match="isolate=False"):
        run_search(tiny_train, space, SearchConfig(name="nb", results_dir=tmp_path))
    assert not (tmp_path / "nb").exists()


def test_the_python_api_searches_a_build_function(tiny_train, tmp_path, capsys):
    import keras

    from tuner.search.driver import run_search
    from tuner.search.plan import SearchConfig

    def build(hp):
        hp.Fixed("epochs", 3)
        hp.Fixed("augment_strength", 0.0)
        units = hp.Choice("units", [8, 16])
        inputs = keras.Input((28, 28, 1))
        x = keras.layers.Flatten()(inputs)
        x = keras.layers.Dense(units, activation="relu")(x)
        model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
        model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
        return model

    result = run_search(
        tiny_train,
        load_hypermodel(build),
        SearchConfig(name="api", results_dir=tmp_path, max_trials=2, folds=2, isolate=False),
        progress=True,  # one word: lines here (no terminal), bars on one
    )
    shown = capsys.readouterr().out
    assert "search api: 2 trials x 2 folds" in shown and "search left" in shown
    assert [r.state for r in result.records] == [TrialState.COMPLETE] * 2
    assert sorted(r.hyperparameters["units"] for r in result.records) == [8, 16]
    assert result.best.mean > 0.3  # learned something: chance is 0.1


def test_search_resume_and_export_a_hypermodel_from_the_cli(tmp_path, tiny_dir):
    """The seed's v5 example through `run`: CV in trial processes, trials, resume, a plain-Keras
    best.keras that reproduces the submission; a changed file is refused."""
    wrapper = tmp_path / "mine.py"
    wrapper.write_text(WRAPPER)
    args = ("run", "--model", f"{wrapper}:build", "--data", tiny_dir, "--trials", 2,
            "--folds", 2, "--results-dir", tmp_path / "r", "--name", "byo")  # fmt: skip
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    directory = tmp_path / "r" / "byo"
    manifest = json.loads((directory / "search.json").read_text())
    assert manifest["space"]["model"] == f"{wrapper}:build"
    assert "dropout" in manifest["space"]["varying"]
    records = load_records(directory / "tuner")
    assert [r.state for r in records] == [TrialState.COMPLETE] * 2
    assert all(r.hyperparameters["conv_filters"] == 8 for r in records)
    assert len({json.dumps(r.hyperparameters, sort_keys=True) for r in records}) == 2
    shown = invoke("trials", "byo", "--results-dir", tmp_path / "r")
    assert shown.exit_code == 0 and "dropout" in shown.output
    from tuner.analysis.tensorboard_logs import read_hparams

    (experiment,) = read_hparams(directory / "tensorboard")
    assert "dropout" in {h.name for h in experiment.experiment.hparam_infos}

    from tuner.data.kaggle import load_data

    test = load_data(str(tiny_dir)).test
    assert_plain_keras_reproduces(
        directory / "best.keras", test.images, directory / "submission.csv"
    )

    again = invoke("search", *args[1:])  # resumes: both trials are done, nothing runs
    assert again.exit_code == 0, again.output
    assert len(load_records(directory / "tuner")) == 2

    wrapper.write_text(WRAPPER.replace('"dense_units", 16', '"dense_units", 32'))
    changed = invoke("export", "byo", "--data", tiny_dir, "--results-dir", tmp_path / "r")
    assert changed.exit_code == 2
    assert "mine.py changed since the search ran" in changed.output

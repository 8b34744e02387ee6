"""Search spaces: bundled files, validation errors, conversion to keras-tuner."""

from __future__ import annotations

import sys

import pytest

from tests.helpers import ROOT, TINY_HP, write_space
from tests.helpers import search_config as config
from tuner.errors import SearchError, SpaceError
from tuner.search.driver import prepare_search, run_search
from tuner.space.spaces import HYPERPARAMETERS, V5, bundled_spaces, load_space


def test_bundled_spaces_load_and_v5_default_point_is_v5():
    assert {"quick", "v5"} <= set(bundled_spaces())
    v5 = load_space("v5")
    assert v5.default_values() == V5
    assert set(v5.varying()) >= {
        "conv_blocks",
        "conv_filters",
        "dense_layers",
        "dense_units",
        "conv_dropout",
        "dense_dropout",
        "learning_rate",
        "input_batch_norm",
        "augment_strength",
        "epochs",
        "batch_size",
    }
    # the CPU profile: searched cheaply, retrained long; its default point is the hand-written CNN
    quick = load_space("search_spaces/quick.toml")
    assert quick.search.max_trials >= 2 and quick.search.folds == 3
    assert quick.search.prune and quick.search.time_budget <= 25
    assert quick.search.search_images and quick.search.final_epochs
    assert quick.search.final_epochs > quick.default_values()["epochs"]
    assert quick.search.budget_images == 37800  # its budget is for Kaggle's images less 10 %
    # a holdout of its own measures the export (at Kaggle's size: 4,200 images, about +-0.25
    # point at 99.6 %), and with 2 final models or more the submission still sees every image
    assert quick.search.holdout == 0.1 and quick.search.final_models >= 2
    # one screening round, short: the run budget's minutes go to the final models' epochs
    assert quick.search.max_trials == quick.search.screen + quick.search.screen_keep
    assert quick.search.time_budget < quick.search.run_budget / 3 <= 10
    sys.path.insert(0, str(ROOT / "bench"))
    import handwritten

    point = quick.default_values()
    assert {k: point[k] for k in handwritten.model_values} == handwritten.model_values
    assert load_space("small-vgg").search.time_budget == 22  # the earlier quick profile
    full = load_space("full")  # the GPU profile: the seed's augmentation, v5's neighbourhood
    assert full.search.folds == 3 and full.search.prune and full.search.holdout == 0.1
    # within one device lease's call: bench/gpu_check.sh gives the whole run 540 s, the loading
    # of the data and the export's predictions included
    assert full.search.time_budget < full.search.run_budget <= 8.5
    assert full.default_values()["augment_strength"] == 1.0
    assert full.default_values()["conv_batch_norm"] and full.default_values()["lr_decay"]


def test_space_becomes_keras_tuner_hyperparameters():
    from tuner.models.hypermodels import keras_tuner_space

    hp = keras_tuner_space(load_space("v5"))
    assert set(hp.values) == set(HYPERPARAMETERS)
    assert hp.values == V5  # keras-tuner's defaults are v5's values
    names = {p.name: type(p).__name__ for p in hp.space}
    assert names["learning_rate"] == "Float" and names["conv_filters"] == "Choice"
    assert names["input_batch_norm"] == "Boolean" and names["kernel_size"] == "Fixed"


def test_missing_hyperparameters_take_v5_values(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[hyperparameters]\nconv_blocks = { type = "int", min = 1, max = 2 }\n')
    space = load_space(path)
    values = space.default_values()
    assert values["conv_blocks"] == 1 and values["dense_units"] == 256 and values["epochs"] == 100
    assert space.varying() == ["conv_blocks"]


BAD = {
    "unknown table": ("[hyperparameters]\nepochs = 1\n[extra]\n", "unknown table 'extra'"),
    "unknown search key": (
        "[search]\ntrials = 3\n[hyperparameters]\nepochs = 1\n",
        "search.trials: unknown key",
    ),
    "unknown hyperparameter": (
        "[hyperparameters]\nwidth = 3\n",
        "hyperparameters.width: unknown hyperparameter",
    ),
    "unknown key in entry": (
        '[hyperparameters]\nepochs = { type = "int", min = 1, max = 2, low = 1 }\n',
        "hyperparameters.epochs: unknown key 'low'",
    ),
    "wrong type": (
        '[hyperparameters]\nepochs = "ten"\n',
        "hyperparameters.epochs: expected int, got 'ten'",
    ),
    "float for int": (
        '[hyperparameters]\nconv_blocks = { type = "int", min = 1.5, max = 3 }\n',
        "hyperparameters.conv_blocks.min: expected int, got 1.5",
    ),
    "min > max": (
        '[hyperparameters]\nconv_blocks = { type = "int", min = 3, max = 2 }\n',
        "min must be <= max, got min=3, max=2",
    ),
    "empty choice": (
        '[hyperparameters]\ndense_units = { type = "choice", values = [] }\n',
        "hyperparameters.dense_units.values: expected a non-empty list",
    ),
    "out of domain": (
        '[hyperparameters]\nconv_blocks = { type = "int", min = 1, max = 5 }\n',
        "hyperparameters.conv_blocks.max: must be within 1..4",
    ),
    "unknown type": (
        '[hyperparameters]\nepochs = { type = "range", min = 1, max = 2 }\n',
        "hyperparameters.epochs.type: expected one of",
    ),
    "log needs positive": (
        '[hyperparameters]\nconv_dropout = { type = "float", min = 0.0, max = 0.5,'
        ' sampling = "log" }\n',
        "'log' sampling needs min > 0",
    ),
    "bad default": (
        '[hyperparameters]\ndense_units = { type = "choice", values = [8, 16], default = 32 }\n',
        "default: 32 is not one of [8, 16]",
    ),
    "boolean type on int": (
        '[hyperparameters]\nepochs = { type = "boolean" }\n',
        "epochs is int, got type 'boolean'",
    ),
    "folds < 2": (
        "[search]\nfolds = 1\n[hyperparameters]\nepochs = 1\n",
        "search.folds: must be >= 2, got 1",
    ),
    "no hyperparameters": ("[search]\nfolds = 3\n", "needs a non-empty [hyperparameters] table"),
    "one measured gain": (
        "[hyperparameters]\nepochs = 1\n[estimate]\ngains = [0.7]\ntrain_images = 100\n",
        "estimate.gains: expected a list of at least 2 gains in points",
    ),
    "gain not a number": (
        '[hyperparameters]\nepochs = 1\n[estimate]\ngains = [0.7, "x"]\ntrain_images = 100\n',
        "estimate.gains: expected a list",
    ),
    "no train images": (
        "[hyperparameters]\nepochs = 1\n[estimate]\ngains = [0.7, 0.5]\n",
        "estimate.train_images: expected a number of images >= 1, got None",
    ),
    "unknown estimate key": (
        "[hyperparameters]\nepochs = 1\n[estimate]\ngain = 0.7\n",
        "estimate.gain: unknown key",
    ),
    "invalid toml": ("[hyperparameters\n", "invalid TOML"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_space_names_file_and_key(tmp_path, case):
    text, expected = BAD[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SpaceError) as info:
        load_space(path)
    assert str(info.value).startswith(str(path))
    assert expected in str(info.value)


def test_estimate_table_is_the_measured_gain_per_seed(tmp_path):
    path = tmp_path / "profile.toml"
    path.write_text(
        "[hyperparameters]\nepochs = 1\n[estimate]\ngains = [0.8, 0.6]\ntrain_images = 37800\n"
    )
    correction = load_space(path).estimate
    assert correction.gains == (0.8, 0.6) and correction.train_images == 37800
    assert correction.mean == pytest.approx(0.7)
    assert correction.sd == pytest.approx(0.1414, abs=1e-4)  # sample sd of the two seeds
    assert load_space("small-vgg").estimate is None


def test_unknown_space_name_lists_bundled_ones(tmp_path):
    with pytest.raises(SpaceError, match="unknown search space 'nope'.*quick"):
        load_space("nope")
    with pytest.raises(SpaceError, match="no such file"):
        load_space(tmp_path / "missing.toml")


def test_search_table_takes_oracle_prune_and_early_stopping(tmp_path):
    space = write_space(
        tmp_path, 'oracle = "bayesian"\nprune = true\nearly_stopping = 2', "epochs = 1"
    )
    assert (space.search.oracle, space.search.prune, space.search.early_stopping) == (
        "bayesian",
        True,
        2,
    )
    defaults = write_space(tmp_path, "", "epochs = 1").search
    assert (defaults.oracle, defaults.prune, defaults.early_stopping) == ("random", False, None)


@pytest.mark.parametrize(
    "search, message",
    [
        (
            'oracle = "grid"',
            "search.oracle: expected one of random, bayesian, hyperband, got 'grid'",
        ),
        ('prune = "yes"', "search.prune: expected bool, got 'yes'"),
        ("early_stopping = -1", "search.early_stopping: must be 0 .off. or >= 1 epochs, got -1"),
        ("early_stopping = true", "search.early_stopping: expected int, got True"),
        ("time_budget = -1", "search.time_budget: must be >= 0 minutes, got -1"),
        ("run_budget = -5", "search.run_budget: must be >= 0 minutes, got -5"),
        ('run_budget = "30"', "search.run_budget: expected float, got '30'"),
    ],
)
def test_bad_search_settings_name_the_key(tmp_path, search, message):
    with pytest.raises(SpaceError, match=message) as e:
        write_space(tmp_path, search, "epochs = 1")
    assert str(tmp_path / "space.toml") in str(e.value)


def test_a_time_budget_stated_for_more_images_shrinks_in_proportion(tmp_path, tiny_train):
    """budget_images: a profile sized for Kaggle's 42,000 images does not spend that budget on
    the embedded 4,000; a budget given on the command line is minutes as said; none grows."""
    from tuner.search.plan import plan_search

    space = write_space(tmp_path, "time_budget = 20\nbudget_images = 3000", TINY_HP)
    plan, manifest = plan_search(tiny_train, space, config(tmp_path))  # 300 images
    assert plan.time_budget == 2.0 and plan.budget_stated == 20
    assert manifest["config"]["time_budget_minutes"] == 2.0  # what the search ran with
    assert plan.trial_timeout == 20  # a trial is not killed by the scaled budget
    held, _ = plan_search(tiny_train, space, config(tmp_path, holdout=0.2))  # 240 searched
    assert held.time_budget == 1.6
    given, _ = plan_search(tiny_train, space, config(tmp_path, time_budget=5))
    assert given.time_budget == 5 and given.budget_stated is None
    big = write_space(tmp_path, "time_budget = 20\nbudget_images = 100", TINY_HP)
    assert plan_search(tiny_train, big, config(tmp_path))[0].time_budget == 20
    with pytest.raises(SpaceError, match="search.budget_images: must be >= 1 images, got 0"):
        write_space(tmp_path, "budget_images = 0", TINY_HP)


def test_a_run_budget_stated_for_more_images_shrinks_with_the_time_budget(tmp_path, tiny_train):
    """The embedded digits get the quick profile's run (search and final models) in proportion,
    not 29 minutes for 4,000 images; a run budget given on the command line is taken as said."""
    from tuner.search.plan import plan_search

    space = write_space(
        tmp_path, "time_budget = 20\nrun_budget = 30\nbudget_images = 3000", TINY_HP
    )
    plan, manifest = plan_search(tiny_train, space, config(tmp_path))  # 300 images
    assert plan.run_budget == 3.0 and manifest["config"]["run_budget_minutes"] == 3.0
    given, _ = plan_search(tiny_train, space, config(tmp_path, run_budget=7))
    assert given.run_budget == 7


def test_a_space_keeps_its_holdout_unless_the_user_says_otherwise(tmp_path, tiny_train):
    """[search] holdout: the space's fraction is held out of the search and the retrain and
    recorded; --holdout F takes F, --holdout 0 keeps none; a fraction too small for the data
    names the space and the way out."""
    from tuner.search.plan import plan_search

    space = write_space(tmp_path, "holdout = 0.1", TINY_HP)
    plan, manifest = plan_search(tiny_train, space, config(tmp_path))  # 300 images
    assert len(plan.held_out) == 30 and plan.retrain_images == 270
    assert manifest["config"]["holdout"] == 0.1 and manifest["config"]["holdout_size"] == 30
    given, manifest = plan_search(tiny_train, space, config(tmp_path, holdout=0.2))
    assert len(given.held_out) == 60 and manifest["config"]["holdout"] == 0.2
    none, manifest = plan_search(tiny_train, space, config(tmp_path, holdout=0))
    assert none.held_out is None and none.retrain_images == 300
    assert manifest["config"]["holdout"] is None and manifest["config"]["holdout_size"] == 0
    small = write_space(tmp_path, "holdout = 0.02", TINY_HP)
    with pytest.raises(SearchError, match=r"space.toml: the space's holdout=0.02 of 300 images is "
                       r"too small.*pass --holdout 0"):  # fmt: skip
        plan_search(tiny_train, small, config(tmp_path))
    with pytest.raises(SpaceError, match="search.holdout: must be within 0..0.5, got 0.9"):
        write_space(tmp_path, "holdout = 0.9", TINY_HP)


def test_pruning_with_hyperband_is_refused(tmp_path, tiny_train):
    space = write_space(tmp_path, "", TINY_HP + "epochs = 3")
    with pytest.raises(SearchError, match="pruning is for the random and bayesian oracles"):
        run_search(tiny_train, space, config(tmp_path, oracle="hyperband", prune=True))
    assert not (tmp_path / "s").exists()  # nothing written
    # a space that prunes by default yields to --oracle hyperband (it used to say "drop --prune"
    # to a user who gave none)
    pruning = write_space(tmp_path, "prune = true", TINY_HP + "epochs = 3")
    plan = prepare_search(tiny_train, pruning, config(tmp_path, oracle="hyperband"))
    assert plan.oracle == "hyperband" and plan.prune is False

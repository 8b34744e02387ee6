"""What reaches into keras-tuner's internals (tuner.compat.keras_tuner): the names it relies on
still exist, and a trial queued again does not keep what its earlier run reported."""

from __future__ import annotations

import json

import keras_tuner

from tuner.compat.keras_tuner import fresh_retries


def test_the_private_names_relied_on_exist():
    from keras_tuner.src import utils
    from keras_tuner.src.engine import oracle

    assert callable(utils.save_json)
    assert hasattr(oracle, "LOCKS") and hasattr(oracle, "THREADS")
    fresh = keras_tuner.oracles.RandomSearchOracle(max_trials=1)
    assert hasattr(fresh, "_retry_queue") and hasattr(fresh, "end_order")
    assert callable(fresh._get_oracle_fname)
    assert callable(keras_tuner.Tuner._get_tuner_fname)
    assert callable(fresh._random_values) and callable(fresh._compute_values_hash)
    assert callable(fresh._record_values)
    from keras_tuner.src import config

    assert hasattr(config, "DEBUG")


def test_declared_hyperparameters_read_every_kind():
    from tuner.compat.keras_tuner import declared_hyperparameters

    hp = keras_tuner.HyperParameters()
    hp.Int("a", 1, 5, step=2)
    hp.Float("b", 1e-4, 1e-2, sampling="log")
    hp.Choice("c", [8, 16])
    hp.Boolean("d")
    hp.Fixed("e", 3)
    kinds = dict((c["name"], kind) for kind, c in declared_hyperparameters(hp))
    assert kinds == {"a": "Int", "b": "Float", "c": "Choice", "d": "Boolean", "e": "Fixed"}
    config = dict((c["name"], c) for _, c in declared_hyperparameters(hp))
    assert (config["a"]["min_value"], config["a"]["max_value"], config["a"]["step"]) == (1, 5, 2)
    assert config["b"]["sampling"] == "log" and config["c"]["values"] == [8, 16]
    assert config["e"]["value"] == 3


def test_a_poisoned_trial_is_rerun_without_its_forged_score(tmp_path):
    """A chief that took a stranger's report for a running trial saved it in trial.json; resumed,
    the trial is queued again and must not end with that value (keras-tuner's tuner skips its own
    report when the objective is there already)."""
    hp = keras_tuner.HyperParameters()
    hp.Int("units", 1, 100)

    def oracle():
        made = keras_tuner.oracles.RandomSearchOracle(
            objective=keras_tuner.Objective("val_accuracy", "max"),
            max_trials=5,
            hyperparameters=hp,
            seed=1,
        )
        made._set_project_dir(str(tmp_path), "tuner")
        return made

    first = oracle()
    trial = first.create_trial("worker0")
    first.update_trial(trial.trial_id, {"val_accuracy": 0.5})  # the forged report
    first.save()

    resumed = oracle()
    resumed.reload()
    assert resumed._retry_queue == [trial.trial_id]
    assert resumed.trials[trial.trial_id].metrics.exists("val_accuracy")
    fresh_retries(resumed)
    again = resumed.create_trial("worker1")
    assert again.trial_id == trial.trial_id
    assert not again.metrics.exists("val_accuracy")
    saved = json.loads((tmp_path / "tuner" / f"trial_{trial.trial_id}" / "trial.json").read_text())
    assert saved["metrics"]["metrics"] == {}

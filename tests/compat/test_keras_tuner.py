"""What reaches into keras-tuner's internals (tuner.compat.keras_tuner): the names it relies on still exist,
and a distributed chief refuses what no worker of the search would send."""

from __future__ import annotations

import json
import threading

import keras_tuner
import pytest

from tuner.compat.keras_tuner import RejectedRequest, validate_chief_requests


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


@pytest.fixture
def chief(tmp_path):
    hp = keras_tuner.HyperParameters()
    hp.Int("units", 1, 100)
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("val_accuracy", "max"),
        max_trials=5,
        hyperparameters=hp,
        seed=1,
    )
    oracle._set_project_dir(str(tmp_path), "tuner")
    validate_chief_requests(oracle, tmp_path / "tuner")
    return oracle, tmp_path / "tuner"


def _call_in_time(function, *args):
    """Calls ``function`` in a thread; fails if it blocks (a leaked oracle lock deadlocks)."""
    outcome = {}

    def target():
        try:
            outcome["value"] = function(*args)
        except Exception as e:  # noqa: BLE001 - the test looks at it
            outcome["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the chief's oracle is deadlocked"
    return outcome


def test_the_chief_refuses_forged_requests_and_stays_responsive(chief):
    oracle, tuner_dir = chief
    trial = oracle.create_trial("worker0")
    assert trial.status == "RUNNING"

    bad = [
        (oracle.get_trial, "999", "unknown trial id"),
        (oracle.update_trial, "999", {"val_accuracy": 0.5}, "unknown trial id"),
        (oracle.update_trial, trial.trial_id, {"val_accuracy": 7.0}, "finite accuracy in 0..1"),
        (oracle.update_trial, trial.trial_id, {"loss": 0.1}, "unknown metric"),
        (oracle.create_trial, "chief-impostor", "bad worker id"),
    ]
    for function, *args, message in bad:
        outcome = _call_in_time(function, *args)
        assert isinstance(outcome.get("error"), RejectedRequest), (args, outcome)
        assert message in str(outcome["error"])

    # completion without a score, or with hyperparameters other than the ones handed out
    forged = keras_tuner.engine.trial.Trial(
        oracle.get_space(), trial_id=trial.trial_id, status="COMPLETED"
    )
    forged.hyperparameters.values = {"units": 1 if trial.hyperparameters["units"] != 1 else 2}
    outcome = _call_in_time(oracle.end_trial, forged)
    assert "hyperparameters differ" in str(outcome["error"])
    honest = keras_tuner.engine.trial.Trial(
        trial.hyperparameters.copy(), trial_id=trial.trial_id, status="COMPLETED"
    )
    assert "completed without a score" in str(_call_in_time(oracle.end_trial, honest)["error"])

    # a score that is not its folds' mean
    _call_in_time(oracle.update_trial, trial.trial_id, {"val_accuracy": 0.9})
    trial_dir = tuner_dir / f"trial_{trial.trial_id}"
    (trial_dir / "cv.json").write_text(
        json.dumps({"folds": [{"val_accuracy": 0.5}, {"val_accuracy": 0.6}]})
    )
    assert "differs from its folds' mean" in str(_call_in_time(oracle.end_trial, honest)["error"])

    # the honest path still works, and a finished trial cannot be ended again
    (trial_dir / "cv.json").write_text(
        json.dumps({"folds": [{"val_accuracy": 0.85}, {"val_accuracy": 0.95}]})
    )
    assert "error" not in _call_in_time(oracle.end_trial, honest)
    assert oracle.trials[trial.trial_id].status == "COMPLETED"
    assert "is not running" in str(_call_in_time(oracle.end_trial, honest)["error"])
    assert oracle.create_trial("worker0").trial_id != trial.trial_id

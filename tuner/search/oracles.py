"""The oracles that pick a search's trials: keras-tuner's random, Bayesian and Hyperband ones, and
the screening oracle (screen, then search: ``tuner.screening``)."""

from __future__ import annotations

from tuner.backend import keras  # noqa: F401  (Keras loads quietly before keras-tuner)

import keras_tuner

from tuner.models.hypermodels import keras_tuner_space
from tuner.screening.oracle import ScreeningOracle
from tuner.space.spaces import SearchSpace
from tuner.space.values import hyperband_epochs

__all__ = ["OBJECTIVE", "make_oracle"]

OBJECTIVE = "val_accuracy"  # mean over the folds, maximized


def make_oracle(plan, space: SearchSpace, seed: int):
    """The oracle of a search's ``plan`` (``tuner.search.plan.SearchPlan``) over ``space``."""
    common = dict(
        objective=keras_tuner.Objective(OBJECTIVE, direction="max"),
        # keras-tuner takes seed=0 for "no seed" (`seed or random.randint(...)`): shift by one so
        # that every seed, 0 included, gives a reproducible sequence of trials.
        seed=seed + 1,
        hyperparameters=keras_tuner_space(space),
        tune_new_entries=False,
        allow_new_entries=False,
        max_retries_per_trial=0,
        # keras-tuner's own cap raises before it saves the failing trial and counts failures over
        # the whole history (a resumed search with a lower cap would never save a trial again);
        # the tuner counts them itself, after each trial is saved (CVTuner.on_trial_end).
        max_consecutive_failed_trials=None,
    )
    if plan.oracle == "bayesian":
        return keras_tuner.oracles.BayesianOptimizationOracle(
            max_trials=plan.max_trials, num_initial_points=min(plan.max_trials, 3), **common
        )
    if plan.oracle == "hyperband":
        return keras_tuner.oracles.HyperbandOracle(
            max_epochs=hyperband_epochs(space), factor=3, hyperband_iterations=1, **common
        )
    if plan.screening is not None:
        return ScreeningOracle(plan.screening, OBJECTIVE, max_trials=plan.max_trials, **common)
    return keras_tuner.oracles.RandomSearchOracle(max_trials=plan.max_trials, **common)

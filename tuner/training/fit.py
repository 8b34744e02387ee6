"""Fitting one model: what every fold of a trial, the export's retrain and the benchmarks share."""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from tuner.backend import fit_inputs, fresh_session, keras

import numpy as np
from sklearn.model_selection import train_test_split

from tuner.data.kaggle import DIGITS
from tuner.errors import SearchError
from tuner.models.hypermodels import (
    build,
    call_fit,
    hyperparameters_for,
    keras_tuner_space,
    user_fit,
)
from tuner.space.values import resolve_values
from tuner.storage.atomic import atomic_path
from tuner.storage.directory import WEIGHTS_FILE
from tuner.storage.records import TrialRecord
from tuner.training.callbacks import EpochClock, ValidationClock

__all__ = [
    "EARLY_STOPPING_SPLIT",
    "Fit",
    "Recipe",
    "Speed",
    "early_stopping_split",
    "fit_model",
    "fold_models",
    "fold_seed",
    "load_fold_weights",
    "save_weights",
    "training_speed",
]


def load_fold_weights(model, path: str | os.PathLike) -> None:
    """Loads a fold model's weights and its optimizer's state (Adam's moments) into ``model``.

    The optimizer is built first: an unbuilt one has no variables to receive the saved state, and
    Keras would skip it with a warning.
    """
    model.optimizer.build(model.trainable_variables)
    model.load_weights(path)


def save_weights(model, path: str) -> None:
    """``model.save_weights`` atomically (``tuner.storage.atomic.atomic_path``, its crash-test
    points included)."""
    with atomic_path(path, suffix=".weights.h5") as tmp:
        model.save_weights(str(tmp))


# Early stopping watches this fraction of each training fold (stratified), never the CV fold.
EARLY_STOPPING_SPLIT = 0.1


def early_stopping_split(
    y: np.ndarray, train_idx: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Splits a training fold into (fit, watch) index arrays, stratified and seeded."""
    return train_test_split(
        train_idx, test_size=EARLY_STOPPING_SPLIT, stratify=y[train_idx], random_state=seed
    )


def fold_seed(seed: int, trial_id: str, fold: int) -> int:
    """The seed of one fold's model and augmentation stream."""
    return (seed * 1_000_003 + int(trial_id) * 101 + fold) % (2**31 - 1)


@dataclass(frozen=True)
class Recipe:
    """What one model is built and trained from, wherever it trains (a trial's fold, the export's
    final model, a benchmark): the same three travel together to every fit."""

    values: dict[str, Any]  # complete hyperparameter values (``resolve_values``)
    space: Any = None  # the space when it holds the user's hypermodel (None: the built-in CNN)
    classes: int = len(DIGITS)  # the model's outputs (``tuner.data.Dataset.classes``' count)

    @property
    def epochs(self) -> int:
        return int(self.values["epochs"])

    @property
    def batch_size(self) -> int:
        return int(self.values["batch_size"])

    @classmethod
    def of(cls, hyperparameters: dict[str, Any], space=None, classes: int = len(DIGITS)) -> Recipe:
        """A trial's model: its recorded hyperparameters completed with the space's values for
        the rest (``resolve_values``)."""
        return cls(resolve_values(hyperparameters, space), space, classes)

    def for_epochs(self, epochs: int) -> Recipe:
        """The same model trained for ``epochs``."""
        return replace(self, values={**self.values, "epochs": int(epochs)})


class Fit(NamedTuple):
    """What ``fit_model`` returns."""

    model: Any
    history: dict[str, list[float]]  # per-epoch Keras logs
    seconds: float  # wall time of ``fit``, validation passes included
    validation_seconds: float  # of which the validation passes (0 without validation data)


def fit_model(
    recipe: Recipe,
    x: np.ndarray,
    y: np.ndarray,
    *,
    seed: int,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    callbacks: list | None = None,
    resume: tuple[str | os.PathLike, int] | None = None,
    start: list[np.ndarray] | None = None,
) -> Fit:
    """Builds one model of ``recipe`` and trains it on ``(x, y)``: what every fold of a trial,
    the export's retrain and the benchmarks do, in one place.

    A fresh Keras session, every random stream seeded with ``seed`` (weights, shuffling, the
    augmentation layer), ``recipe.epochs`` epochs of ``recipe.batch_size`` images.

    Args:
        y: class indices, below ``recipe.classes``.
        validation: scored after each epoch (the history's ``val_*`` curves).
        resume: (saved weights, the epochs they were trained): go on from them.
        start: the weights (``model.get_weights()``) of a model of the same recipe to start
            from, with a fresh optimizer and learning-rate schedule: a warm restart.

    Returns:
        ``Fit``: the model, its history as {name: [per-epoch floats]}, the seconds of ``fit``
        and, of those, the validation passes' (the run budget's retrain estimate leaves them
        out: the retrain has none).
    """
    if len(y) and int(y.max()) >= recipe.classes:
        raise ValueError(f"label index {int(y.max())} for a model of {recipe.classes} classes")
    weights, initial_epoch = resume if resume is not None else (None, 0)
    model = _fresh_model(recipe, seed, len(x), weights)
    if start is not None:
        model.set_weights(start)
    clock = ValidationClock()
    started = time.perf_counter()
    given = dict(
        epochs=recipe.epochs,
        initial_epoch=initial_epoch,
        verbose=0,
        callbacks=[*(callbacks or []), clock],
    )
    fit = user_fit(recipe.space)
    if fit is None:
        data = fit_inputs(x, y, batch_size=recipe.batch_size, seed=seed, validation=validation)
        history = model.fit(**data, **given)
    else:  # the user's HyperModel.fit, as keras-tuner calls it: with the arrays
        hp = hyperparameters_for(keras_tuner_space(recipe.space), recipe.values)
        defaults = {"batch_size": recipe.batch_size, "shuffle": True}
        history = call_fit(fit, hp, model, x, y, defaults, validation_data=validation, **given)
    seconds = time.perf_counter() - started
    logs = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    return Fit(model, logs, seconds, clock.seconds)


def _fresh_model(recipe: Recipe, seed: int, train_size: int, weights):
    """``recipe``'s model in a fresh Keras session, every random stream seeded with ``seed``,
    with ``weights`` loaded when given."""
    fresh_session()
    gc.collect()
    keras.utils.set_random_seed(seed)
    model = build(
        recipe.values, space=recipe.space, seed=seed, train_size=train_size,
        classes=recipe.classes,
    )  # fmt: skip
    if weights is not None:
        load_fold_weights(model, weights)
    return model


class Speed(NamedTuple):
    """How fast a recipe trains here now (``training_speed``)."""

    images_per_second: float  # once its epochs run at speed
    # what one fit spends before that: building the model, tracing its graphs, the first
    # epoch's warm-up (0 when it cannot be told: a hypermodel's own fit that drops callbacks)
    startup_seconds: float


def training_speed(
    recipe: Recipe, images: np.ndarray, labels: np.ndarray, *, steps: int = 20
) -> Speed:
    """How fast ``recipe`` trains here now: as a fold trains (``fit_model``: the trials' input
    pipeline, or the hypermodel's own ``fit``), two epochs of ``steps`` batches; the training
    images per second of the second, and what the whole fit took beyond two such epochs. What
    the dry run's estimate and the export's final models are planned with."""
    n = min(len(images), steps * recipe.batch_size)
    clock = EpochClock()
    started = time.perf_counter()
    fit = fit_model(recipe.for_epochs(2), images[:n], labels[:n], seed=0, callbacks=[clock])
    took = time.perf_counter() - started
    fresh_session()
    if len(clock.seconds) != 2:  # a hypermodel's own fit dropped the callbacks: half of it
        return Speed(n / max(fit.seconds / 2, 1e-9), 0.0)
    epoch = max(clock.seconds[-1], 1e-9)
    return Speed(n / epoch, max(took - 2 * epoch, 0.0))


def fold_models(record: TrialRecord, seed: int, space=None, classes: int = len(DIGITS)) -> list:
    """The K fold models a trial trained during the search (kept for the best trial), built and
    loaded with their weights."""
    models, recipe = [], Recipe.of(record.hyperparameters, space, classes)
    for fold in record.folds:
        path = Path(record.path) / WEIGHTS_FILE.format(fold=fold.fold)
        if not path.is_file():
            raise SearchError(
                f"{path}: missing; a search keeps the fold models of its best trial only "
                "(searches made before this version keep none): use --ensemble none or top-K"
            )
        model = build(recipe.values, space=recipe.space, seed=seed, train_size=fold.train_size,
                      classes=recipe.classes)  # fmt: skip
        load_fold_weights(model, path)
        models.append(model)
    return models

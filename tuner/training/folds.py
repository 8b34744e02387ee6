"""Training one trial: a fresh model per fold, trained on the fold's training part (augmented on
the fly) and scored on its untouched validation part, in this process (``train_trial``).
``tuner.training.process`` runs it in a fresh trial process, as searches do by default.
"""

from __future__ import annotations

import gc
import math
import os
import time
from dataclasses import dataclass
from typing import Any

from tuner.backend import SCORING_BATCH_SIZE, fresh_session, keras, precision

import numpy as np

from tuner import faults
from tuner.errors import TrialFailed
from tuner.pruners.base import BasePruner
from tuner.space.values import resolve_values
from tuner.storage.directory import WEIGHTS_FILE
from tuner.storage.records import FoldResult
from tuner.training.callbacks import Deadline, EpochEvents, EpochPruning
from tuner.training.fit import Fit, early_stopping_split, fit_model, fold_seed, save_weights
from tuner.training.process import run_in_process
from tuner.ui.events import Reporter

__all__ = [
    "FoldStart",
    "TrialFailed",
    "TrialOutcome",
    "TrialRun",
    "train_trial",
    "train_trial_in_process",
]


@dataclass(frozen=True)
class TrialOutcome:
    folds: list[FoldResult]
    oof: np.ndarray  # (N, 10) float32 out-of-fold probabilities (NaN rows: folds not run)
    params: int
    pruned: str | None = None  # why the trial stopped before its last fold


@dataclass(frozen=True)
class FoldStart:
    """Where a promoted trial's first fold goes on from: its screen's fold model (weights and
    the optimizer's state, ``fold_0.weights.h5``) after ``epochs`` epochs, and the screen's curves
    of those epochs. The screen trained with the trial's values, seeds and schedule, so its
    epochs are the ones the trial would repeat."""

    weights: str
    epochs: int
    history: dict[str, list[float]]


@dataclass(frozen=True)
class TrialRun:
    """How one trial trains, beyond its values and data (``train_trial``'s keyword arguments)."""

    seed: int
    trial_id: str
    reporter: Reporter
    prune: BasePruner | None = None
    early_stopping: int | None = None  # patience in epochs
    save_weights_to: str | None = None
    resume_from: str | None = None
    initial_epoch: int = 0
    space: Any = None
    deadline: float | None = None  # time.monotonic() after which no epoch starts
    first_fold: FoldStart | None = None  # a promoted trial's fold 1: its screen's model


def train_trial(
    values: dict[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
    trial_id: str,
    reporter: Reporter | None = None,
    *,
    prune: BasePruner | None = None,
    early_stopping: int | None = None,
    save_weights_to: str | None = None,
    resume_from: str | None = None,
    initial_epoch: int = 0,
    mixed_precision: bool | None = False,
    space=None,
    time_left: float | None = None,
    first_fold: FoldStart | None = None,
) -> TrialOutcome:
    """Trains and scores one point of the space on every fold, in this process.

    Args:
        values: hyperparameter values (``tuner.space.values.resolve_values`` completes them).
        x, y: all training images (uint8) and labels; ``splits`` index them.
        splits: (train, validation) index arrays, one pair per fold.
        seed, trial_id: seed every fold's model and augmentation (``fold_seed``).
        reporter: receives progress events (fold_begin, epoch_end, fold_end).
        prune: stop a trial that falls behind the earlier ones (``tuner.pruners``), after an
            epoch (not with early stopping: its curves are on another slice) or after a fold.
        early_stopping: patience in epochs: train on 90 % of the training fold, stop when the
            accuracy on the other 10 % has not improved for this many epochs, keep the best
            epoch's weights and record that epoch. None trains every epoch.
        save_weights_to: a directory to keep each fold's weights in (``fold_<k>.weights.h5``).
        resume_from, initial_epoch: go on from the fold weights saved in this directory, trained
            for ``initial_epoch`` epochs already (Hyperband's later rounds).
        mixed_precision: mixed precision (True; ``backend.precision_name``), float32
            (False), or by the hardware (None: ``backend.mixed_precision_default``).
        space: the search space when it holds the user's hypermodel (``tuner.models.hypermodels``);
            None builds the built-in CNN.
        time_left: seconds from now after which the trial stops at the end of its epoch (the
            run budget's share for trials is spent); it ends as a pruned trial would, without a
            final score. None: no limit.
        first_fold: fold 1 goes on from a screen's model instead of training its first epochs
            again (a promoted trial; ``FoldStart``).

    Raises:
        TrialFailed: the loss or the predictions are not finite.
    """
    run = TrialRun(
        seed, trial_id, reporter or Reporter(), prune, early_stopping, save_weights_to,
        resume_from, initial_epoch, space,
        None if time_left is None else time.monotonic() + time_left, first_fold,
    )  # fmt: skip
    values = resolve_values(values, space)
    with precision(mixed_precision):
        outcome = _train_folds(values, x, y, splits, run)
    fresh_session()
    gc.collect()
    return outcome


def train_trial_in_process(
    values, x, y, splits, seed, trial_id, reporter=None, *, timeout=None, process=None, **options
) -> TrialOutcome:
    """``train_trial`` in a trial process (``process``: a ``tuner.training.process.TrialProcess``
    kept warm between trials, or a fresh one), stopped after ``timeout`` seconds."""
    kwargs = dict(values=values, x=x, y=y, splits=splits, seed=seed, trial_id=trial_id, **options)
    if process is None:
        return run_in_process(train_trial, kwargs, reporter, timeout=timeout)
    return process.run(train_trial, kwargs, reporter, timeout=timeout)


def _train_folds(values, x, y, splits, run: TrialRun) -> TrialOutcome:
    results: list[FoldResult] = []
    oof = np.full((len(y), 10), np.nan, dtype=np.float32)
    params, pruned = 0, None
    for fold, (train_idx, val_idx) in enumerate(splits):
        callbacks, watch, clock = _fold_callbacks(values, fold, run)
        fit_idx, watch_idx = train_idx, val_idx  # without early stopping: curves of the CV fold
        if run.early_stopping is not None:
            seed = fold_seed(run.seed, run.trial_id, fold)
            fit_idx, watch_idx = early_stopping_split(y, train_idx, seed)
        fit = _fit_fold(values, x, y, fit_idx, watch_idx, fold, len(splits), callbacks, run)
        fit = _with_earlier_epochs(fit, fold, run)
        params = fit.model.count_params()
        probabilities = _check_finite(fit, x[val_idx], fold)
        oof[val_idx] = probabilities.astype(np.float32)
        results.append(_fold_result(fit, probabilities, y[val_idx], fold, len(fit_idx), run))
        run.reporter.fold_end(fold=fold, val_accuracy=results[-1].val_accuracy, seconds=fit.seconds)
        faults.point("fold_end")
        if run.save_weights_to is not None:
            save_weights(
                fit.model, os.path.join(run.save_weights_to, WEIGHTS_FILE.format(fold=fold))
            )
        del fit
        pruned = _stop_reason(values, results, len(splits), watch, clock, run)
        if pruned is not None:
            break
    return TrialOutcome(folds=results, oof=oof, params=params, pruned=pruned)


def _fold_callbacks(values, fold: int, run: TrialRun):
    """The fold's callbacks, with the epoch pruner (``watch``) and the deadline (``clock``)."""
    callbacks: list = [EpochEvents(run.reporter, int(values["epochs"]))]
    watch = clock = None
    if run.prune is not None and run.early_stopping is None:
        start = _start_of(fold, run)  # judged on its best epoch so far, the screen's included
        best = max(start.history.get("val_accuracy", []), default=0.0) if start else 0.0
        watch = EpochPruning(run.prune, fold, best)
        callbacks.append(watch)
    if run.deadline is not None:
        clock = Deadline(run.deadline)
        callbacks.append(clock)
    if run.early_stopping is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", mode="max", patience=run.early_stopping,
                restore_best_weights=True,
            )
        )  # fmt: skip
    return callbacks, watch, clock


def _start_of(fold: int, run: TrialRun) -> FoldStart | None:
    """The screen's model that ``fold`` goes on from (fold 1 of a promoted trial), or None."""
    return run.first_fold if fold == 0 else None


def _earlier_epochs(fold: int, run: TrialRun) -> tuple[str | None, int]:
    """(the weights ``fold`` goes on from, the epochs they were trained), or (None, 0)."""
    if run.resume_from is not None:  # Hyperband: every fold of the earlier round's trial
        return os.path.join(run.resume_from, WEIGHTS_FILE.format(fold=fold)), run.initial_epoch
    start = _start_of(fold, run)
    return (start.weights, start.epochs) if start is not None else (None, 0)


def _fit_fold(values, x, y, fit_idx, watch_idx, fold, folds, callbacks, run: TrialRun) -> Fit:
    weights, initial_epoch = _earlier_epochs(fold, run)

    def begin(model):
        epochs = int(values["epochs"])
        run.reporter.fold_begin(fold=fold, folds=folds, epochs=epochs, first_epoch=initial_epoch)
        faults.point(f"trial_{run.trial_id}:fold_begin")

    return fit_model(
        values, x[fit_idx], y[fit_idx], seed=fold_seed(run.seed, run.trial_id, fold),
        space=run.space, validation=(x[watch_idx], y[watch_idx]), callbacks=callbacks,
        weights=weights, initial_epoch=initial_epoch, before_fit=begin,
    )  # fmt: skip


def _with_earlier_epochs(fit: Fit, fold: int, run: TrialRun) -> Fit:
    """``fit`` with the screen's curves in front of its own, for a fold that went on from its
    screen: the record then holds the fold's whole curve, as if it had trained every epoch."""
    start = _start_of(fold, run)
    if start is None:
        return fit
    history = {k: [*start.history.get(k, [])[: start.epochs], *v] for k, v in fit.history.items()}
    return fit._replace(history=history)


def _check_finite(fit: Fit, x_val: np.ndarray, fold: int) -> np.ndarray:
    """The fold model's probabilities on its validation part; TrialFailed when the loss or the
    probabilities are not finite."""
    losses = fit.history.get("loss", [])
    if not losses or not all(math.isfinite(v) for v in losses):
        raise TrialFailed(
            f"fold {fold}: training loss is not finite ({losses[-1] if losses else None}) "
            f"after {len(losses)} epoch(s); try a lower learning_rate"
        )
    probabilities = fit.model.predict(x_val, batch_size=SCORING_BATCH_SIZE, verbose=0)
    if not np.isfinite(probabilities).all():
        # Keras clips probabilities inside the loss, so NaN weights can leave a finite loss.
        raise TrialFailed(
            f"fold {fold}: the model predicts non-finite probabilities (NaN weights) after "
            f"{len(losses)} epoch(s); try a lower learning_rate"
        )
    return probabilities


def _fold_result(fit: Fit, probabilities, y_val, fold: int, train_size: int, run: TrialRun):
    logs = fit.history
    best_epoch = None
    if run.early_stopping is not None and logs.get("val_accuracy"):
        best_epoch = int(np.argmax(logs["val_accuracy"])) + 1  # the weights EarlyStopping kept
    started_from = _earlier_epochs(fold, run)[1]
    trained = len(logs.get("loss", []))  # a screen's epochs are in the curves already
    if _start_of(fold, run) is None:
        trained += started_from
    return FoldResult(
        fold=fold,
        val_accuracy=float(np.mean(np.argmax(probabilities, axis=1) == y_val)),
        val_loss=float(logs.get("val_loss", [math.nan])[-1]),
        epochs=trained,
        train_seconds=fit.seconds,
        validation_seconds=fit.validation_seconds,
        train_size=train_size,
        val_size=len(y_val),
        history=logs,
        best_epoch=best_epoch,
        started_from=started_from,
    )


def _stop_reason(values, results, folds: int, watch, clock, run: TrialRun) -> str | None:
    """Why the trial stops after this fold (the pruner, the deadline), or None to go on."""
    fold = len(results) - 1
    if watch is not None and watch.reason is not None:
        if run.prune.whole_reason:  # says where itself (a screen's stop)
            return watch.reason
        return f"pruned in fold {fold + 1} of {folds}, {watch.reason}"
    finished = fold == folds - 1 and results[-1].epochs >= int(values["epochs"])
    if clock is not None and clock.stopped_after is not None and not finished:
        return (
            f"stopped in fold {fold + 1} of {folds} after epoch {clock.stopped_after}: "
            "the run budget's time for trials is spent (the rest is the final training's)"
        )
    if run.prune is not None and fold < folds - 1:
        reason = run.prune.stop_after_fold([r.val_accuracy for r in results])
        if reason is not None:
            return f"pruned after fold {fold + 1} of {folds}: {reason}"
    return None

"""Training one trial: a fresh model per fold, trained on the fold's training part (augmented on
the fly) and scored on its untouched validation part, in this process (``train_trial``).
``tuner.training.process`` runs it in a fresh trial process, as searches do by default.
"""

from __future__ import annotations

import gc
import math
import os
import signal
import time
from dataclasses import dataclass, replace
from typing import Any

from tuner.backend import SCORING_BATCH_SIZE, fresh_session, keras, precision

import numpy as np

from tuner import faults
from tuner.data.kaggle import DIGITS
from tuner.errors import TrialFailed
from tuner.pruners.base import BasePruner
from tuner.space.values import resolve_values
from tuner.storage.directory import WEIGHTS_FILE
from tuner.storage.records import FoldResult
from tuner.training.callbacks import Deadline, EpochEvents, EpochPruning
from tuner.training.fit import (
    Fit,
    Recipe,
    early_stopping_split,
    fit_model,
    fold_seed,
    save_weights,
)
from tuner.training.process import ProcessKilled, run_in_process
from tuner.ui.events import Reporter

__all__ = [
    "FoldStart",
    "TrialFailed",
    "TrialOutcome",
    "TrialRun",
    "TrialWork",
    "train_trial",
    "train_trial_in_process",
]


@dataclass(frozen=True)
class TrialOutcome:
    folds: list[FoldResult]
    oof: np.ndarray  # (N, classes) float32 out-of-fold probabilities (NaN rows: folds not run)
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
class TrialWork:
    """One trial's work: what to train, on which folds, with which budget and where to save.
    Built once by the CV tuner (``tuner.search.cv_tuner``) and passed down whole, to this
    process's trainer or to a trial process (it pickles; the images travel beside it)."""

    values: dict[str, Any]  # hyperparameter values (``resolve_values`` completes them)
    splits: list[tuple[np.ndarray, np.ndarray]]  # (train, validation) indices, one pair a fold
    seed: int  # with ``trial_id``, seeds every fold's model and augmentation (``fold_seed``)
    trial_id: str
    # stops a trial that falls behind the earlier ones (``tuner.pruners``), after an epoch (not
    # with early stopping: its curves are on another slice) or after a fold
    prune: BasePruner | None = None
    # patience in epochs: train on 90 % of the training fold, stop when the accuracy on the
    # other 10 % has not improved for this many epochs, keep the best epoch's weights
    early_stopping: int | None = None
    save_weights_to: str | None = None  # a directory for each fold's ``fold_<k>.weights.h5``
    # go on from the fold weights saved in this directory, trained for ``initial_epoch`` epochs
    # already (Hyperband's later rounds)
    resume_from: str | None = None
    initial_epoch: int = 0
    # mixed precision (True; ``backend.precision_name``), float32 (False), or by the hardware
    # (None: ``backend.mixed_precision_default``)
    mixed_precision: bool | None = False
    space: Any = None  # the space when it holds the user's hypermodel (None: the built-in CNN)
    # seconds from the start after which the trial stops at the end of its epoch (the run
    # budget's share for trials is spent); it ends as a pruned trial would. None: no limit
    time_left: float | None = None
    first_fold: FoldStart | None = None  # fold 1 goes on from a screen's model (a promotion)
    classes: int = len(DIGITS)  # the model's outputs (``tuner.data.Dataset.classes``' count)

    @property
    def folds(self) -> int:
        return len(self.splits)

    @property
    def recipe(self) -> Recipe:
        """The model each fold trains (``values`` as ``train_trial`` resolved them)."""
        return Recipe(self.values, self.space, self.classes)


@dataclass(frozen=True)
class TrialRun:
    """A trial's work as it runs in this process: where its progress goes and when it stops."""

    work: TrialWork
    reporter: Reporter
    deadline: float | None  # time.monotonic() after which no epoch starts


def train_trial(
    work: TrialWork, x: np.ndarray, y: np.ndarray, reporter: Reporter | None = None
) -> TrialOutcome:
    """Trains and scores one point of the space on every fold of ``work``, in this process.

    ``x, y``: all training images (uint8) and labels, which ``work.splits`` index; ``reporter``
    receives progress events (fold_begin, epoch_end, fold_end).

    Raises:
        TrialFailed: the loss or the predictions are not finite.
    """
    work = replace(work, values=resolve_values(work.values, work.space))
    deadline = None if work.time_left is None else time.monotonic() + work.time_left
    run = TrialRun(work, reporter or Reporter(), deadline)
    with precision(work.mixed_precision):
        outcome = _train_folds(x, y, run)
    fresh_session()
    gc.collect()
    return outcome


def train_trial_in_process(
    work: TrialWork, x, y, reporter=None, *, timeout=None, process=None
) -> TrialOutcome:
    """``train_trial`` in a trial process (``process``: a ``tuner.training.process.TrialProcess``
    kept warm between trials, or a fresh one), stopped after ``timeout`` seconds.

    A trial process killed by a signal the toolkit did not send (the kernel's out-of-memory
    killer) may have met a moment's shortage: the trial runs once more in a fresh process, with
    the time it has left; killed again, it fails, saying so."""
    reporter = reporter or Reporter()
    started = time.monotonic()
    try:
        return _in_process(work, x, y, reporter, timeout, process)
    except ProcessKilled as first:
        reporter.message(f"trial {work.trial_id}: {first}; running it again in a fresh process")
        if work.time_left is not None:
            work = replace(work, time_left=max(work.time_left - (time.monotonic() - started), 0))
    try:
        return _in_process(work, x, y, reporter, timeout, process)
    except ProcessKilled as second:
        why = " (out of memory?)" if second.signal_number == signal.SIGKILL else ""
        raise TrialFailed(
            f"the trial's process was killed by signal {second.signal_number} twice{why}"
        ) from None


def _in_process(work: TrialWork, x, y, reporter, timeout, process) -> TrialOutcome:
    kwargs = dict(work=work, x=x, y=y)
    if process is None:
        return run_in_process(train_trial, kwargs, reporter, timeout=timeout)
    return process.run(train_trial, kwargs, reporter, timeout=timeout)


def _train_folds(x, y, run: TrialRun) -> TrialOutcome:
    work = run.work
    results: list[FoldResult] = []
    oof = np.full((len(y), work.classes), np.nan, dtype=np.float32)
    params, pruned = 0, None
    for fold, (train_idx, val_idx) in enumerate(work.splits):
        callbacks, watch, clock = _fold_callbacks(fold, run)
        parts = train_idx, val_idx  # without early stopping: curves of the CV fold
        if work.early_stopping is not None:
            seed = fold_seed(work.seed, work.trial_id, fold)
            parts = early_stopping_split(y, train_idx, seed)
        fit = _fit_fold(x, y, parts, fold, callbacks, run)
        fit = _with_earlier_epochs(fit, fold, work)
        params = fit.model.count_params()
        probabilities = _check_finite(fit, x[val_idx], fold)
        oof[val_idx] = probabilities.astype(np.float32)
        results.append(_fold_result(fit, probabilities, y[val_idx], fold, len(parts[0]), work))
        run.reporter.fold_end(fold=fold, val_accuracy=results[-1].val_accuracy, seconds=fit.seconds)
        faults.point("fold_end")
        if work.save_weights_to is not None:
            save_weights(
                fit.model, os.path.join(work.save_weights_to, WEIGHTS_FILE.format(fold=fold))
            )
        del fit
        pruned = _stop_reason(results, watch, clock, work)
        if pruned is not None:
            break
    return TrialOutcome(folds=results, oof=oof, params=params, pruned=pruned)


def _fold_callbacks(fold: int, run: TrialRun):
    """The fold's callbacks, with the epoch pruner (``watch``) and the deadline (``clock``)."""
    work = run.work
    callbacks: list = [EpochEvents(run.reporter, int(work.values["epochs"]))]
    watch = clock = None
    if work.prune is not None and work.early_stopping is None:
        start = _start_of(fold, work)  # judged on its best epoch so far, the screen's included
        best = max(start.history.get("val_accuracy", []), default=0.0) if start else 0.0
        watch = EpochPruning(work.prune, fold, best)
        callbacks.append(watch)
    if run.deadline is not None:
        clock = Deadline(run.deadline)
        callbacks.append(clock)
    if work.early_stopping is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", mode="max", patience=work.early_stopping,
                restore_best_weights=True,
            )
        )  # fmt: skip
    return callbacks, watch, clock


def _start_of(fold: int, work: TrialWork) -> FoldStart | None:
    """The screen's model that ``fold`` goes on from (fold 1 of a promoted trial), or None."""
    return work.first_fold if fold == 0 else None


def _earlier_epochs(fold: int, work: TrialWork) -> tuple[str | None, int]:
    """(the weights ``fold`` goes on from, the epochs they were trained), or (None, 0)."""
    if work.resume_from is not None:  # Hyperband: every fold of the earlier round's trial
        return os.path.join(work.resume_from, WEIGHTS_FILE.format(fold=fold)), work.initial_epoch
    start = _start_of(fold, work)
    return (start.weights, start.epochs) if start is not None else (None, 0)


def _fit_fold(x, y, parts, fold: int, callbacks: list, run: TrialRun) -> Fit:
    """Fold ``fold``'s model trained on ``parts[0]`` of the images, watched on ``parts[1]``."""
    work, (fit_idx, watch_idx) = run.work, parts
    weights, initial_epoch = _earlier_epochs(fold, work)
    run.reporter.fold_begin(
        fold=fold, folds=work.folds, epochs=work.recipe.epochs, first_epoch=initial_epoch
    )
    faults.point(f"trial_{work.trial_id}:fold_begin")
    return fit_model(
        work.recipe, x[fit_idx], y[fit_idx], seed=fold_seed(work.seed, work.trial_id, fold),
        validation=(x[watch_idx], y[watch_idx]), callbacks=callbacks,
        resume=(weights, initial_epoch) if weights else None,
    )  # fmt: skip


def _with_earlier_epochs(fit: Fit, fold: int, work: TrialWork) -> Fit:
    """``fit`` with the screen's curves in front of its own, for a fold that went on from its
    screen: the record then holds the fold's whole curve, as if it had trained every epoch."""
    start = _start_of(fold, work)
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


def _fold_result(fit: Fit, probabilities, y_val, fold: int, train_size: int, work: TrialWork):
    logs = fit.history
    best_epoch = None
    if work.early_stopping is not None and logs.get("val_accuracy"):
        best_epoch = int(np.argmax(logs["val_accuracy"])) + 1  # the weights EarlyStopping kept
    started_from = _earlier_epochs(fold, work)[1]
    trained = len(logs.get("loss", []))  # a screen's epochs are in the curves already
    if _start_of(fold, work) is None:
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


def _stop_reason(results, watch, clock, work: TrialWork) -> str | None:
    """Why the trial stops after this fold (the pruner, the deadline), or None to go on."""
    fold, folds = len(results) - 1, work.folds
    if watch is not None and watch.reason is not None:
        if work.prune.whole_reason:  # says where itself (a screen's stop)
            return watch.reason
        return f"pruned in fold {fold + 1} of {folds}, {watch.reason}"
    finished = fold == folds - 1 and results[-1].epochs >= int(work.values["epochs"])
    if clock is not None and clock.stopped_after is not None and not finished:
        return (
            f"stopped in fold {fold + 1} of {folds} after epoch {clock.stopped_after}: "
            "the run budget's time for trials is spent (the rest is the final training's)"
        )
    if work.prune is not None and fold < folds - 1:
        reason = work.prune.stop_after_fold([r.val_accuracy for r in results])
        if reason is not None:
            return f"pruned after fold {fold + 1} of {folds}: {reason}"
    return None

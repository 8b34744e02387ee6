"""Training one trial: a fresh model per fold, trained on the fold's training part (augmented on
the fly) and scored on its untouched validation part.

``train_trial`` does it in this process. ``train_trial_in_process`` does it in a fresh trial process
and is what searches use by default: TensorFlow keeps about 11 MiB per trained model after
``clear_session()`` (keras-team/keras#17458; measured here: 11.6 MiB per ``fit`` on TF 2.21), so a
long search in one process grows without bound. A process per trial returns all of it to the system,
and an out-of-memory kill then fails that one trial instead of the search.
"""

from __future__ import annotations

import gc
import math
import multiprocessing
import os
import queue as queue_module
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from tuner import faults
from tuner.io import fsync_directory
from tuner.progress import RelayReporter, Reporter
from tuner.pruning import PruneRule
from tuner.records import FoldResult
from tuner.store import WEIGHTS_FILE

__all__ = [
    "TrialFailed",
    "TrialOutcome",
    "train_trial",
    "fit_model",
    "Fit",
    "train_trial_in_process",
    "run_in_process",
    "EARLY_STOPPING_SPLIT",
    "fold_seed",
    "load_fold_weights",
]


class TrialFailed(Exception):
    """This trial cannot give a score (NaN loss, a crashed trial process, ...); the search goes on."""


@dataclass(frozen=True)
class TrialOutcome:
    folds: list[FoldResult]
    oof: np.ndarray  # (N, 10) float32 out-of-fold probabilities (NaN rows: folds not run)
    params: int
    pruned: str | None = None  # why the trial stopped before its last fold


def load_fold_weights(model, path: str | os.PathLike) -> None:
    """Loads a fold model's weights and its optimizer's state (Adam's moments) into ``model``.

    The optimizer is built first: an unbuilt one has no variables to receive the saved state, and
    Keras would skip it with a warning.
    """
    model.optimizer.build(model.trainable_variables)
    model.load_weights(path)


def _save_weights(model, path: str) -> None:
    """``model.save_weights`` atomically (Keras wants the name to end in .weights.h5)."""
    folder, name = os.path.split(path)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp.weights.h5")
    try:
        model.save_weights(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_directory(folder)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# Early stopping watches this fraction of each training fold (stratified), never the CV fold.
EARLY_STOPPING_SPLIT = 0.1


def _early_stopping_split(
    y: np.ndarray, train_idx: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Splits a training fold into (fit, watch) index arrays, stratified and seeded."""
    from sklearn.model_selection import train_test_split

    return train_test_split(
        train_idx, test_size=EARLY_STOPPING_SPLIT, stratify=y[train_idx], random_state=seed
    )


def fold_seed(seed: int, trial_id: str, fold: int) -> int:
    """The seed of one fold's model and augmentation stream."""
    return (seed * 1_000_003 + int(trial_id) * 101 + fold) % (2**31 - 1)


class Fit(NamedTuple):
    """What ``fit_model`` returns."""

    model: Any
    history: dict[str, list[float]]  # per-epoch Keras logs
    seconds: float  # wall time of ``fit``, validation passes included
    validation_seconds: float  # of which the validation passes (0 without validation data)


def _validation_clock_class():
    import keras

    class ValidationClock(keras.callbacks.Callback):
        """Adds up the wall time of ``fit``'s validation passes (``on_test_begin`` to
        ``on_test_end``, which ``fit`` calls around each one)."""

        def __init__(self):
            super().__init__()
            self.seconds, self._started = 0.0, None

        def on_test_begin(self, logs=None):
            self._started = time.perf_counter()

        def on_test_end(self, logs=None):
            if self._started is not None:
                self.seconds += time.perf_counter() - self._started
                self._started = None

    return ValidationClock


def fit_model(
    values: dict[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    *,
    seed: int,
    space=None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    callbacks: list | None = None,
    weights: str | os.PathLike | None = None,
    initial_epoch: int = 0,
    before_fit: Callable[[Any], None] | None = None,
):
    """Builds one model of ``values`` and trains it on ``(x, y)``: what every fold of a trial,
    the export's retrain and the benchmarks do, in one place.

    A fresh Keras session, every random stream seeded with ``seed`` (weights, shuffling, the
    augmentation layer), ``values["epochs"]`` epochs of ``values["batch_size"]`` images.

    Args:
        values: complete hyperparameter values (``tuner.model.resolve_values``).
        space: the space when it holds the user's hypermodel (None: the built-in CNN).
        validation: scored after each epoch (the history's ``val_*`` curves).
        weights, initial_epoch: go on from these saved weights, trained that many epochs.
        before_fit: called with the built model before training (e.g. to count parameters).

    Returns:
        ``Fit``: the model, its history as {name: [per-epoch floats]}, the seconds of ``fit``
        and, of those, the validation passes' (the run budget's retrain estimate leaves them
        out: the retrain has none).
    """
    import keras

    from tuner import model as model_module

    keras.backend.clear_session()
    gc.collect()
    keras.utils.set_random_seed(seed)
    model = model_module.build(values, space=space, seed=seed, train_size=len(x))
    if weights is not None:
        load_fold_weights(model, weights)
    if before_fit is not None:
        before_fit(model)
    clock = _validation_clock_class()()
    started = time.perf_counter()
    history = model.fit(
        x,
        y,
        validation_data=validation,
        epochs=int(values["epochs"]),
        initial_epoch=initial_epoch if weights is not None else 0,
        batch_size=int(values["batch_size"]),
        shuffle=True,
        verbose=0,
        callbacks=[*(callbacks or []), clock],
    )
    seconds = time.perf_counter() - started
    logs = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    return Fit(model, logs, seconds, clock.seconds)


def train_trial(
    values: dict[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
    trial_id: str,
    reporter: Reporter | None = None,
    *,
    prune: PruneRule | None = None,
    early_stopping: int | None = None,
    save_weights_to: str | None = None,
    resume_from: str | None = None,
    initial_epoch: int = 0,
    mixed_precision: bool | None = False,
    space=None,
    time_left: float | None = None,
) -> TrialOutcome:
    """Trains and scores one point of the space on every fold, in this process.

    Args:
        values: hyperparameter values (``tuner.model.resolve_values`` completes them).
        x, y: all training images (uint8) and labels; ``splits`` index them.
        splits: (train, validation) index arrays, one pair per fold.
        seed, trial_id: seed every fold's model and augmentation (``fold_seed``).
        reporter: receives progress events (fold_begin, epoch_end, fold_end).
        prune: stop a trial that falls behind the earlier ones (``tuner.pruning``), after an
            epoch (not with early stopping: its curves are on another slice) or after a fold.
        early_stopping: patience in epochs: train on 90 % of the training fold, stop when the
            accuracy on the other 10 % has not improved for this many epochs, keep the best
            epoch's weights and record that epoch. None trains every epoch.
        save_weights_to: a directory to keep each fold's weights in (``fold_<k>.weights.h5``).
        resume_from, initial_epoch: go on from the fold weights saved in this directory, trained
            for ``initial_epoch`` epochs already (Hyperband's later rounds).
        mixed_precision: float16 compute (True), float32 (False), or on where a GPU is (None).
        space: the search space when it holds the user's hypermodel (``tuner.hypermodel``);
            None builds the built-in CNN.
        time_left: seconds from now after which the trial stops at the end of its epoch (the
            run budget's share for trials is spent); it ends as a pruned trial would, without a
            final score. None: no limit.

    Raises:
        TrialFailed: the loss or the predictions are not finite.
    """
    import keras

    from tuner import model as model_module
    from tuner.backend import precision

    reporter = reporter or Reporter()
    values = model_module.resolve_values(values, space)
    deadline = None if time_left is None else time.monotonic() + time_left
    with precision(mixed_precision):
        outcome = _train_folds(
            values, x, y, splits, seed, trial_id, reporter, prune, early_stopping,
            save_weights_to, resume_from, initial_epoch, space, deadline,
        )  # fmt: skip
    keras.backend.clear_session()
    gc.collect()
    return outcome


def _train_folds(
    values, x, y, splits, seed, trial_id, reporter, prune, early_stopping, save_weights_to,
    resume_from, initial_epoch, space, deadline=None,
) -> TrialOutcome:  # fmt: skip
    import keras

    from tuner.progress import epoch_callback

    epochs = int(values["epochs"])
    results: list[FoldResult] = []
    oof = np.full((len(y), 10), np.nan, dtype=np.float32)
    params = 0

    pruned = None
    for fold, (train_idx, val_idx) in enumerate(splits):
        callbacks = [epoch_callback(reporter, epochs)]
        watch = None
        if prune is not None and early_stopping is None:
            watch = _epoch_pruning(prune, fold)
            callbacks.append(watch)
        clock = None
        if deadline is not None:
            clock = _deadline_class()(deadline)
            callbacks.append(clock)
        fit_idx, watch_idx = train_idx, val_idx  # without early stopping: curves of the CV fold
        if early_stopping is not None:
            fit_idx, watch_idx = _early_stopping_split(
                y, train_idx, fold_seed(seed, trial_id, fold)
            )
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_accuracy",
                    mode="max",
                    patience=early_stopping,
                    restore_best_weights=True,
                )
            )

        def begin(model, fold=fold):
            reporter.fold_begin(fold=fold, folds=len(splits), epochs=epochs)
            faults.point(f"trial_{trial_id}:fold_begin")

        x_val, y_val = x[val_idx], y[val_idx]
        model, logs, seconds, validation_seconds = fit_model(
            values,
            x[fit_idx],
            y[fit_idx],
            seed=fold_seed(seed, trial_id, fold),
            space=space,
            validation=(x[watch_idx], y[watch_idx]),
            callbacks=callbacks,
            weights=None
            if resume_from is None
            else os.path.join(resume_from, WEIGHTS_FILE.format(fold=fold)),
            initial_epoch=initial_epoch,
            before_fit=begin,
        )
        params = model.count_params()
        best_epoch = None
        if early_stopping is not None and logs.get("val_accuracy"):
            best_epoch = int(np.argmax(logs["val_accuracy"])) + 1  # the weights EarlyStopping kept
        losses = logs.get("loss", [])
        if not losses or not all(math.isfinite(v) for v in losses):
            raise TrialFailed(
                f"fold {fold}: training loss is not finite ({losses[-1] if losses else None}) "
                f"after {len(losses)} epoch(s); try a lower learning_rate"
            )
        probabilities = model.predict(x_val, batch_size=1024, verbose=0)
        if not np.isfinite(probabilities).all():
            # Keras clips probabilities inside the loss, so NaN weights can leave a finite loss.
            raise TrialFailed(
                f"fold {fold}: the model predicts non-finite probabilities (NaN weights) after "
                f"{len(losses)} epoch(s); try a lower learning_rate"
            )
        oof[val_idx] = probabilities.astype(np.float32)
        accuracy = float(np.mean(np.argmax(probabilities, axis=1) == y_val))
        results.append(
            FoldResult(
                fold=fold,
                val_accuracy=accuracy,
                val_loss=float(logs.get("val_loss", [math.nan])[-1]),
                epochs=len(losses) + (initial_epoch if resume_from is not None else 0),
                train_seconds=seconds,
                validation_seconds=validation_seconds,
                train_size=len(fit_idx),
                val_size=len(val_idx),
                history=logs,
                best_epoch=best_epoch,
            )
        )
        reporter.fold_end(fold=fold, val_accuracy=accuracy, seconds=seconds)
        faults.point("fold_end")
        if save_weights_to is not None:
            _save_weights(model, os.path.join(save_weights_to, WEIGHTS_FILE.format(fold=fold)))
        del model
        if watch is not None and watch.reason is not None:
            pruned = (
                watch.reason  # says where itself (a screen's stop)
                if getattr(prune, "whole_reason", False)
                else f"pruned in fold {fold + 1} of {len(splits)}, {watch.reason}"
            )
            break
        finished = fold == len(splits) - 1 and results[-1].epochs >= epochs
        if clock is not None and clock.stopped_after is not None and not finished:
            pruned = (
                f"stopped in fold {fold + 1} of {len(splits)} after epoch {clock.stopped_after}: "
                "the run budget's time for trials is spent (the rest is the final training's)"
            )
            break
        if prune is not None and fold < len(splits) - 1:
            reason = prune.stop_after_fold([r.val_accuracy for r in results])
            if reason is not None:
                pruned = f"pruned after fold {fold + 1} of {len(splits)}: {reason}"
                break
    return TrialOutcome(folds=results, oof=oof, params=params, pruned=pruned)


def _deadline_class():
    import keras

    class Deadline(keras.callbacks.Callback):
        """Stops training after the first epoch that ends past ``deadline`` (time.monotonic)."""

        def __init__(self, deadline: float):
            super().__init__()
            self.deadline, self.stopped_after = deadline, None

        def on_epoch_end(self, epoch, logs=None):
            if time.monotonic() > self.deadline:
                self.stopped_after = epoch + 1
                self.model.stop_training = True

    return Deadline


def _epoch_pruning_class():
    import keras

    class EpochPruning(keras.callbacks.Callback):
        """Stops training after an epoch that the pruning rule rejects."""

        def __init__(self, rule: PruneRule, fold: int):
            super().__init__()
            self.rule, self.fold, self.reason, self.best = rule, fold, None, 0.0

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get("val_accuracy")
            if value is None:
                return
            self.best = max(self.best, float(value))
            self.reason = self.rule.stop_after_epoch(self.fold, epoch + 1, self.best)
            if self.reason is not None:
                self.model.stop_training = True

    return EpochPruning


def _epoch_pruning(rule: PruneRule, fold: int):
    """An EpochPruning callback (the class is made on first use: keras is imported late here)."""
    return _epoch_pruning_class()(rule, fold)


def _die_with_parent(parent_pid: int) -> None:
    """On Linux, ask the kernel to kill this trial process when its parent dies (even by SIGKILL)."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _process_main(target: Callable, kwargs: dict[str, Any], messages, parent_pid: int) -> None:
    """Body of a trial process: run ``target`` and send events and the outcome to the parent.
    (A trial process is not a distributed search's worker: that one runs whole searches.)"""
    # Ctrl-C reaches the whole process group; the parent decides what happens to its child.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent_pid)
    from tuner.backend import import_keras_quietly

    import_keras_quietly()

    relay = RelayReporter(lambda name, fields: messages.put(("event", name, fields)))
    try:
        outcome = target(**kwargs, reporter=relay)
        messages.put(("result", outcome, None))
    except TrialFailed as e:
        messages.put(("failed", str(e), None))
    except BaseException as e:  # noqa: BLE001 - everything goes back to the parent as a message
        messages.put(("error", f"{type(e).__name__}: {e}", traceback.format_exc()))


def run_in_process(
    target: Callable,
    kwargs: dict[str, Any],
    reporter: Reporter | None = None,
    poll_seconds: float = 0.5,
    timeout: float | None = None,
) -> Any:
    """Runs ``target(**kwargs, reporter=...)`` in a fresh spawned process; returns its result.

    The progress events the target reports are replayed here on ``reporter``. A trial process that
    dies (killed, out of memory) raises ``TrialFailed`` naming its exit code; an exception in
    the trial process raises ``TrialFailed`` with its message; a trial process still running after
    ``timeout`` seconds is killed and raises ``TrialFailed`` (a hung trial never stalls the
    search).
    """
    reporter = reporter or Reporter()
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    child = context.Process(
        target=_process_main, args=(target, kwargs, messages, os.getpid()), daemon=True
    )
    child.start()
    deadline = None if not timeout else time.monotonic() + timeout
    try:
        while True:
            try:
                kind, payload, detail = messages.get(timeout=poll_seconds)
            except queue_module.Empty:
                if deadline is not None and time.monotonic() > deadline and child.is_alive():
                    child.kill()
                    limit = f"{timeout:.0f} s" if timeout < 120 else f"{timeout / 60:.3g} min"
                    raise TrialFailed(
                        f"the trial ran past its time limit of {limit} and was stopped "
                        "(--trial-timeout; default: the time budget)"
                    ) from None
                if not child.is_alive():
                    # a last message may still be in flight after the process exits
                    try:
                        kind, payload, detail = messages.get(timeout=poll_seconds)
                    except queue_module.Empty:
                        code = child.exitcode
                        why = (
                            f"killed by signal {-code}"
                            if code is not None and code < 0
                            else f"exit status {code}"
                        )
                        hint = " (out of memory?)" if code in (-9, 137) else ""
                        raise TrialFailed(f"the trial's process died: {why}{hint}") from None
                else:
                    continue
            if kind == "event":
                RelayReporter.replay(reporter, payload, detail)
            elif kind == "result":
                return payload
            elif kind == "failed":
                raise TrialFailed(payload)
            else:
                raise TrialFailed(f"{payload} (in the trial's process)\n{detail}")
    finally:
        if child.is_alive():
            child.terminate()
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
            child.join()
        messages.close()


def train_trial_in_process(
    values, x, y, splits, seed, trial_id, reporter=None, *, timeout=None, **options
) -> TrialOutcome:
    """``train_trial`` in a fresh trial process (see the module docstring for why), stopped
    after ``timeout`` seconds."""
    return run_in_process(
        train_trial,
        dict(values=values, x=x, y=y, splits=splits, seed=seed, trial_id=trial_id, **options),
        reporter,
        timeout=timeout,
    )

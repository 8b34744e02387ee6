"""Training one trial: a fresh model per fold, trained on the fold's training part (augmented on
the fly) and scored on its untouched validation part.

``train_trial`` does it in this process. ``train_trial_in_worker`` does it in a fresh worker process
and is what searches use by default: TensorFlow keeps about 11 MiB per trained model after
``clear_session()`` (keras-team/keras#17458; measured here: 11.6 MiB per ``fit`` on TF 2.21), so a
long search in one process grows without bound. A worker per trial returns all of it to the system,
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
from typing import Any

import numpy as np

from tuner.records import FoldResult

__all__ = ["TrialFailed", "TrialOutcome", "train_trial", "train_trial_in_worker", "run_in_worker"]

Emit = Callable[..., None]  # emit(event_name, **fields): a Reporter method call


class TrialFailed(Exception):
    """This trial cannot give a score (NaN loss, a crashed worker, ...); the search goes on."""


@dataclass(frozen=True)
class TrialOutcome:
    folds: list[FoldResult]
    oof: np.ndarray  # (N, 10) float16 out-of-fold probabilities
    params: int


def fold_seed(seed: int, trial_id: str, fold: int) -> int:
    """The seed of one fold's model and augmentation stream."""
    return (seed * 1_000_003 + int(trial_id) * 101 + fold) % (2**31 - 1)


def train_trial(
    values: dict[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
    trial_id: str,
    emit: Emit | None = None,
) -> TrialOutcome:
    """Trains and scores one point of the space on every fold, in this process.

    Raises:
        TrialFailed: the loss or the predictions are not finite.
    """
    import keras

    from tuner import model as model_module
    from tuner.progress import epoch_callback

    emit = emit or (lambda name, **fields: None)
    epochs, batch_size = int(values["epochs"]), int(values["batch_size"])
    results: list[FoldResult] = []
    oof = np.full((len(y), 10), np.nan, dtype=np.float16)
    params = 0

    class Forward:  # a Reporter whose epoch_end goes to emit
        def epoch_end(self, **fields):
            emit("epoch_end", **fields)

    for fold, (train_idx, val_idx) in enumerate(splits):
        keras.backend.clear_session()
        gc.collect()
        keras.utils.set_random_seed(fold_seed(seed, trial_id, fold))
        model = model_module.build_model(values, seed=fold_seed(seed, trial_id, fold))
        params = model.count_params()
        emit("fold_begin", fold=fold, folds=len(splits), epochs=epochs)
        x_val, y_val = x[val_idx], y[val_idx]
        started = time.perf_counter()
        history = model.fit(
            x[train_idx],
            y[train_idx],
            validation_data=(x_val, y_val),
            epochs=epochs,
            batch_size=batch_size,
            shuffle=True,
            verbose=0,
            callbacks=[keras.callbacks.TerminateOnNaN(), epoch_callback(Forward(), epochs)],
        )
        seconds = time.perf_counter() - started
        logs = {k: [float(v) for v in vals] for k, vals in history.history.items()}
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
        oof[val_idx] = probabilities.astype(np.float16)
        accuracy = float(np.mean(np.argmax(probabilities, axis=1) == y_val))
        results.append(
            FoldResult(
                fold=fold,
                val_accuracy=accuracy,
                val_loss=float(logs.get("val_loss", [math.nan])[-1]),
                epochs=len(losses),
                train_seconds=seconds,
                train_size=len(train_idx),
                val_size=len(val_idx),
                history=logs,
            )
        )
        emit("fold_end", fold=fold, val_accuracy=accuracy, seconds=seconds)
        del model
    keras.backend.clear_session()
    gc.collect()
    return TrialOutcome(folds=results, oof=oof, params=params)


def _die_with_parent(parent_pid: int) -> None:
    """On Linux, ask the kernel to kill this worker when its parent dies (even by SIGKILL)."""
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


def _worker_main(target: Callable, kwargs: dict[str, Any], messages, parent_pid: int) -> None:
    """Body of a worker process: run ``target`` and send events and the outcome to the parent."""
    # Ctrl-C reaches the whole process group; the parent decides what happens to its worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent_pid)
    from tuner.backend import import_keras_quietly

    import_keras_quietly()

    def emit(name, **fields):
        messages.put(("event", name, fields))

    try:
        outcome = target(**kwargs, emit=emit)
        messages.put(("result", outcome, None))
    except TrialFailed as e:
        messages.put(("failed", str(e), None))
    except BaseException as e:  # noqa: BLE001 - everything goes back to the parent as a message
        messages.put(("error", f"{type(e).__name__}: {e}", traceback.format_exc()))


def run_in_worker(
    target: Callable, kwargs: dict[str, Any], emit: Emit | None = None, poll_seconds: float = 0.5
) -> Any:
    """Runs ``target(**kwargs, emit=...)`` in a fresh spawned process; returns its result.

    Events the target emits are replayed here through ``emit``. A worker that dies (killed, out of
    memory) raises ``TrialFailed`` naming its exit code; an exception in the worker raises
    ``TrialFailed`` with its message.
    """
    emit = emit or (lambda name, **fields: None)
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    worker = context.Process(
        target=_worker_main, args=(target, kwargs, messages, os.getpid()), daemon=True
    )
    worker.start()
    try:
        while True:
            try:
                kind, payload, detail = messages.get(timeout=poll_seconds)
            except queue_module.Empty:
                if not worker.is_alive():
                    # a last message may still be in flight after the process exits
                    try:
                        kind, payload, detail = messages.get(timeout=poll_seconds)
                    except queue_module.Empty:
                        code = worker.exitcode
                        why = (
                            f"killed by signal {-code}"
                            if code is not None and code < 0
                            else f"exit status {code}"
                        )
                        hint = " (out of memory?)" if code in (-9, 137) else ""
                        raise TrialFailed(f"the trial's worker process died: {why}{hint}") from None
                else:
                    continue
            if kind == "event":
                emit(payload, **detail)
            elif kind == "result":
                return payload
            elif kind == "failed":
                raise TrialFailed(payload)
            else:
                raise TrialFailed(f"{payload} (in the trial's worker process)\n{detail}")
    finally:
        if worker.is_alive():
            worker.terminate()
        worker.join(timeout=30)
        if worker.is_alive():
            worker.kill()
            worker.join()
        messages.close()


def train_trial_in_worker(values, x, y, splits, seed, trial_id, emit=None) -> TrialOutcome:
    """``train_trial`` in a fresh worker process (see the module docstring for why)."""
    return run_in_worker(
        train_trial,
        dict(values=values, x=x, y=y, splits=splits, seed=seed, trial_id=trial_id),
        emit,
    )

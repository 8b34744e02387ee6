"""Everything that reaches into keras-tuner's internals, in one place.

Checked against keras-tuner 1.4.7 and 1.4.8 (``keras_tuner.src``). Each function says which
private name it relies on; ``tests/compat/test_keras_tuner.py`` fails if one of them moves.

- ``declared_hyperparameters``: what a ``HyperParameters`` declares, from its config.
- ``HookedRandomOracle``: the random oracle's private draw (``_random_values``) and duplicate check
  (``_compute_values_hash``) behind names the screening oracle can use.
- ``requeue_damaged``: a trial whose records are damaged is queued again (``Oracle._retry_queue``).
- ``quiet_failed_trials``: keras-tuner prints each failed trial's traceback
  (``keras_tuner.src.config.DEBUG``); the reason is kept in trial.json instead.

- ``atomic_keras_tuner_state``: keras-tuner writes oracle.json, trial.json and tuner0.json in place
  (``keras_tuner.src.utils.save_json``); a process killed mid-write leaves a torn file.
- ``drop_finished_retries``: a process killed between trial.json and oracle.json leaves a finished
  trial "ongoing" in oracle.json, and a reload would redo it (``Oracle._retry_queue``).
- ``reload_oracle_state``: keras-tuner reloads the oracle only when the tuner's own state file
  (``tuner0.json``, ``BaseTuner._get_tuner_fname``) exists, and that is first written at the end of
  the first trial: a search killed before then restarted with a fresh oracle and redid trial 0
  over the finished one (found by the crash test).
- ``validate_chief_requests``: keras-tuner's gRPC chief believes any request. An unknown trial id
  raises inside a ``@synchronized`` method, which never releases the oracle's lock
  (``keras_tuner.src.engine.oracle.LOCKS``/``THREADS``): the chief deadlocks.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from pathlib import Path
from typing import Any

from tuner.backend import keras  # noqa: F401  (Keras loads quietly before keras-tuner)

import keras_tuner
from keras_tuner.src import config as keras_tuner_config
from keras_tuner.src import utils as keras_tuner_utils
from keras_tuner.src.engine import oracle as oracle_module

from tuner.storage.atomic import read_json, write_text_atomic
from tuner.storage.directory import CV_FILE

__all__ = [
    "declared_hyperparameters",
    "HookedRandomOracle",
    "quiet_failed_trials",
    "requeue_damaged",
    "atomic_keras_tuner_state",
    "drop_finished_retries",
    "reload_oracle_state",
    "validate_chief_requests",
    "RejectedRequest",
]


def atomic_keras_tuner_state() -> None:
    """Makes keras-tuner write its state files atomically (``keras_tuner.src.utils.save_json``).

    Every caller looks the function up on the module at call time, so replacing it there is
    enough.
    """
    if getattr(keras_tuner_utils.save_json, "_atomic", False):
        return
    original = keras_tuner_utils.save_json

    def save_json(path, obj):
        if "://" in str(path):  # remote file systems (gs://...): keep keras-tuner's writer
            return original(path, obj)
        text = json.dumps(obj)
        write_text_atomic(path, text)
        return text

    save_json._atomic = True
    keras_tuner_utils.save_json = save_json


def drop_finished_retries(oracle) -> None:
    """Makes a reloaded oracle agree with the trial files a killed process left.

    keras-tuner writes a trial's trial.json, then oracle.json. Killed between the two:

    - at a trial's end, the trial is COMPLETED on disk but still "ongoing" in oracle.json, and a
      reload queues every ongoing trial for a retry: the finished trial would run again. It is
      taken out of the queue (``Oracle._retry_queue``) and counted as ended (``end_order``);
    - at a trial's start, the trial is RUNNING on disk but unknown to oracle.json: it would never
      run (found by the crash test), and a new trial would take its values. It is queued for a
      retry and its values are recorded as tried (``Oracle._record_values``).
    """
    queue = getattr(oracle, "_retry_queue", None)
    trials = getattr(oracle, "trials", None)
    if queue is None or trials is None:  # a worker's OracleClient: the chief owns the state
        return
    finished = {"COMPLETED", "FAILED", "STOPPED"}  # STOPPED: pruned
    oracle._retry_queue = [t for t in queue if t not in trials or trials[t].status not in finished]
    for trial_id, trial in sorted(trials.items()):
        if trial.status in finished and trial_id not in oracle.end_order:
            oracle.end_order.append(trial_id)
        if trial.status == "RUNNING" and trial_id not in oracle._retry_queue:
            ongoing = {t.trial_id for t in oracle.ongoing_trials.values()}
            if trial_id not in ongoing:
                oracle._retry_queue.append(trial_id)
                if trial_id not in oracle.start_order:
                    oracle.start_order.append(trial_id)
                oracle._record_values(trial)


def requeue_damaged(oracle, trial_ids: list[str]) -> None:
    """Queues for a redo every trial of ``trial_ids`` (their records are damaged: the toolkit
    shows them as DAMAGED) that keras-tuner holds as finished (``Oracle._retry_queue``): one
    trial is redone, nothing else is lost."""
    trials = getattr(oracle, "trials", None)
    queue = getattr(oracle, "_retry_queue", None)
    if trials is None or queue is None:  # a worker's OracleClient: the chief owns the state
        return
    for trial_id in trial_ids:
        trial = trials.get(trial_id)
        if trial is not None and trial.status != "RUNNING":
            trial.status = "RUNNING"
            if trial_id in oracle.end_order:
                oracle.end_order.remove(trial_id)
            if trial_id not in queue:
                queue.append(trial_id)


def reload_oracle_state(keras_tuner_tuner) -> None:
    """Reloads the oracle of a keras-tuner ``Tuner`` from its oracle.json when keras-tuner did not
    (see the module doc)."""
    oracle = keras_tuner_tuner.oracle
    if not hasattr(oracle, "_retry_queue"):  # a worker's OracleClient: the chief owns the state
        return
    if os.path.exists(oracle._get_oracle_fname()) and not os.path.exists(
        keras_tuner_tuner._get_tuner_fname()
    ):
        oracle.reload()


class RejectedRequest(ValueError):
    """A request to the chief that no worker of this search would send."""


_TUNER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def validate_chief_requests(oracle, tuner_dir: Path) -> None:
    """Makes the chief's oracle refuse requests that no worker of this search would send.

    A worker may only: ask for a trial under a plain id that is not the chief's; report a finite
    accuracy in 0..1 for a trial that is running; end a running trial with the hyperparameters it
    was given, and call it COMPLETED only with a score that matches the ``cv.json`` it wrote. Each
    check runs holding the oracle's lock and releases it whatever happens (keras-tuner's
    ``synchronized`` does not release it on an exception).
    """
    checks = _ChiefChecks(oracle, Path(tuner_dir))
    for name in ("create_trial", "update_trial", "end_trial", "get_trial"):
        method = getattr(oracle, name)
        setattr(oracle, name, _guarded(oracle, method, getattr(checks, name)))


class _ChiefChecks:
    """The checks of ``validate_chief_requests``, one per oracle method, named after it."""

    def __init__(self, oracle, tuner_dir: Path):
        self.oracle, self.tuner_dir = oracle, tuner_dir
        self.objective = oracle.objective.name

    def _running(self, trial_id):
        trial = self.oracle.trials.get(str(trial_id))
        if trial is None:
            raise RejectedRequest(f"unknown trial id {trial_id!r}")
        if trial not in self.oracle.ongoing_trials.values():
            raise RejectedRequest(f"trial {trial_id} is not running")
        return trial

    def create_trial(self, tuner_id):
        if (
            not isinstance(tuner_id, str)
            or not _TUNER_ID.fullmatch(tuner_id)
            or "chief" in tuner_id
        ):
            raise RejectedRequest(f"bad worker id {tuner_id!r}")

    def update_trial(self, trial_id, metrics, step=0):
        self._running(trial_id)
        for name, value in dict(metrics).items():
            if name != self.objective:
                raise RejectedRequest(f"unknown metric {name!r}")
            if not (isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= 1):
                raise RejectedRequest(f"{name} must be a finite accuracy in 0..1, got {value!r}")

    def end_trial(self, trial):
        known = self._running(trial.trial_id)
        if dict(trial.hyperparameters.values) != dict(known.hyperparameters.values):
            raise RejectedRequest(f"trial {trial.trial_id}: hyperparameters differ from its own")
        if trial.status != "COMPLETED":
            return
        if not known.metrics.exists(self.objective):
            raise RejectedRequest(f"trial {trial.trial_id}: completed without a score")
        score = known.metrics.get_last_value(self.objective)
        mean = self._folds_mean(trial.trial_id)
        if abs(mean - score) > 1e-6:
            raise RejectedRequest(
                f"trial {trial.trial_id}: score {score} differs from its folds' mean {mean}"
            )

    def _folds_mean(self, trial_id) -> float:
        try:
            folds = read_json(self.tuner_dir / f"trial_{trial_id}" / CV_FILE)["folds"]
            return sum(f["val_accuracy"] for f in folds) / len(folds)
        except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
            raise RejectedRequest(f"trial {trial_id}: completed without cv.json") from None

    def get_trial(self, trial_id):
        if str(trial_id) not in self.oracle.trials:
            raise RejectedRequest(f"unknown trial id {trial_id!r}")


def _guarded(oracle, method, check):
    """``method`` run after ``check`` under the oracle's lock (``oracle_module.LOCKS``), which is
    released whatever happens; a call from inside another call of this oracle holds it already."""
    lock, threads = oracle_module.LOCKS[oracle], oracle_module.THREADS

    def call(*args, **kwargs):
        me = threading.current_thread().name
        if threads[oracle] == me:
            check(*args, **kwargs)
            return method(*args, **kwargs)
        with lock:
            threads[oracle] = me
            try:
                check(*args, **kwargs)
                return method(*args, **kwargs)
            finally:
                threads[oracle] = None

    return call


def declared_hyperparameters(hp: keras_tuner.HyperParameters) -> list[tuple[str, dict[str, Any]]]:
    """(class name, config) of each hyperparameter ``hp`` declares, in order: ``Int``, ``Float``,
    ``Choice``, ``Boolean`` or ``Fixed`` (``HyperParameters.get_config``)."""
    return [(item["class_name"], item["config"]) for item in hp.get_config()["space"]]


class HookedRandomOracle(keras_tuner.oracles.RandomSearchOracle):
    """keras-tuner's random oracle, its private hooks behind names a subclass can use:
    ``draw_values`` (``_random_values``: a new random point, None when the space is exhausted)
    and ``ignored_keys``, marks left out of the duplicate check (``_compute_values_hash``)."""

    ignored_keys: tuple[str, ...] = ()

    def draw_values(self) -> dict[str, Any] | None:
        return self._random_values()

    def _compute_values_hash(self, values):
        values = {k: v for k, v in values.items() if k not in self.ignored_keys}
        return super()._compute_values_hash(values)


def quiet_failed_trials() -> None:
    """Keeps keras-tuner from printing each failed trial's traceback (``config.DEBUG``)."""
    keras_tuner_config.DEBUG = False

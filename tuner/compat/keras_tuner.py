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
- ``fresh_retries``: a trial queued again keeps what its earlier run reported
  (``Trial.metrics``), and keras-tuner's tuner skips its own report when the objective is there
  already (``BaseTuner._run_and_update_trial``): the rerun would end with the old value.

- ``MachineStop``: a ``MachineFault`` through keras-tuner's trial loop (``errors.FatalError``,
  which ends ``BaseTuner.search`` before the trial is recorded, instead of marking it failed);
  ``StopOnMachineFaults`` raises it for a fault anywhere in a trial's step, the oracle's save of
  its score included (``BaseTuner._run_and_update_trial``: a full disk there failed the trial).

The distributed chief's rules are in ``tuner.distributed.chief``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tuner.backend import keras  # noqa: F401  (Keras loads quietly before keras-tuner)

import keras_tuner
from keras_tuner.src import config as keras_tuner_config
from keras_tuner.src import utils as keras_tuner_utils
from keras_tuner.src.engine import metrics_tracking

from tuner.errors import machine_fault
from tuner.storage.atomic import write_text_atomic

__all__ = [
    "declared_hyperparameters",
    "HookedRandomOracle",
    "quiet_failed_trials",
    "requeue_damaged",
    "atomic_keras_tuner_state",
    "drop_finished_retries",
    "reload_oracle_state",
    "fresh_metrics",
    "fresh_retries",
    "MachineStop",
    "StopOnMachineFaults",
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


def fresh_metrics(oracle, trial) -> None:
    """Clears what an earlier run of ``trial`` reported (it is about to run again)."""
    if trial.metrics.metrics:
        trial.metrics = metrics_tracking.MetricsTracker()
        trial.score, trial.best_step = None, 0
        oracle._save_trial(trial)


def fresh_retries(oracle) -> None:
    """``fresh_metrics`` for every trial queued for a retry (``Oracle._retry_queue``): a search
    killed between a trial's report and its end, or whose trial was reported by someone else,
    reruns it cleanly."""
    queue = getattr(oracle, "_retry_queue", None)
    if queue is None:  # a worker's OracleClient: the chief owns the state
        return
    for trial_id in queue:
        if trial_id in oracle.trials:
            fresh_metrics(oracle, oracle.trials[trial_id])


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


def declared_hyperparameters(hp: keras_tuner.HyperParameters) -> list[tuple[str, dict[str, Any]]]:
    """(class name, config) of each hyperparameter ``hp`` declares, in order: ``Int``, ``Float``,
    ``Choice``, ``Boolean`` or ``Fixed`` (``HyperParameters.get_config``)."""
    return [(item["class_name"], item["config"]) for item in hp.get_config()["space"]]


class HookedRandomOracle(keras_tuner.oracles.RandomSearchOracle):
    """keras-tuner's random oracle, its private hooks behind names a subclass can use:
    ``draw_values`` (``_random_values``: a new random point, None when the space is exhausted),
    ``default_values`` (the space's defaults) and ``ignored_keys``, marks left out of the
    duplicate check (``_compute_values_hash``)."""

    ignored_keys: tuple[str, ...] = ()

    def draw_values(self) -> dict[str, Any] | None:
        return self._random_values()

    def default_values(self) -> dict[str, Any]:
        """The space's default point: each active hyperparameter's default."""
        return dict(self.hyperparameters.copy().values)

    def _compute_values_hash(self, values):
        values = {k: v for k, v in values.items() if k not in self.ignored_keys}
        return super()._compute_values_hash(values)


def quiet_failed_trials() -> None:
    """Keeps keras-tuner from printing each failed trial's traceback (``config.DEBUG``)."""
    keras_tuner_config.DEBUG = False


class MachineStop(keras_tuner.errors.FatalError):
    """A ``tuner.errors.MachineFault`` raised through keras-tuner's trial loop: keras-tuner marks a
    trial that raises anything else failed (``BaseTuner._try_run_and_update_trial``), but lets a
    ``FatalError`` end ``search`` before the trial is recorded, so that a resume runs it again.
    Raised ``from`` the fault, which ``tuner.errors.machine_fault`` finds again."""


class StopOnMachineFaults:
    """A keras-tuner ``Tuner`` mixin: an error the machine caused in a trial's step, its
    ``run_trial`` or the oracle's save of the score it returns (``BaseTuner._run_and_update_trial``),
    ends the search as ``MachineStop`` instead of failing the trial."""

    def _run_and_update_trial(self, trial, *fit_args, **fit_kwargs):
        try:
            return super()._run_and_update_trial(trial, *fit_args, **fit_kwargs)
        except keras_tuner.errors.FatalError:
            raise
        except Exception as e:
            if (fault := machine_fault(e)) is None:
                raise
            raise MachineStop(str(fault)) from fault

"""The CV tuner: a keras-tuner ``Tuner`` whose trials are scored by stratified K-fold CV.

Shaped like keras-tuner's ``SklearnTuner.run_trial``: loop over the folds, build a fresh model per
fold, train it on the (augmented on the fly) training fold, score it on the untouched validation
fold, and return the mean. Per-fold scores, epochs, times, learning curves and out-of-fold
probabilities are kept with the trial (``tuner.storage.records``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from tuner.backend import keras  # noqa: F401  (Keras loads quietly before keras-tuner)

import keras_tuner
import numpy as np
from keras_tuner.errors import FailedTrialError

import tuner.compat.keras_tuner as compat
from tuner.analysis.page import refresh_page
from tuner.analysis.tensorboard_logs import write_trial
from tuner.distributed.gpus import DEVICES_ENV
from tuner.distributed.roles import role
from tuner.errors import TooManyFailures
from tuner.pruners.rule import rule_for_trial
from tuner.screening.marks import SCREENED_KEY, is_screen, seed_trial
from tuner.screening.rounds import ScreenStop
from tuner.search.budget import BudgetSpent, budget_spent, retrain_seconds, screens_too_late
from tuner.search.oracles import OBJECTIVE
from tuner.storage.atomic import atomic_path
from tuner.storage.directory import OOF_FILE, TENSORBOARD_DIR, WEIGHTS_FILE
from tuner.storage.records import TrialRecord, TrialState, best_record, load_records, write_cv
from tuner.training.folds import (
    FoldStart,
    TrialFailed,
    TrialWork,
    train_trial,
    train_trial_in_process,
)
from tuner.training.process import TrialProcess

__all__ = ["CVTuner", "clock"]

clock = time.monotonic  # the budgets' clock (tests replace it)


class CVTuner(compat.StopOnMachineFaults, keras_tuner.Tuner):
    """A keras-tuner ``Tuner`` whose trials are scored by stratified K-fold cross-validation.

    Args:
        plan: the search's ``tuner.search.plan.SearchPlan`` (folds, budgets, pruning, ...);
            of its settings, the tuner also reads ``seed`` (of every fold's model),
            ``prune_margin`` (the pruning rule's smallest), ``isolate`` (train the trials in a
            trial process, ``tuner.training.process``: kept warm between trials, replaced after
            a failure; ``close`` ends it) and ``max_consecutive_failures`` (stop after this many
            failed trials in a row).
        space: the search space; it goes to each trial only when it holds a user's hypermodel.
        reporter: receives the trials' progress events.
    """

    def __init__(self, oracle, *, plan, space, reporter, **kwargs):
        super().__init__(oracle=oracle, hypermodel=None, **kwargs)
        self.space = space if space.model is not None else None
        self.failures_in_a_row = 0  # in this process: a resumed search starts a new count
        self.pruned: set[str] = set()  # trials of this process stopped by a pruner
        self.plan, self.splits = plan, plan.splits
        self.started = clock()
        self.trials_deadline = None  # set by pre_create_trial
        self.reporter = reporter
        self.trial_process = TrialProcess() if plan.isolate else None

    def close(self) -> None:
        """Ends the trial process (the search is over, or stopped)."""
        if self.trial_process is not None:
            self.trial_process.close()

    def pre_create_trial(self):
        """Applies the budget rule (``tuner.search.budget``) before the next trial starts, and
        sets when, on this process's clock, the trials' share of the run budget ends: each trial
        stops after its epoch past it (``time_left``), since the start rule judges by the longest
        trial so far and a slower configuration would overshoot. None: no run budget, or no
        completed trial yet (the budget never cuts the only candidate)."""
        super().pre_create_trial()
        self.trials_deadline = None
        plan = self.plan
        if plan.time_budget is None and plan.run_budget is None:
            return
        records = [r for r in load_records(self.project_dir) if r.folds]
        elapsed = clock() - self.started
        if plan.screening is not None:
            # a distributed worker's oracle is keras-tuner's client of the chief's, which knows
            # only the standard calls: there the chief's own trials close rounds
            close = getattr(self.oracle, "close_round", None)
            if close is not None and screens_too_late(records, elapsed, plan, self.space):
                close()
            if best_record(records) is None:
                return  # only screens so far: never stop with nothing to export
        expected = max((r.seconds or 0.0 for r in records), default=0.0)
        retrain = retrain_seconds(records, plan, self.space) if plan.run_budget else 0.0
        reason = budget_spent(elapsed, expected, plan.time_budget, plan.run_budget, retrain)
        if reason is not None:
            raise BudgetSpent(reason)
        if plan.run_budget is not None and best_record(records) is not None:
            self.trials_deadline = self.started + 60 * plan.run_budget - retrain

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        best = best_record(load_records(self.project_dir))
        self.reporter.trial_begin(
            trial_id=trial.trial_id,
            values=dict(trial.hyperparameters.values),
            best=best.mean if best else None,
        )

    def on_trial_end(self, trial):
        if trial.trial_id in self.pruned and trial.status == "COMPLETED":
            # Not a final score: keras-tuner (and a Bayesian oracle, and plain keras_tuner
            # reading the directory) must not take it as one.
            trial.status = "STOPPED"
        super().on_trial_end(trial)  # the oracle records the status (and may stop the search)
        records = load_records(self.project_dir)
        record = next((r for r in records if r.trial_id == trial.trial_id), None)
        if record is not None and record.ended:
            write_trial(Path(self.directory) / TENSORBOARD_DIR, record)
            self.reporter.trial_end(record)
        if role() != "worker":  # the search's page, live (a worker's trials show on the chief's)
            refresh_page(Path(self.directory), live=True)
        if self.plan.oracle != "hyperband":
            _keep_fold_models_of_best(records, keep=self._screens_needed(records))
        # The trial is saved: only now may too many failures stop the search.
        failed = record is not None and record.state is TrialState.FAILED
        self.failures_in_a_row = self.failures_in_a_row + 1 if failed else 0
        if self.failures_in_a_row >= self.plan.max_consecutive_failures:
            raise TooManyFailures(
                f"{self.directory}: stopped after {self.failures_in_a_row} failed trials in "
                f"a row; last reason (trial {record.trial_id}): {record.reason}"
            )

    def _screens_needed(self, records: list[TrialRecord]) -> set[str]:
        """The screens whose fold model a promotion may still go on from: not promoted and
        ended yet, and not passed over by their round (where this process's oracle keeps the
        rounds: a distributed worker's does not, and the search's end clears them)."""
        ended = {str(r.hyperparameters[SCREENED_KEY]) for r in records
                 if r.ended and r.hyperparameters.get(SCREENED_KEY) is not None}  # fmt: skip
        passed_over = getattr(self.oracle, "passed_over", set)()
        screens = {r.trial_id for r in records if is_screen(r.hyperparameters)}
        return screens - ended - passed_over

    def drop_screen_models(self) -> None:
        """Deletes the screens' fold models: the search is over, no promotion will need them
        (the other trials' are left as they are: the best's, and Hyperband's for its rounds)."""
        drop_screen_models(load_records(self.project_dir))

    def _first_fold(self, values: dict[str, Any]) -> FoldStart | None:
        """Where a promoted trial's fold 1 goes on from: its screen's fold model, when it is
        there (None: the trial trains fold 1 from the start)."""
        screen = values.get(SCREENED_KEY)
        if screen is None:
            return None
        path = Path(self.get_trial_dir(str(screen))) / WEIGHTS_FILE.format(fold=0)
        records = load_records(self.project_dir)
        record = next((r for r in records if r.trial_id == str(screen)), None)
        if record is None or not record.folds or not path.is_file():
            return None
        fold = record.folds[0]
        return FoldStart(str(path), fold.epochs, fold.history)

    def run_trial(self, trial, x, y, **_ignored):  # search(verbose=0) passes `verbose`
        """One trial, scored by CV. An error the machine caused (a full disk:
        ``tuner.errors.machine_fault``) stops the search instead of failing the trial
        (``compat.StopOnMachineFaults``)."""
        values = dict(trial.hyperparameters.values)
        trial_dir = Path(self.get_trial_dir(trial.trial_id))
        work = self._trial_work(trial.trial_id, values, trial_dir)
        started = time.perf_counter()
        try:
            if self.plan.isolate:
                timeout = self.plan.trial_timeout
                outcome = train_trial_in_process(
                    work, x, y, self.reporter, timeout=60 * timeout if timeout else None,
                    process=self.trial_process,
                )  # fmt: skip
            else:
                outcome = train_trial(work, x, y, self.reporter)
        except TrialFailed as e:
            raise FailedTrialError(str(e)) from None
        with atomic_path(trial_dir / OOF_FILE) as tmp:
            np.save(tmp, outcome.oof, allow_pickle=False)
        write_cv(
            trial_dir,
            folds=outcome.folds,
            params=outcome.params,
            seconds=time.perf_counter() - started,
            worker=self.tuner_id,
            pruned=outcome.pruned,
            gpu=os.environ.get(DEVICES_ENV),
        )
        if outcome.pruned:  # ended as STOPPED, without a score (on_trial_end)
            self.pruned.add(trial.trial_id)
        return {OBJECTIVE: float(np.mean([f.val_accuracy for f in outcome.folds]))}

    def _trial_work(self, trial_id: str, values: dict[str, Any], trial_dir: Path) -> TrialWork:
        """A trial of ``values``: its folds and seeds, pruner, deadline, where its fold models
        go and, with Hyperband, the trial it goes on from."""
        plan = self.plan
        if is_screen(values) and plan.screening is not None:
            prune = ScreenStop(plan.screening)
        elif plan.prune:
            records = load_records(self.project_dir)
            prune = rule_for_trial(records, plan.prune_margin, values, self.space)
        else:
            prune = None
        goes_on = plan.oracle == "hyperband" and "tuner/trial_id" in values
        return TrialWork(
            values, self.splits, plan.seed,
            seed_trial(trial_id, values),  # a promoted trial: its screen's seeds
            prune=prune, early_stopping=plan.early_stopping,
            # Fold models are kept for the best trial (`export --ensemble folds`) and, with
            # Hyperband, for every trial: a later round goes on from an earlier one's.
            save_weights_to=str(trial_dir),
            resume_from=self.get_trial_dir(values["tuner/trial_id"]) if goes_on else None,
            initial_epoch=int(values["tuner/initial_epoch"]) if goes_on else 0,
            mixed_precision=plan.mixed_precision, space=self.space,
            time_left=None if self.trials_deadline is None else self.trials_deadline - clock(),
            first_fold=self._first_fold(values), classes=len(plan.train.classes),
        )  # fmt: skip

    # A trial's K fold models are saved by the trainer (fold_<k>.weights.h5), and kept for the
    # best trial only; keras-tuner's single-model hooks have nothing to do.
    def save_model(self, trial_id, model, step=0):
        return None

    def load_model(self, trial):
        raise NotImplementedError(
            "a trial is K fold models, not one: use `digit-tuner export` (--ensemble folds "
            "loads the best trial's fold models)"
        )


def drop_screen_models(records: list[TrialRecord]) -> None:
    """Deletes the fold models of the screens among ``records``, and of nothing else."""
    _keep_fold_models_of_best([r for r in records if is_screen(r.hyperparameters)], keep=set())


def _keep_fold_models_of_best(records: list[TrialRecord], keep: set[str]) -> None:
    """Deletes the fold models (``fold_<k>.weights.h5``) of every finished trial but the best
    and the screens in ``keep`` (a running trial of another worker keeps its own: it may become
    the best)."""
    best = best_record(records)
    for record in records:
        if not record.ended or (best and record.trial_id == best.trial_id):
            continue
        if record.trial_id in keep:
            continue
        for path in Path(record.path).glob("fold_*.weights.h5"):
            path.unlink(missing_ok=True)

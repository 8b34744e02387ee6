"""The CV tuner: a keras-tuner oracle (random, Bayesian, Hyperband) whose trials are scored by
stratified K-fold CV; ``run_search`` and ``resume_search``.

Shaped like keras-tuner's ``SklearnTuner.run_trial``: loop over the folds, build a fresh model per
fold, train it on the (augmented on the fly) training fold, score it on the untouched validation
fold, and return the mean. Per-fold scores, epochs, times, learning curves and out-of-fold
probabilities are kept with the trial (``tuner.records``).

The settings and their checks live in ``tuner.settings``, ``search.json`` and the resume rules in
``tuner.manifest``, the holdout and the folds in ``tuner.splits``, the search directory's layout,
lock and overwrite rules in ``tuner.store``, and every use of keras-tuner's internals in
``tuner.patches``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tuner import patches, store
from tuner.data import Dataset
from tuner.distributed import role
from tuner.errors import SearchError, SearchFailure
from tuner.io import atomic_path, write_json_atomic
from tuner.manifest import (
    check_resume,
    check_same_data,
    mark_export_stale,
    read_manifest,
    space_of_manifest,
)
from tuner.progress import Reporter, shown
from tuner.pruning import rule_for_trial
from tuner.records import (
    TrialRecord,
    TrialState,
    best_record,
    load_records,
    write_cv,
)
from tuner.settings import SearchConfig, SearchPlan, hyperband_epochs, plan_search
from tuner.space import SearchSpace
from tuner.store import MANIFEST, OOF_FILE, TENSORBOARD_DIR, TUNER_DIR

__all__ = [
    "OBJECTIVE",
    "SearchResult",
    "TooManyFailures",
    "prepare_search",
    "load_search",
    "resume_search",
    "run_search",
]

OBJECTIVE = "val_accuracy"  # mean over the folds, maximized


@dataclass(frozen=True)
class SearchResult:
    directory: Path
    records: list[TrialRecord]

    @property
    def best(self) -> TrialRecord | None:
        return best_record(self.records)


def _make_oracle(plan: SearchPlan, space: SearchSpace, config: SearchConfig):
    import keras_tuner

    common = dict(
        objective=keras_tuner.Objective(OBJECTIVE, direction="max"),
        # keras-tuner takes seed=0 for "no seed" (`seed or random.randint(...)`): shift by one so
        # that every seed, 0 included, gives a reproducible sequence of trials.
        seed=config.seed + 1,
        hyperparameters=space.to_keras_tuner(),
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
        from tuner.screening import make_screening_oracle

        return make_screening_oracle(
            plan.screening, OBJECTIVE, max_trials=plan.max_trials, **common
        )
    return keras_tuner.oracles.RandomSearchOracle(max_trials=plan.max_trials, **common)


def _keep_fold_models_of_best(tuner_dir: Path) -> None:
    """Deletes the fold models (``fold_<k>.weights.h5``) of every finished trial but the best
    (a running trial of another worker keeps its own: it may become the best)."""
    records = load_records(tuner_dir)
    best = best_record(records)
    for record in records:
        if record.state is TrialState.RUNNING or (best and record.trial_id == best.trial_id):
            continue
        for path in Path(record.path).glob("fold_*.weights.h5"):
            path.unlink(missing_ok=True)


_clock = time.monotonic  # the time budget's clock (tests replace it)


# The retrain's seconds per image-epoch over the best trial's folds' (their training only), as
# measured on quick (2 cores, 20 epochs on 37,800 images; results/benchmarks.md): 1.07, 1.135
# and 1.09 on three runs that timed the validation passes, about 0.87-1.10 on three earlier
# ones that did not (their validation taken as the 10 % it was on the others); with 6-epoch folds
# (quick since the ninth session of 2026-11-27) 0.67, 0.76 and 0.86. The estimate takes the upper
# end: a low one overshoots the run budget, a high one stops the search early. These 2 cores also
# switch between two speeds minutes apart (about 500 and 1,000 images/s): no estimate from one
# trial's folds is tighter than that.
RETRAIN_MARGIN = 1.15


def retrain_seconds(records: list[TrialRecord], plan, space=None) -> float:
    """The export's retrain, estimated for the best trial so far (the one it would retrain; with
    none completed, the slowest finished trial): its seconds per training image and epoch in the
    folds, the validation passes left out (the retrain has none), times the retrain's images and
    epochs (``final_epochs``, else its own), times ``RETRAIN_MARGIN``. A slower trial that wins
    later can overshoot the run budget by the difference; the slowest trial as the estimate would
    end the search early whenever a slow configuration has been tried (measured on quick:
    batch-norm trials train at 2/3 the speed of the others)."""
    from tuner.model import resolve_values

    def estimate(record: TrialRecord) -> float:
        work = sum(f.train_size * f.epochs for f in record.folds)
        if not work or not plan.retrain_images:
            return 0.0
        seconds = sum(f.train_seconds - f.validation_seconds for f in record.folds)
        epochs = plan.final_epochs or resolve_values(record.hyperparameters, space)["epochs"]
        return RETRAIN_MARGIN * seconds / work * plan.retrain_images * epochs

    best = best_record(records)
    if best is not None:
        return estimate(best)
    return max((estimate(r) for r in records), default=0.0)


def screens_too_late(records: list[TrialRecord], elapsed: float, plan, space=None) -> bool:
    """Whether the current screening round must close now (``tuner.screening``): once another
    screen and then a full trial would no longer end within the budgets, screens no round
    could follow with a full trial are not started; its best screens go on in full instead.
    A full trial is taken to last as long as the longest so far, or, before any, as the best
    screen's configuration would (``_full_trial_seconds``); a screen, as the longest screen."""
    from tuner.screening import is_screen

    screens = [r for r in records if r.folds and is_screen(r.hyperparameters)]
    if not screens:
        return False
    best = max(screens, key=lambda r: r.folds[0].val_accuracy)
    ends = []
    if plan.time_budget is not None:
        ends.append(60 * plan.time_budget)
    if plan.run_budget is not None:
        # before any trial completes, the retrain of the best screen's configuration (the
        # likeliest winner), not of the slowest screen: two epochs are a noisy measure of
        # speed, and one slow screen (22.6 s where the others took 5-12) put the retrain at 28
        # minutes and closed a real round after 7 of its 27 screens
        done = records if best_record(records) is not None else [best]
        ends.append(60 * plan.run_budget - retrain_seconds(done, plan, space))
    if not ends:
        return False
    fulls = [r.seconds or 0.0 for r in records if r.folds and not is_screen(r.hyperparameters)]
    full = max(fulls, default=_full_trial_seconds(best, plan.folds, space))
    screen = max(r.seconds or 0.0 for r in screens)
    return elapsed + screen + full > min(ends)


def _full_trial_seconds(screen: TrialRecord, folds: int, space=None) -> float:
    """A full trial of a screen's configuration, estimated from the screen: its seconds per
    epoch of training, for every fold's epochs, plus what the screen spent outside training
    (the trial's process, building the model)."""
    from tuner.model import resolve_values

    fold = screen.folds[0]
    epochs = resolve_values(screen.hyperparameters, space)["epochs"]
    outside = max((screen.seconds or 0.0) - fold.train_seconds, 0.0)
    return fold.train_seconds / max(fold.epochs, 1) * epochs * folds + outside


class _BudgetSpent(Exception):
    """The time budget leaves no room for another trial."""


class TooManyFailures(SearchFailure):
    """The search stopped after ``--max-failures`` failed trials in a row (in this process)."""


def _requeue_damaged(oracle, records: list[TrialRecord]) -> None:
    """Queues for a redo every trial that keras-tuner holds as finished but whose records are
    damaged (``load_records`` shows it as RUNNING): one trial is redone, nothing else is lost."""
    trials = getattr(oracle, "trials", None)
    queue = getattr(oracle, "_retry_queue", None)
    if trials is None or queue is None:
        return
    for record in records:
        trial = trials.get(record.trial_id)
        if record.state is TrialState.RUNNING and trial is not None and trial.status != "RUNNING":
            trial.status = "RUNNING"
            if record.trial_id in oracle.end_order:
                oracle.end_order.remove(record.trial_id)
            if record.trial_id not in queue:
                queue.append(record.trial_id)


def _make_tuner_class():
    import keras_tuner

    class CVTuner(keras_tuner.Tuner):
        """A keras-tuner ``Tuner`` whose trials are scored by stratified K-fold cross-validation."""

        def __init__(
            self,
            oracle,
            *,
            plan,
            space,
            prune_margin,
            seed,
            reporter,
            isolate,
            max_failures,
            **kwargs,
        ):
            super().__init__(oracle=oracle, hypermodel=None, **kwargs)
            # the space goes to each trial only when it holds the user's hypermodel
            self.space = space if space.model is not None else None
            self.max_failures = max_failures
            self.failures_in_a_row = 0  # in this process: a resumed search starts a new count
            self.pruned: set[str] = set()  # trials of this process stopped by the pruning rule
            self.mixed_precision = plan.mixed_precision
            self.plan = plan
            self.splits = plan.splits
            self.prune_margin = prune_margin
            self.seed = seed
            self.started = _clock()
            self.trials_deadline = None  # set by pre_create_trial
            self.reporter = reporter
            self.isolate = isolate

        def pre_create_trial(self):
            super().pre_create_trial()
            # when, on this process's clock, the trials' share of the run budget ends (None: no
            # run budget, or no completed trial yet: the budget never cuts the only candidate);
            # each trial stops after its epoch past it (``time_left``), since this start rule
            # judges by the longest trial so far and a slower configuration would overshoot
            self.trials_deadline = None
            if self.plan.time_budget is None and self.plan.run_budget is None:
                return
            records = [r for r in load_records(self.project_dir) if r.folds]
            expected = max((r.seconds or 0.0 for r in records), default=0.0)
            elapsed = _clock() - self.started
            if self.plan.screening is not None:
                # (a distributed worker's oracle is keras-tuner's client of the chief's, which
                # knows only the standard calls: there the chief's own trials close rounds)
                close = getattr(self.oracle, "close_round", None)
                if close is not None and screens_too_late(records, elapsed, self.plan, self.space):
                    close()
                if best_record(records) is None:
                    return  # only screens so far: never stop with nothing to export
            if self.plan.time_budget is not None and (
                elapsed + expected > 60 * self.plan.time_budget
            ):
                raise _BudgetSpent(
                    f"time budget of {self.plan.time_budget:g} min spent: {elapsed / 60:.1f} min "
                    f"gone, and a trial takes up to {expected / 60:.1f} min"
                )
            if self.plan.run_budget is None:
                return
            retrain = retrain_seconds(records, self.plan, self.space)
            if elapsed + expected + retrain > 60 * self.plan.run_budget:
                raise _BudgetSpent(
                    f"run budget of {self.plan.run_budget:g} min: {elapsed / 60:.1f} min gone, a "
                    f"trial takes up to {expected / 60:.1f} min, and the final training about "
                    f"{retrain / 60:.1f} min"
                )
            if best_record(records) is not None:
                self.trials_deadline = self.started + 60 * self.plan.run_budget - retrain

        def on_trial_begin(self, trial):
            super().on_trial_begin(trial)
            best = best_record(load_records(self.project_dir))
            self.reporter.trial_begin(
                trial_id=trial.trial_id,
                values=dict(trial.hyperparameters.values),
                best=best.mean if best else None,
            )

        def on_trial_end(self, trial):
            from tuner.tensorboard_log import write_trial

            if trial.trial_id in self.pruned and trial.status == "COMPLETED":
                # Not a final score: keras-tuner (and a Bayesian oracle, and plain keras_tuner
                # reading the directory) must not take it as one.
                trial.status = "STOPPED"
            super().on_trial_end(trial)  # the oracle records the status (and may stop the search)
            record = next(
                (r for r in load_records(self.project_dir) if r.trial_id == trial.trial_id), None
            )
            if record is not None and record.state is not TrialState.RUNNING:
                write_trial(Path(self.directory) / TENSORBOARD_DIR, record)
                self.reporter.trial_end(record)
            if self.plan.oracle != "hyperband":
                _keep_fold_models_of_best(Path(self.project_dir))
            # The trial is saved: only now may too many failures stop the search.
            failed = record is not None and record.state is TrialState.FAILED
            self.failures_in_a_row = self.failures_in_a_row + 1 if failed else 0
            if self.failures_in_a_row >= self.max_failures:
                raise TooManyFailures(
                    f"{self.directory}: stopped after {self.failures_in_a_row} failed trials in "
                    f"a row; last reason (trial {record.trial_id}): {record.reason}"
                )

        def run_trial(self, trial, x, y, **_ignored):  # search(verbose=0) passes `verbose`
            from keras_tuner.errors import FailedTrialError

            from tuner.screening import ScreenStop, is_screen, seed_trial
            from tuner.trainer import TrialFailed, train_trial, train_trial_in_process

            train = train_trial_in_process if self.isolate else train_trial
            values = dict(trial.hyperparameters.values)
            trial_dir = Path(self.get_trial_dir(trial.trial_id))
            options: dict[str, Any] = {
                "early_stopping": self.plan.early_stopping,
                "mixed_precision": self.mixed_precision,
            }
            if self.isolate and self.plan.trial_timeout:
                options["timeout"] = 60 * self.plan.trial_timeout
            if self.trials_deadline is not None:
                options["time_left"] = self.trials_deadline - _clock()
            if is_screen(values) and self.plan.screening is not None:
                options["prune"] = ScreenStop(self.plan.screening)
            elif self.plan.prune:
                options["prune"] = rule_for_trial(
                    load_records(self.project_dir), self.prune_margin, values, self.space
                )
            if self.space is not None:
                options["space"] = self.space
            # Fold models are kept for the best trial (`export --ensemble folds`) and, with
            # Hyperband, for every trial: a later round goes on from an earlier one's.
            options["save_weights_to"] = str(trial_dir)
            if self.plan.oracle == "hyperband":
                if "tuner/trial_id" in values:
                    options["resume_from"] = self.get_trial_dir(values["tuner/trial_id"])
                    options["initial_epoch"] = int(values["tuner/initial_epoch"])
            started = time.perf_counter()
            try:
                outcome = train(
                    values,
                    x,
                    y,
                    self.splits,
                    self.seed,
                    seed_trial(trial.trial_id, values),  # a promoted trial: its screen's seeds
                    self.reporter,
                    **options,
                )
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
            )
            if outcome.pruned:  # ended as STOPPED, without a score (on_trial_end)
                self.pruned.add(trial.trial_id)
            return {OBJECTIVE: float(np.mean([f.val_accuracy for f in outcome.folds]))}

        # A trial's K fold models are saved by the trainer (fold_<k>.weights.h5), and kept for
        # the best trial only; keras-tuner's single-model hooks have nothing to do.
        def save_model(self, trial_id, model, step=0):
            return None

        def load_model(self, trial):
            raise NotImplementedError(
                "a trial is K fold models, not one: use `digit-tuner export` (--ensemble folds "
                "loads the best trial's fold models)"
            )

    return CVTuner


def _prepare_directory(config: SearchConfig, manifest: dict[str, Any]) -> list[str]:
    """Creates, checks or clears the search directory (holding its lock).

    Returns notes on settings a resume changed that do not change scores (time budget, ...).
    """
    directory = config.directory
    if role() == "worker":  # the chief owns the directory; a worker only checks it agrees
        if config.overwrite:
            raise SearchError("--overwrite is for the chief (digit-tuner search), not a worker")
        return check_resume(directory, read_manifest(directory), manifest)
    store.check_usable(directory)
    if config.overwrite:
        store.clear_search_directory(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if store.is_search_directory(directory):
        old = read_manifest(directory)
        notes = check_resume(directory, old, manifest)
        manifest["created"] = old.get("created", manifest["created"])
        write_json_atomic(directory / MANIFEST, {**old, **manifest})
        return notes
    write_json_atomic(directory / MANIFEST, manifest)
    return []


def prepare_search(train: Dataset, space: SearchSpace, config: SearchConfig) -> SearchPlan:
    """Checks the options and the search directory, and writes search.json (or checks that a
    resumed search agrees with it). Options given in ``config`` override the space's [search].
    Nothing is written unless every option is valid; the directory is changed holding its lock.

    Raises:
        SearchError: bad options, a directory in use, or one started with other data, space or
            scoring rules.
    """
    plan, manifest = plan_search(train, space, config)
    with _directory_lock(config):
        return _with_directory(config, plan, manifest)


def _with_directory(config: SearchConfig, plan: SearchPlan, manifest: dict[str, Any]) -> SearchPlan:
    """Prepares the directory for a checked plan (holding the lock); the plan with its notes."""
    notes = _prepare_directory(config, manifest)
    return dataclasses.replace(plan, notes=tuple(notes))


def _directory_lock(config: SearchConfig):
    """The search directory's lock, for a local search; a distributed search's chief and workers
    run under the lock of the process that launched them (``tuner.cli``)."""
    return store.hold(config.directory) if role() == "local" else contextlib.nullcontext()


def load_search(
    directory: str | Path, data: str | Path | None = None
) -> tuple[Dataset, SearchSpace, SearchConfig]:
    """What ``resume_search`` needs, read back from a search directory: its training data (from
    ``data``, default where it was loaded; it must be the same), its space and its settings.

    Raises:
        SearchError: not a search, or its data or hypermodel file cannot be loaded as it was.
        DataError: its training data cannot be read.
    """
    from tuner.data import data_of_source, load_data

    directory = Path(directory)
    manifest = read_manifest(directory)
    train = load_data(data or data_of_source(manifest["data"]["source"]), test=False).train
    check_same_data(directory, manifest, train)
    return (
        train,
        space_of_manifest(manifest, directory),
        SearchConfig.from_manifest(directory, manifest),
    )


def resume_search(
    directory: str | Path,
    reporter: Reporter | None = None,
    *,
    progress: bool = False,
    data: str | Path | None = None,
    **changes: Any,
) -> SearchResult:
    """Goes on with a search, with the settings it was started with (``search.json``); a
    distributed search's chief and workers are started this way.

    Args:
        directory: the search directory.
        data: where its training data is on this machine (default: where it was loaded).
        changes: settings that may change on resume (``max_trials``, ``time_budget``,
            ``run_budget``, ``max_consecutive_failures``, ``trial_timeout``); None leaves one as
            it was.
    """
    train, space, config = load_search(directory, data)
    allowed = {
        "max_trials",
        "time_budget",
        "run_budget",
        "max_consecutive_failures",
        "trial_timeout",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise SearchError(
            f"{sorted(unknown)[0]} cannot change on resume (only {', '.join(sorted(allowed))})"
        )
    config = dataclasses.replace(config, **{k: v for k, v in changes.items() if v is not None})
    return run_search(train, space, config, reporter, progress=progress)


def run_search(
    train: Dataset,
    space: SearchSpace,
    config: SearchConfig,
    reporter: Reporter | None = None,
    *,
    progress: bool = False,
) -> SearchResult:
    """Runs (or resumes) a search whose trials are scored by stratified K-fold CV.

    Args:
        train: labelled training data.
        space: the search space (``tuner.space.load_space``, or ``tuner.hypermodel``'s).
        config: name, seed, trials, folds, overwrite, ...
        reporter: receives progress events (default: none shown).
        progress: show progress (bars on a terminal, lines elsewhere) when no reporter is given.

    Returns:
        The records of every trial in the search directory, the resumed ones included.

    Raises:
        SearchError: bad options, a directory started with other data/space/seed/folds, or a search
            stopped by too many consecutive failed trials.
    """
    plan, manifest = plan_search(
        train, space, config
    )  # bad options fail before the directory is touched
    with shown(reporter, progress, space.varying()) as reporter:
        with _directory_lock(config):
            return _run_search(_with_directory(config, plan, manifest), space, config, reporter)


def _run_search(
    plan: SearchPlan, space: SearchSpace, config: SearchConfig, reporter: Reporter
) -> SearchResult:
    max_trials, folds = plan.max_trials, plan.folds
    for note in plan.notes:
        reporter.message(f"resuming with changed settings: {note}")
    # keras-tuner prints each failed trial's traceback; the reason is kept in trial.json instead.
    with contextlib.suppress(ImportError):
        from keras_tuner.src import config as keras_tuner_config

        keras_tuner_config.DEBUG = False

    oracle = _make_oracle(plan, space, config)
    from tuner.tensorboard_log import write_experiment

    if role() != "worker":
        write_experiment(config.directory / TENSORBOARD_DIR, space)
    patches.atomic_keras_tuner_state()
    CVTuner = _make_tuner_class()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # keras-tuner prints "Reloading Tuner ..."
            tuner = CVTuner(
                oracle,
                plan=plan,
                space=space,
                prune_margin=config.prune_margin,
                seed=config.seed,
                reporter=reporter,
                isolate=config.isolate,
                max_failures=config.max_consecutive_failures,
                directory=str(config.directory),
                project_name=TUNER_DIR,
                overwrite=False,
            )
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
        raise SearchError(
            f"{config.directory / TUNER_DIR}: cannot resume, the keras-tuner state is damaged "
            f"({type(e).__name__}: {' '.join(str(e).split())[:200]}); "
            "pass --overwrite to start anew"
        ) from None
    tuner_dir = config.directory / TUNER_DIR
    before = load_records(tuner_dir)
    patches.reload_oracle_state(tuner)
    patches.drop_finished_retries(tuner.oracle)
    _requeue_damaged(tuner.oracle, before)
    if role() == "chief":
        patches.validate_chief_requests(tuner.oracle, tuner_dir)
    done = sum(r.state is TrialState.COMPLETE for r in before)
    reporter.search_begin(name=config.name, max_trials=max_trials, done=done, folds=folds)
    if plan.time_budget:
        reporter.time_budget(minutes=plan.time_budget)
    stopped_by = None
    try:
        tuner.search(plan.train.images, plan.train.labels, verbose=0)
    except _BudgetSpent as e:
        stopped_by = f"{e}; run the same command again to go on"
    finally:
        mark_export_stale(config.directory, before, load_records(tuner_dir))
    records = load_records(tuner_dir)
    reporter.search_end(records)
    if stopped_by is not None:
        reporter.message(stopped_by)
    elif len(records) < max_trials and role() != "worker" and plan.oracle != "hyperband":
        # RandomSearch never repeats a point; a small discrete space runs out before max_trials.
        reporter.message(
            f"the search space has no untried points left: stopped after {len(records)} of "
            f"{max_trials} trials"
        )
    return SearchResult(directory=config.directory, records=records)

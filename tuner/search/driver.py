"""Running a search: ``run_search`` and ``resume_search`` (the library API), ``prepare_search`` for
a distributed search's launcher, and ``load_search`` to read one back.

The settings and their checks live in ``tuner.search.plan``, the budget rule in
``tuner.search.budget``, the CV tuner in ``tuner.search.cv_tuner``, the search directory and
``search.json`` in ``tuner.storage``, and every use of keras-tuner's internals in
``tuner.compat.keras_tuner``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tuner.compat.keras_tuner as compat
import tuner.distributed.chief as chief
import tuner.storage.directory as store
from tuner.analysis.page import refresh_page
from tuner.analysis.tensorboard_logs import write_experiment
from tuner.data.kaggle import Dataset, data_of_source, load_data
from tuner.distributed.roles import role
from tuner.errors import SearchError, machine_faults
from tuner.models.hypermodels import space_of_manifest
from tuner.search.budget import BudgetSpent
from tuner.search.cv_tuner import CVTuner
from tuner.search.oracles import make_oracle
from tuner.search.plan import SearchConfig, SearchPlan, plan_search
from tuner.settings import free_settings
from tuner.space.spaces import SearchSpace
from tuner.storage.directory import TENSORBOARD_DIR, TUNER_DIR
from tuner.storage.manifest import (
    check_same_data,
    mark_export_stale,
    prepare_directory,
    read_manifest,
)
from tuner.storage.records import TrialRecord, TrialState, best_record, load_records
from tuner.ui.events import Reporter
from tuner.ui.reporters import shown

__all__ = ["SearchResult", "prepare_search", "load_search", "resume_search", "run_search"]


@dataclass(frozen=True)
class SearchResult:
    directory: Path
    records: list[TrialRecord]

    @property
    def best(self) -> TrialRecord | None:
        return best_record(self.records)


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
    notes = prepare_directory(config.directory, manifest, overwrite=config.overwrite)
    return dataclasses.replace(plan, notes=tuple(notes))


def _directory_lock(config: SearchConfig):
    """The search directory's lock, for a local search; a distributed search's chief and workers
    run under the lock of the process that launched them (``tuner.distributed.launcher``)."""
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
        changes: settings that may change on resume (``tuner.settings.free_settings``: trials,
            budgets, the failure cap, ...); None leaves one as it was.
    """
    train, space, config = load_search(directory, data)
    allowed = free_settings()
    unknown = set(changes) - set(allowed)
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
        space: the search space (``tuner.space.load_space``, or ``tuner.models.hypermodels``'s).
        config: name, seed, trials, folds, overwrite, ...
        reporter: receives progress events (default: none shown).
        progress: show progress (bars on a terminal, lines elsewhere) when no reporter is given.

    Returns:
        The records of every trial in the search directory, the resumed ones included.

    Raises:
        SearchError: bad options, a directory started with other data/space/seed/folds, or a search
            stopped by too many consecutive failed trials.
        MachineFault: the machine stopped it (a full disk: ``tuner.errors.machine_fault``); the
            trial it hit runs again when the search resumes.
    """
    # bad options fail before the directory is touched
    plan, manifest = plan_search(train, space, config)
    with shown(reporter, progress, space.varying()) as reporter, machine_faults():
        with _directory_lock(config):
            return _run_search(_with_directory(config, plan, manifest), space, config, reporter)


def _run_search(
    plan: SearchPlan, space: SearchSpace, config: SearchConfig, reporter: Reporter
) -> SearchResult:
    for note in plan.notes:
        reporter.message(f"resuming with changed settings: {note}")
    compat.quiet_failed_trials()
    compat.atomic_keras_tuner_state()
    if role() != "worker":
        write_experiment(config.directory / TENSORBOARD_DIR, space)
    cv_tuner = _open_tuner(plan, space, config, reporter)
    tuner_dir = config.directory / TUNER_DIR
    before = load_records(tuner_dir)
    compat.reload_oracle_state(cv_tuner)
    compat.drop_finished_retries(cv_tuner.oracle)
    compat.requeue_damaged(
        cv_tuner.oracle, [r.trial_id for r in before if r.state is TrialState.DAMAGED]
    )
    compat.fresh_retries(cv_tuner.oracle)
    done = sum(r.state is TrialState.COMPLETE for r in before)
    reporter.search_begin(name=config.name, max_trials=plan.max_trials, done=done, folds=plan.folds)
    if plan.time_budget:
        reporter.time_budget(minutes=plan.time_budget)
    stopped_by = None
    try:
        _search(cv_tuner, plan, config)
    except BudgetSpent as e:
        stopped_by = f"{e}; run the same command again to go on"
    finally:
        cv_tuner.close()
        mark_export_stale(config.directory, before, load_records(tuner_dir))
    if role() != "worker":  # the search ended (an interrupted one keeps them for its resume)
        cv_tuner.drop_screen_models()
    records = load_records(tuner_dir)
    if role() != "worker":
        refresh_page(config.directory, live=False)
    reporter.search_end(records)
    _say_why_it_ended(reporter, stopped_by, records, plan)
    return SearchResult(directory=config.directory, records=records)


def _search(cv_tuner: CVTuner, plan: SearchPlan, config: SearchConfig) -> None:
    """Runs the trials here, or (the chief of a distributed search) serves them to the workers
    that prove they hold the search's secret (``tuner.distributed.chief``)."""
    if role() == "chief":
        cv_tuner.save()
        chief.serve_workers(cv_tuner.oracle, config.directory)
        return
    if role() == "worker":
        chief.join_chief(cv_tuner.oracle, config.directory)
    try:
        cv_tuner.search(plan.train.images, plan.train.labels, verbose=0)
    except Exception as e:
        if (fault := chief.chief_fault(e)) is not None:
            raise fault from None
        if (reason := chief.refusal(e)) is None:
            raise
        raise SearchError(reason) from None


def _open_tuner(plan: SearchPlan, space: SearchSpace, config: SearchConfig, reporter) -> CVTuner:
    """The CV tuner on the search directory (a resumed search reloads its keras-tuner state)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # keras-tuner prints "Reloading Tuner ..."
            return CVTuner(
                make_oracle(plan, space, config.seed),
                plan=plan,
                space=space,
                reporter=reporter,
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


def _say_why_it_ended(reporter, stopped_by: str | None, records, plan: SearchPlan) -> None:
    if stopped_by is not None:
        reporter.message(stopped_by)
    elif len(records) < plan.max_trials and role() != "worker" and plan.oracle != "hyperband":
        # RandomSearch never repeats a point; a small discrete space runs out before max_trials.
        reporter.message(
            f"the search space has no untried points left: stopped after {len(records)} of "
            f"{plan.max_trials} trials"
        )

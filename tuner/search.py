"""The CV tuner: keras-tuner's RandomSearch oracle, each trial scored by stratified K-fold CV.

Shaped like keras-tuner's ``SklearnTuner.run_trial``: loop over the folds, build a fresh model per
fold, train it on the (augmented on the fly) training fold, score it on the untouched validation
fold, and return the mean. Per-fold scores, epochs, times, learning curves and out-of-fold
probabilities are kept with the trial (``tuner.records``).

The search directory's layout, lock and overwrite rules live in ``tuner.store``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tuner import patches, store
from tuner.data import Dataset
from tuner.errors import SearchError, SearchFailure
from tuner.io import atomic_path, read_json, write_json_atomic
from tuner.progress import Reporter, shown
from tuner.records import (
    TrialRecord,
    TrialState,
    best_record,
    load_records,
    write_cv,
)
from tuner.space import SearchSpace
from tuner.store import MANIFEST, OOF_FILE, TENSORBOARD_DIR, TUNER_DIR

__all__ = [
    "OBJECTIVE",
    "SearchConfig",
    "SearchPlan",
    "SearchResult",
    "hyperband_trials",
    "search_part",
    "split_holdout",
    "fold_indices",
    "prepare_search",
    "load_search",
    "resume_search",
    "space_of_manifest",
    "plan_search",
    "check_resume",
    "run_search",
    "role",
    "search_dir_for",
    "read_manifest",
    "check_same_data",
    "package_versions",
    "provenance",
]

OBJECTIVE = "val_accuracy"  # mean over the folds, maximized


@dataclass(frozen=True)
class SearchConfig:
    """How to run a search; ``None`` takes the value from the space file's ``[search]`` table."""

    name: str  # directory name under results_dir
    results_dir: Path = Path("results")
    max_trials: int | None = None  # trials in all, finished ones included (a resume adds up to it)
    folds: int | None = None  # K of StratifiedKFold
    seed: int = 0  # seeds the oracle, the fold assignment and every model
    overwrite: bool = False  # delete an existing search of the same name first
    max_consecutive_failures: int = 3  # stop the search after this many failed trials in a row
    oracle: str | None = None  # random, bayesian or hyperband (keras-tuner's oracles)
    prune: bool | None = None  # stop hopeless trials early (random, bayesian): see _prune_rule
    # A trial is pruned when its mean over the folds so far, or an epoch of a fold, is below the
    # best trial's minus max(prune_margin, 2 x the best trial's fold std) (accuracy, a fraction).
    prune_margin: float = 0.002
    early_stopping: int | None = None  # patience in epochs; 0 turns off the space's setting
    # Minutes: start no trial that would end past this (a trial is expected to take as long as
    # the longest finished one); 0 turns off the space's setting. A resumed search starts anew.
    time_budget: float | None = None
    mixed_precision: bool | None = None  # float16 compute; None: on where a GPU is
    # A stratified fraction of the training data kept out of the search and the retrain, to judge
    # final recipes (single model, ensembles, TTA) on images none of them saw.
    holdout: float | None = None
    # Train each trial in a fresh worker process: memory stays flat over a long search (TensorFlow
    # keeps ~11 MiB per trained model), and an out-of-memory kill fails one trial, not the search.
    isolate: bool = True
    # Minutes: a trial's worker process running longer than this is stopped and the trial fails
    # (a hung trial never stalls the search). None: the time budget, if any; 0: no limit.
    trial_timeout: float | None = None

    @property
    def directory(self) -> Path:
        return Path(self.results_dir) / self.name

    @classmethod
    def from_manifest(cls, directory: str | Path, manifest: dict[str, Any]) -> SearchConfig:
        """The settings a search was started with, as its ``search.json`` records them (resolved:
        nothing left to the space's defaults), to resume it or to run its distributed workers."""
        config = manifest["config"]
        directory = Path(directory)

        def off(value):  # None in search.json means "off"; in a SearchConfig, "the space's"
            return 0 if value is None else value

        return cls(
            name=directory.name,
            results_dir=directory.parent,
            max_trials=config["max_trials"],
            folds=config["folds"],
            seed=config["seed"],
            max_consecutive_failures=config.get("max_consecutive_failures", 3),
            oracle=config["oracle"],
            prune=config["prune"],
            prune_margin=config.get("prune_margin", 0.002),
            early_stopping=off(config.get("early_stopping")),
            time_budget=off(config.get("time_budget_minutes")),
            mixed_precision=config.get("mixed_precision"),
            holdout=config.get("holdout"),
            isolate=config.get("isolate", True),
            trial_timeout=off(config.get("trial_timeout")),
        )


@dataclass(frozen=True)
class SearchPlan:
    """A search's settings once the options and the space's [search] table are merged."""

    splits: list[tuple[np.ndarray, np.ndarray]]
    max_trials: int  # for hyperband: the trials its brackets make
    folds: int
    oracle: str
    prune: bool
    early_stopping: int | None
    time_budget: float | None  # minutes
    train: Dataset  # what the search trains and scores on: the training data less the holdout
    holdout: Dataset | None
    mixed_precision: bool = False  # resolved: float16 compute or not
    trial_timeout: float | None = None  # minutes; None: no limit
    notes: tuple[str, ...] = ()  # settings a resume changed that do not change scores


def split_holdout(
    train: Dataset, fraction: float | None, seed: int
) -> tuple[Dataset, Dataset | None]:
    """(search part, holdout): a stratified, seeded ``fraction`` of ``train`` held out.

    Both parts keep the original order of the images. No fraction: (train, None).
    """
    if not fraction:
        return train, None
    from sklearn.model_selection import train_test_split

    if not 0 < fraction < 1:
        raise SearchError(f"holdout must be a fraction between 0 and 1, got {fraction}")
    counts = np.bincount(train.labels, minlength=10)
    if round(fraction * len(train)) < 10 or counts.min() < 2:
        raise SearchError(
            f"holdout={fraction} of {len(train)} images is too small to hold every class out"
        )
    keep, held = train_test_split(
        np.arange(len(train)), test_size=fraction, stratify=train.labels, random_state=seed
    )
    keep, held = np.sort(keep), np.sort(held)
    part = Dataset(train.images[keep], train.labels[keep], f"{train.source} (search part)")
    holdout = Dataset(train.images[held], train.labels[held], f"{train.source} (holdout)")
    return part, holdout


def search_part(manifest: dict[str, Any], train: Dataset) -> tuple[Dataset, Dataset | None]:
    """The (search part, holdout) of ``train`` that the search of ``manifest`` used."""
    config = manifest.get("config", {})
    return split_holdout(train, config.get("holdout"), int(config.get("seed", 0)))


def hyperband_epochs(space: SearchSpace) -> int:
    """Hyperband's largest budget: the space's (largest) number of epochs."""
    entry = next(e for e in space.hyperparameters if e.name == "epochs")
    if entry.type == "fixed":
        return int(entry.value)
    if entry.type == "choice":
        return int(max(entry.values))
    return int(entry.max)


def hyperband_trials(max_epochs: int, factor: int = 3) -> int:
    """How many trials one iteration of keras-tuner's Hyperband runs (its bracket arithmetic)."""
    import math

    brackets = 0
    epochs = max_epochs
    while epochs >= 1:
        epochs /= factor
        brackets += 1
    end = math.ceil(1 + math.log(max_epochs, factor))
    total = 0
    for bracket in range(brackets):
        for round_num in range(bracket + 1):
            total += math.ceil(end / (bracket + 1) * factor ** (bracket - round_num))
    return total


@dataclass(frozen=True)
class SearchResult:
    directory: Path
    records: list[TrialRecord]

    @property
    def best(self) -> TrialRecord | None:
        return best_record(self.records)


def package_versions() -> dict[str, str]:
    """Versions of the packages a result depends on (read from metadata, nothing imported)."""
    import platform
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for package in (
        "digit-tuner",
        "keras",
        "keras-tuner",
        "tensorflow-cpu",
        "tensorflow",
        "jax",
        "torch",
        "numpy",
        "pandas",
        "scikit-learn",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return versions


def provenance() -> dict[str, Any]:
    """How and where this process runs: the command line, the project's version and git commit
    (when run from a checkout), and the hardware (``tuner.backend.hardware``)."""
    import shlex
    import subprocess
    import sys
    from importlib import metadata

    from tuner.backend import hardware

    try:
        version = metadata.version("digit-tuner")
    except metadata.PackageNotFoundError:
        version = None
    commit = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if done.returncode == 0:
            commit = done.stdout.strip()
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    if program in ("__main__.py", "cli.py"):
        program = "digit-tuner"
    return {
        "command": shlex.join([program, *sys.argv[1:]]),
        "version": version,
        "git_commit": commit,
        **hardware(),
    }


def fold_indices(labels: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified K-fold split, shuffled with ``seed``: a list of (train, validation) index arrays."""
    from sklearn.model_selection import StratifiedKFold

    if folds < 2:
        raise SearchError(f"folds must be >= 2, got folds={folds}")
    counts = np.bincount(labels)
    smallest = int(counts[counts > 0].min()) if counts.size else 0
    if folds > smallest:
        raise SearchError(
            f"folds must be <= the smallest class count ({smallest} images), got folds={folds}"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


def search_dir_for(results_dir: str | Path, name_or_path: str | Path | None) -> Path:
    """Resolves a search given by name (under ``results_dir``) or by path.

    With no name, the only search under ``results_dir``.
    """
    results_dir = Path(results_dir)
    if name_or_path is not None:
        path = Path(name_or_path)
        for candidate in (path, results_dir / path):
            if (candidate / MANIFEST).is_file():
                return candidate
        raise SearchError(f"{results_dir / path}: no search here (no {MANIFEST})")
    found = sorted(p.parent for p in results_dir.glob(f"*/{MANIFEST}"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise SearchError(f"{results_dir}: no searches yet (run `digit-tuner search` first)")
    names = ", ".join(p.name for p in found)
    raise SearchError(
        f"{results_dir}: several searches ({names}); name one (`digit-tuner searches` lists them)"
    )


def read_manifest(directory: Path) -> dict[str, Any]:
    """A search's ``search.json``, checked for the sections every command reads."""
    path = Path(directory) / MANIFEST
    try:
        manifest = read_json(path)
    except FileNotFoundError:
        raise SearchError(f"{directory}: no search here (no {MANIFEST})") from None
    except (OSError, ValueError) as e:
        raise SearchError(
            f"{path}: unreadable ({e}); restore it from a backup, or pass --overwrite to start "
            "the search anew"
        ) from None
    shape = {"config": dict, "data": dict, "space": dict}
    wrong = [
        key
        for key, kind in shape.items()
        if not isinstance(manifest, dict) or not isinstance(manifest.get(key), kind)
    ]
    if wrong:
        raise SearchError(
            f"{path}: not a digit-tuner manifest (no {', '.join(wrong)} section); restore it "
            "from a backup, or pass --overwrite to start the search anew"
        )
    return manifest


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
    return keras_tuner.oracles.RandomSearchOracle(max_trials=plan.max_trials, **common)


def _prune_rule(
    records: list[TrialRecord],
    margin: float,
    values: dict[str, Any],
    space: SearchSpace | None = None,
):
    """The pruning rule for a new trial (``tuner.pruning``), or None before enough trials.

    Only trials with the same number of epochs are compared (their learning-rate schedules then
    match); a pruned trial's partial curves count, as in Optuna's pruners.
    """
    from tuner.model import resolve_values
    from tuner.pruning import Finished, PruneSettings, make_rule

    epochs = resolve_values(values, space)["epochs"]
    earlier = []
    for record in records:
        if record.state not in (TrialState.COMPLETE, TrialState.PRUNED) or not record.folds:
            continue
        if resolve_values(record.hyperparameters, space)["epochs"] != epochs:
            continue
        earlier.append(
            Finished(
                curves=tuple(tuple(f.history.get("val_accuracy", ())) for f in record.folds),
                fold_scores=tuple(f.val_accuracy for f in record.folds if f.epochs == epochs),
                complete=record.state is TrialState.COMPLETE,
            )
        )
    val_sizes = [f.val_size for r in records for f in r.folds]
    val_size = min(val_sizes) if val_sizes else None
    return make_rule(earlier, PruneSettings(margin=margin), val_size, int(epochs))


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
            self.reporter = reporter
            self.isolate = isolate

        def pre_create_trial(self):
            super().pre_create_trial()
            if self.plan.time_budget is None:
                return
            finished = [r.seconds or 0.0 for r in load_records(self.project_dir) if r.folds]
            expected = max(finished, default=0.0)
            elapsed = _clock() - self.started
            if elapsed + expected > 60 * self.plan.time_budget:
                raise _BudgetSpent(
                    f"time budget of {self.plan.time_budget:g} min spent: {elapsed / 60:.1f} min "
                    f"gone, and a trial takes up to {expected / 60:.1f} min"
                )

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

            from tuner.trainer import TrialFailed, train_trial, train_trial_in_worker

            train = train_trial_in_worker if self.isolate else train_trial
            values = dict(trial.hyperparameters.values)
            trial_dir = Path(self.get_trial_dir(trial.trial_id))
            options: dict[str, Any] = {
                "early_stopping": self.plan.early_stopping,
                "mixed_precision": self.mixed_precision,
            }
            if self.isolate and self.plan.trial_timeout:
                options["timeout"] = 60 * self.plan.trial_timeout
            if self.plan.prune:
                options["prune"] = _prune_rule(
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
                    trial.trial_id,
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

        # The winner is retrained on all data at export; trials keep no model files.
        def save_model(self, trial_id, model, step=0):
            return None

        def load_model(self, trial):
            raise NotImplementedError("trials keep no models: use `digit-tuner export`")

    return CVTuner


def _manifest(
    config: SearchConfig, space: SearchSpace, train: Dataset, plan: SearchPlan
) -> dict[str, Any]:
    import keras

    return {
        "name": config.name,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": {
            "max_trials": plan.max_trials,
            "folds": plan.folds,
            "seed": config.seed,
            "oracle": plan.oracle,
            "prune": plan.prune,
            "prune_margin": config.prune_margin,
            "early_stopping": plan.early_stopping,
            "time_budget_minutes": plan.time_budget,
            "holdout": config.holdout or None,
            "holdout_size": 0 if plan.holdout is None else len(plan.holdout),
            "mixed_precision": plan.mixed_precision,
            "max_consecutive_failures": config.max_consecutive_failures,
            "trial_timeout": plan.trial_timeout,
            "isolate": config.isolate,
        },
        "data": {
            "source": train.source,
            "train_size": len(train),
            "fingerprint": train.fingerprint(),
        },
        "space": {
            "name": space.name,
            "path": space.path,
            "text": space.text,
            "varying": space.varying(),
            "model": space.model_reference,
        },
        "backend": keras.backend.backend(),
        "versions": package_versions(),
        "provenance": provenance(),
    }


def check_same_data(directory: Path, manifest: dict[str, Any], train: Dataset) -> None:
    """Raises unless ``train`` is the training data the search ran on."""
    if manifest.get("data", {}).get("fingerprint") != train.fingerprint():
        raise SearchError(
            f"{directory}: the search ran on other training data "
            f"({manifest.get('data', {}).get('source')}); got {train.source}"
        )


# Settings that change how a trial is scored: a resumed search must keep them, or trials scored
# under different rules would be ranked together. The others may change on resume (with a note).
SCORING_SETTINGS = (
    "seed",
    "folds",
    "oracle",
    "holdout",
    "prune",
    "prune_margin",
    "early_stopping",
    "mixed_precision",
)
FREE_SETTINGS = (
    "max_trials",
    "time_budget_minutes",
    "max_consecutive_failures",
    "trial_timeout",
    "isolate",
)


def check_resume(directory: Path, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Raises when a resumed search would score trials differently; returns notes on the settings
    that changed and may (they change what runs, not how a trial is scored)."""
    fix = "pass --overwrite to start it anew, or --name for a new search"
    old_config = old.get("config", {})
    if old.get("data", {}).get("fingerprint") != new["data"]["fingerprint"]:
        raise SearchError(
            f"{directory}: this search was started on other training data "
            f"(was {old.get('data', {}).get('source')}, now {new['data']['source']}); {fix}"
        )
    if old.get("space", {}).get("text") != new["space"]["text"]:
        raise SearchError(
            f"{directory}: this search was started with a different search space; {fix}"
        )
    for key in SCORING_SETTINGS:
        if key not in old_config:  # a search made by an older version: nothing to compare
            continue
        before, now = old_config[key], new["config"][key]
        if before != now:
            raise SearchError(
                f"{directory}: this search was started with a different {key.replace('_', ' ')} "
                f"(was {before}, now {now}): trials scored under both would be ranked "
                f"together; {fix}"
            )
    notes = []
    for key in FREE_SETTINGS:
        before, now = old_config.get(key), new["config"].get(key)
        if key in old_config and before != now:
            notes.append(f"{key.replace('_', ' ')}: was {before}, now {now} (scores unaffected)")
    return notes


def role() -> str:
    """This process's part in a search: "local", or "chief" / "worker" of a distributed one
    (keras-tuner's KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT)."""
    import os

    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "local"
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"


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


def plan_search(
    train: Dataset, space: SearchSpace, config: SearchConfig
) -> tuple[SearchPlan, dict[str, Any]]:
    """The merged, checked settings of a search and its manifest; writes nothing."""
    from tuner.space import ORACLES

    if train.labels is None:
        raise SearchError(f"{train.source}: training data has no labels")
    _check_hypermodel(space, config)
    store.check_name(config.name)
    max_trials = space.search.max_trials if config.max_trials is None else config.max_trials
    folds = space.search.folds if config.folds is None else config.folds
    oracle = config.oracle or space.search.oracle
    prune = space.search.prune if config.prune is None else config.prune
    early_stopping = (
        space.search.early_stopping if config.early_stopping is None else config.early_stopping
    ) or None
    if not 0 <= config.seed < 2**32:
        raise SearchError(f"seed must be within 0..{2**32 - 1}, got seed={config.seed}")
    if max_trials < 1:
        raise SearchError(f"max_trials must be >= 1, got max_trials={max_trials}")
    if config.max_consecutive_failures < 1:
        raise SearchError(
            f"max_consecutive_failures must be >= 1, got {config.max_consecutive_failures}"
        )
    if oracle not in ORACLES:
        raise SearchError(f"oracle must be one of {', '.join(ORACLES)}, got oracle={oracle!r}")
    if oracle == "hyperband":
        if config.prune:
            raise SearchError(
                "pruning is for the random and bayesian oracles; hyperband already stops weak "
                "trials early (drop --prune or choose another --oracle)"
            )
        prune = False  # the space's default yields to the oracle the user chose
    if not 0 <= config.prune_margin < 1:
        raise SearchError(f"prune_margin must be within 0..1, got {config.prune_margin}")
    if early_stopping is not None and early_stopping < 0:
        raise SearchError(f"early_stopping must be >= 0 epochs, got {early_stopping}")
    time_budget = (
        space.search.time_budget if config.time_budget is None else config.time_budget
    ) or None
    if time_budget is not None and time_budget < 0:
        raise SearchError(f"time_budget must be >= 0 minutes, got {time_budget}")
    if config.trial_timeout is not None and config.trial_timeout < 0:
        raise SearchError(f"trial_timeout must be >= 0 minutes, got {config.trial_timeout}")
    trial_timeout = time_budget if config.trial_timeout is None else (config.trial_timeout or None)
    if oracle == "hyperband":
        max_trials = hyperband_trials(hyperband_epochs(space))
    part, holdout = split_holdout(train, config.holdout, config.seed)
    splits = fold_indices(part.labels, folds, config.seed)  # checks folds before writing anything
    from tuner.backend import has_gpu

    mixed = has_gpu() if config.mixed_precision is None else bool(config.mixed_precision)
    plan = SearchPlan(
        splits,
        max_trials,
        folds,
        oracle,
        bool(prune),
        early_stopping,
        time_budget,
        part,
        holdout,
        mixed_precision=mixed,
        trial_timeout=trial_timeout,
    )
    return plan, _manifest(config, space, train, plan)


def _check_hypermodel(space: SearchSpace, config: SearchConfig) -> None:
    """A hypermodel given as a callable must be importable by trial worker processes."""
    from tuner.hypermodel import ModelSource

    model = space.model
    if model is None or isinstance(model, ModelSource) or not config.isolate:
        return
    module = getattr(model, "__module__", None)
    if module in (None, "__main__", "__mp_main__"):
        raise SearchError(
            f"hypermodel {space.model_reference}: a build function defined in a notebook or "
            "in __main__ cannot be imported by the trial worker processes; pass "
            "SearchConfig(isolate=False) to train in this process, or put it in a file and "
            "give 'file.py:build'"
        )


def space_of_manifest(manifest: dict[str, Any], directory: str | Path) -> SearchSpace:
    """The search space a search ran with: its space file's text as ``search.json`` keeps it (the
    file itself may have moved), or its hypermodel's file, which must not have changed."""
    from tuner.hypermodel import space_of_search
    from tuner.space import parse_space

    space = space_of_search(manifest, directory)
    if space is not None:
        return space
    section = manifest["space"]
    name = section.get("name") or "space"
    return parse_space(section["text"], Path(section.get("path") or f"{name}.toml"))


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
            ``max_consecutive_failures``, ``trial_timeout``); None leaves one as it was.
    """
    train, space, config = load_search(directory, data)
    allowed = {"max_trials", "time_budget", "max_consecutive_failures", "trial_timeout"}
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
    stopped_by = None
    try:
        tuner.search(plan.train.images, plan.train.labels, verbose=0)
    except _BudgetSpent as e:
        stopped_by = f"{e}; run the same command again to go on"
    finally:
        _mark_export_stale(config.directory, before, load_records(tuner_dir))
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


def _mark_export_stale(
    directory: Path, before: list[TrialRecord], after: list[TrialRecord]
) -> None:
    """Says in search.json that an earlier export no longer reflects the search, when trials ended
    since (its files stay until the next export replaces them)."""
    if role() == "worker":
        return
    ended = {r.trial_id for r in after if r.state is not TrialState.RUNNING}
    ended -= {r.trial_id for r in before if r.state is not TrialState.RUNNING}
    if not ended:
        return
    manifest = read_manifest(directory)
    if "export" in manifest and not manifest["export"].get("stale"):
        manifest["export"]["stale"] = (
            f"{len(ended)} trial(s) ended after this export; run `digit-tuner export` again"
        )
        write_json_atomic(directory / MANIFEST, manifest)

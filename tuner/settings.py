"""A search's settings: what the user asks (``SearchConfig``, ``None`` meaning "the space's"), and
the plan once merged with the space's ``[search]`` table and checked (``plan_search``), the one
place where settings are validated. ``search.json`` records the plan; ``SearchConfig.from_manifest``
reads it back (a resume, a distributed worker)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tuner import store
from tuner.data import Dataset
from tuner.errors import SearchError
from tuner.manifest import build_manifest
from tuner.screening import Screening
from tuner.space import SearchSpace
from tuner.splits import fold_indices, searched_subset, split_holdout

__all__ = [
    "SearchConfig",
    "SearchPlan",
    "hyperband_epochs",
    "hyperband_trials",
    "plan_search",
    "check_hypermodel",
]


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
    # The pruning rule's smallest noise margin (accuracy, a fraction): a trial stops when its
    # score at a fold's epoch, or its mean over the folds so far, is below the 75th percentile of
    # the earlier trials' at that point less max(prune_margin, 3 sd of the noise) (tuner.pruning).
    prune_margin: float = 0.002
    early_stopping: int | None = None  # patience in epochs; 0 turns off the space's setting
    # Minutes: start no trial that would end past this (a trial is expected to take as long as
    # the longest finished one); 0 turns off the space's setting. A resumed search starts anew.
    time_budget: float | None = None
    # Minutes for the search and the export's retrain together: start no trial that would end
    # later than this less the retrain's estimated time (``tuner.search``); 0 turns off the
    # space's setting. A resumed search starts anew.
    run_budget: float | None = None
    mixed_precision: bool | None = None  # float16 compute; None: on where a GPU is
    # A stratified fraction of the training data kept out of the search and the retrain, to judge
    # final recipes (single model, ensembles, TTA) on images none of them saw.
    holdout: float | None = None
    # Images: the search's folds train and score on a stratified, seeded subset of this many
    # images of the search part (a cheaper fidelity, so that more configurations are tried); the
    # export retrains on the whole part. None: the space's; 0: all of it.
    search_images: int | None = None
    # Epochs of the export's retrain on all the data (the final fit may train longer than the
    # search's trials). None: the space's; 0: the winner's own epochs.
    final_epochs: int | None = None
    # Train each trial in a fresh trial process: memory stays flat over a long search (TensorFlow
    # keeps ~11 MiB per trained model), and an out-of-memory kill fails one trial, not the search.
    isolate: bool = True
    # Minutes: a trial's process running longer than this is stopped and the trial fails
    # (a hung trial never stalls the search). None: the time budget, else the run budget, if
    # any; 0: no limit.
    trial_timeout: float | None = None
    # Screen, then search (``tuner.screening``): rounds of this many configurations trained for
    # the space's ``screen_epochs`` of fold 1, the best ``screen_keep`` in full. None: the
    # space's ``screen``; 0: off (every trial a full one).
    screen: int | None = None

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
            run_budget=off(config.get("run_budget_minutes")),
            mixed_precision=config.get("mixed_precision"),
            holdout=config.get("holdout"),
            search_images=off(config.get("search_images")),
            final_epochs=off(config.get("final_epochs")),
            isolate=config.get("isolate", True),
            trial_timeout=off(config.get("trial_timeout")),
            screen=(config.get("screen") or {}).get("size", 0),
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
    holdout: Dataset | None  # (and only search_images of it, when set)
    mixed_precision: bool = False  # resolved: float16 compute or not
    trial_timeout: float | None = None  # minutes; None: no limit
    notes: tuple[str, ...] = ()  # settings a resume changed that do not change scores
    search_images: int | None = None  # a subset searched (None: the whole search part)
    final_epochs: int | None = None  # of the export's retrain (None: the winner's)
    budget_stated: float | None = None  # minutes: the space's time budget before it was scaled
    run_budget: float | None = None  # minutes: search and the export's retrain together
    retrain_images: int | None = None  # what the export retrains on (the search part, all of it)
    screening: Screening | None = None  # screen, then search (None: every trial a full one)


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


def _setting(name: str, given, default, unit: str):
    """An option that may be turned off: the user's value, else the space's; 0 (or none) is off
    (None); a negative value is refused, naming it."""
    value = (default if given is None else given) or None
    if value is not None and value < 0:
        raise SearchError(f"{name} must be >= 0 {unit}, got {value}")
    return value


def plan_search(
    train: Dataset, space: SearchSpace, config: SearchConfig
) -> tuple[SearchPlan, dict[str, Any]]:
    """The merged, checked settings of a search and its manifest; writes nothing."""
    from tuner.space import ORACLES

    if train.labels is None:
        raise SearchError(f"{train.source}: training data has no labels")
    check_hypermodel(space, config)
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
    time_budget = _setting("time_budget", config.time_budget, space.search.time_budget, "minutes")
    if config.trial_timeout is not None and config.trial_timeout < 0:
        raise SearchError(f"trial_timeout must be >= 0 minutes, got {config.trial_timeout}")
    run_budget = _setting("run_budget", config.run_budget, space.search.run_budget, "minutes")
    if config.trial_timeout is None:
        trial_timeout = time_budget or run_budget
    else:
        trial_timeout = config.trial_timeout or None
    part, holdout = split_holdout(train, config.holdout, config.seed)
    retrain_images = len(part)
    time_budget, stated = _scaled_budget(time_budget, config, space, len(part))
    if oracle == "hyperband":
        max_trials = hyperband_trials(hyperband_epochs(space))
    screening = _screening(space, config, oracle, early_stopping)
    search_images = _setting(
        "search_images", config.search_images, space.search.search_images, "images"
    )
    final_epochs = _setting(
        "final_epochs", config.final_epochs, space.search.final_epochs, "epochs"
    )
    part = searched_subset(part, search_images, config.seed)
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
        search_images=None if search_images is None else len(part),
        final_epochs=final_epochs,
        budget_stated=stated,
        run_budget=run_budget,
        retrain_images=retrain_images,
        screening=screening,
    )
    return plan, build_manifest(config, space, train, plan)


def _screening(space: SearchSpace, config: SearchConfig, oracle: str, early_stopping):
    """The screening rounds' shape, checked against the oracle and the trials' epochs (None:
    no screening)."""
    size = space.search.screen if config.screen is None else config.screen
    if not size:
        return None
    if size < 0:
        raise SearchError(f"screen must be >= 0 configurations, got screen={size}")
    # The space's screening yields to an oracle or early stopping the user chose; a clash the
    # user asked for, or one within the space file, is refused.
    where = "" if config.screen is not None else f"{space.path}: "
    if oracle != "random":
        if config.screen is None and config.oracle is not None:
            return None
        raise SearchError(
            f"{where}screen is for the random oracle (it draws the configurations it screens), "
            f"got oracle={oracle!r}; pass --screen 0 or --oracle random"
        )
    if early_stopping is not None:
        if config.screen is None and config.early_stopping is not None:
            return None
        raise SearchError(
            f"{where}screen needs every epoch of fold 1 trained; early_stopping trains on 90 % "
            "and stops at its own epoch: pass --screen 0 or --early-stopping 0"
        )
    from tuner.model import resolve_values

    screening = Screening(size, space.search.screen_epochs, space.search.screen_keep)
    try:
        screening.check(_fewest_epochs(space, resolve_values({}, space)["epochs"]))
    except ValueError as e:
        raise SearchError(f"{space.path}: {e}") from None
    return screening


def _fewest_epochs(space: SearchSpace, default: int) -> int:
    """The fewest epochs a trial of the space trains (``default`` when the space has none)."""
    entry = next((e for e in space.hyperparameters if e.name == "epochs"), None)
    if entry is None:
        return int(default)
    if entry.type == "fixed":
        return int(entry.value)
    if entry.type == "choice":
        return int(min(entry.values))
    return int(entry.min)


def _scaled_budget(minutes, config: SearchConfig, space: SearchSpace, images: int):
    """The space's time budget, stated for ``budget_images`` images, shrunk in proportion for a
    smaller search part (never grown); a budget given on the command line is taken as it is.
    Returns the minutes and, when scaled, the stated minutes."""
    stated = space.search.budget_images
    if minutes is None or config.time_budget is not None or not stated or images >= stated:
        return minutes, None
    return round(minutes * images / stated, 2), minutes


def check_hypermodel(space: SearchSpace, config: SearchConfig) -> None:
    """A hypermodel given as a callable must be importable by trial processes."""
    from tuner.hypermodel import ModelSource

    model = space.model
    if model is None or isinstance(model, ModelSource) or not config.isolate:
        return
    module = getattr(model, "__module__", None)
    if module in (None, "__main__", "__mp_main__"):
        raise SearchError(
            f"hypermodel {space.model_reference}: a build function defined in a notebook or "
            "in __main__ cannot be imported by the trial processes; pass "
            "SearchConfig(isolate=False) to train in this process, or put it in a file and "
            "give 'file.py:build'"
        )

"""A search's settings: what the user asks (``SearchConfig``, ``None`` meaning "the space's"), and
the plan once merged with the space's ``[search]`` table and checked (``plan_search``), the one
place where a search's settings are validated, and the ``search.json`` it records
(``build_manifest``). ``SearchConfig.from_manifest`` reads the settings back (a resume, a
distributed worker). What each setting is, and whether a resume may change it: ``tuner.settings``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from tuner.backend import keras, mixed_precision_default, precision_name, provenance

import numpy as np

import tuner.storage.directory as store
from tuner.data.kaggle import Dataset
from tuner.data.splits import (
    ALWAYS_TRAINED,
    final_fits,
    fold_indices,
    searched_subset,
    split_holdout,
)
from tuner.errors import SearchError
from tuner.models.hypermodels import ModelSource
from tuner.screening.rounds import Screening
from tuner.settings import SETTINGS, SearchConfig
from tuner.space.spaces import SearchSpace
from tuner.space.values import fewest_epochs, hyperband_epochs
from tuner.storage.manifest import package_versions

__all__ = [
    "SearchConfig",  # re-exported: the settings a plan is made from (``tuner.settings``)
    "SearchPlan",
    "build_manifest",
    "hyperband_trials",
    "plan_search",
    "check_hypermodel",
]


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
    mixed_precision: bool = False  # resolved: mixed precision (backend.precision_name) or not
    trial_timeout: float | None = None  # minutes; None: no limit
    notes: tuple[str, ...] = ()  # settings a resume changed that do not change scores
    search_images: int | None = None  # a subset searched (None: the whole search part)
    final_epochs: int | None = None  # of the export's retrain (None: the winner's)
    budget_stated: float | None = None  # minutes: the space's time budget before it was scaled
    run_budget: float | None = None  # minutes: search and the export's retrain together
    retrain_images: int | None = None  # the search part (all of it), what a measured model sees
    final_models: int = 1  # models of the winner the export trains and averages
    # the images of the final models the export always trains (the first two: one measured, one
    # on every image; tuner.data.splits.final_fits), added up: what the run budget keeps room
    # for, an epoch each; later models train only if time is left
    final_images: int | None = None
    holdout_fraction: float | None = None  # resolved: the option's, else the space's (None: none)
    screening: Screening | None = None  # screen, then search (None: every trial a full one)


def hyperband_trials(max_epochs: int, factor: int = 3) -> int:
    """How many trials one iteration of keras-tuner's Hyperband runs (its bracket arithmetic)."""
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


def _off_or(given, default):
    """A setting that 0 turns off (both values already checked): the user's value, else the
    space's; 0 (or none) is off (None)."""
    return (default if given is None else given) or None


def plan_search(
    train: Dataset, space: SearchSpace, config: SearchConfig
) -> tuple[SearchPlan, dict[str, Any]]:
    """The merged, checked settings of a search and its manifest; writes nothing."""
    if train.labels is None:
        raise SearchError(f"{train.source}: training data has no labels")
    check_hypermodel(space, config)
    store.check_name(config.name)
    merged = _merged(space, config)
    holdout_fraction = _off_or(config.holdout, space.search.holdout)
    part, holdout = _split_holdout(train, holdout_fraction, config, space)
    retrain_images = len(part)
    time_budget, stated = _scaled_budget(
        merged["time_budget"], config.time_budget, space, len(part)
    )
    # the run budget shrinks with the search part too: the final models train on it
    run_budget, _ = _scaled_budget(merged["run_budget"], config.run_budget, space, len(part))
    if merged["oracle"] == "hyperband":
        merged["max_trials"] = hyperband_trials(hyperband_epochs(space))
    screening = _screening(space, config, merged["oracle"], merged["early_stopping"])
    search_images = _off_or(config.search_images, space.search.search_images)
    final_epochs = _off_or(config.final_epochs, space.search.final_epochs)
    final_models = config.final_models or space.search.final_models
    held = 0 if holdout is None else len(holdout)
    final_images = sum(final_fits(final_models, len(part), held)[:ALWAYS_TRAINED])
    part = searched_subset(part, search_images, config.seed)
    splits = fold_indices(part.labels, merged["folds"], config.seed)  # checked before any write
    mixed = config.mixed_precision
    mixed = mixed_precision_default() if mixed is None else bool(mixed)
    plan = SearchPlan(
        splits, merged["max_trials"], merged["folds"], merged["oracle"], bool(merged["prune"]),
        merged["early_stopping"], time_budget, part, holdout, mixed_precision=mixed,
        trial_timeout=merged["trial_timeout"],
        search_images=None if search_images is None else len(part), final_epochs=final_epochs,
        budget_stated=stated, run_budget=run_budget, retrain_images=retrain_images,
        screening=screening, holdout_fraction=holdout_fraction, final_models=final_models,
        final_images=final_images,
    )  # fmt: skip
    return plan, build_manifest(config, space, train, plan)


def _split_holdout(train: Dataset, fraction, config: SearchConfig, space: SearchSpace):
    """(search part, holdout) of ``train``; a holdout too small for the data names where the
    fraction came from (a space's default can be turned off with --holdout 0)."""
    try:
        return split_holdout(train, fraction, config.seed)
    except SearchError as e:
        if config.holdout is not None:
            raise
        raise SearchError(f"{space.path}: the space's {e}; pass --holdout 0 to keep none") from None


def _merged(space: SearchSpace, config: SearchConfig) -> dict[str, Any]:
    """The options merged with the space's ``[search]`` table and checked, naming a bad value."""
    defaults = space.search
    merged = {
        "max_trials": defaults.max_trials if config.max_trials is None else config.max_trials,
        "folds": defaults.folds if config.folds is None else config.folds,
        "oracle": config.oracle or defaults.oracle,
        "prune": defaults.prune if config.prune is None else config.prune,
        "early_stopping": _off_or(config.early_stopping, defaults.early_stopping),
    }
    _check(config, merged)
    if merged["oracle"] == "hyperband":
        merged["prune"] = False  # the space's default yields to the oracle the user chose
    merged["time_budget"] = _off_or(config.time_budget, defaults.time_budget)
    merged["run_budget"] = _off_or(config.run_budget, defaults.run_budget)
    if config.trial_timeout is None:
        merged["trial_timeout"] = merged["time_budget"] or merged["run_budget"]
    else:
        merged["trial_timeout"] = config.trial_timeout or None
    return merged


def _check(config: SearchConfig, merged: dict[str, Any]) -> None:
    """Each setting given in ``config``, checked by its declaration (``tuner.settings``), then the
    combinations no declaration can see."""
    for s in SETTINGS:
        value = getattr(config, s.name, None)
        if value is not None:
            try:
                s.check(value)
            except ValueError as e:
                raise SearchError(str(e)) from None
    if merged["oracle"] == "hyperband" and config.prune:
        raise SearchError(
            "pruning is for the random and bayesian oracles; hyperband already stops weak "
            "trials early (drop --prune or choose another --oracle)"
        )


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
    screening = Screening(size, space.search.screen_epochs, space.search.screen_keep)
    try:
        screening.check(fewest_epochs(space))
    except ValueError as e:
        raise SearchError(f"{space.path}: {e}") from None
    return screening


def _scaled_budget(minutes, given, space: SearchSpace, images: int):
    """A space's budget (time or run), stated for ``budget_images`` images, shrunk in proportion
    for a smaller search part (never grown); a budget ``given`` on the command line is taken as
    it is. Returns the minutes and, when scaled, the stated minutes."""
    stated = space.search.budget_images
    if minutes is None or given is not None or not stated or images >= stated:
        return minutes, None
    return round(minutes * images / stated, 2), minutes


def check_hypermodel(space: SearchSpace, config: SearchConfig) -> None:
    """A hypermodel given as a callable must be importable by trial processes."""
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


def build_manifest(
    config: SearchConfig, space: SearchSpace, train: Dataset, plan: SearchPlan
) -> dict[str, Any]:
    """The ``search.json`` of a checked plan (``tuner.storage.manifest`` writes it)."""
    return {
        "name": config.name,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": _recorded_config(config, plan),
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
        "precision": precision_name(plan.mixed_precision),
        "versions": package_versions(),
        "provenance": provenance(),
    }


def _recorded_config(config: SearchConfig, plan: SearchPlan) -> dict[str, Any]:
    """The resolved value of every recorded setting, under its ``search.json`` key
    (``tuner.settings``), and the holdout's size."""
    screen = plan.screening
    resolved = {
        "max_trials": plan.max_trials,
        "folds": plan.folds,
        "seed": config.seed,
        "oracle": plan.oracle,
        "prune": plan.prune,
        "prune_margin": config.prune_margin,
        "early_stopping": plan.early_stopping,
        "time_budget": plan.time_budget,
        "run_budget": plan.run_budget,
        "holdout": plan.holdout_fraction,
        "search_images": plan.search_images,
        "final_epochs": plan.final_epochs,
        "final_models": plan.final_models,
        "mixed_precision": plan.mixed_precision,
        "max_consecutive_failures": config.max_consecutive_failures,
        "trial_timeout": plan.trial_timeout,
        "isolate": config.isolate,
        "screen": None
        if screen is None
        else {"size": screen.size, "epochs": screen.epochs, "keep": screen.promoted},
    }
    recorded = {s.manifest: resolved[s.name] for s in SETTINGS if s.manifest is not None}
    recorded["holdout_size"] = 0 if plan.holdout is None else len(plan.holdout)
    return recorded

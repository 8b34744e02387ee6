"""A search's settings: what the user asks (``SearchConfig``, ``None`` meaning "the space's"), and
the plan once merged with the space's ``[search]`` table and checked (``plan_search``), the one
place where a search's settings are validated, and the ``search.json`` it records
(``build_manifest``). ``SearchConfig.from_manifest`` reads the settings back (a resume, a
distributed worker). What each setting is, and whether a resume may change it: ``tuner.settings``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tuner.backend import keras, mixed_precision_default, precision_name, provenance

import numpy as np

import tuner.storage.directory as store
from tuner.data.kaggle import Dataset
from tuner.data.splits import (
    ALWAYS_TRAINED,
    check_class_sizes,
    final_fits,
    fold_indices,
    searched_subset,
    split_holdout,
)
from tuner.errors import SearchError
from tuner.models.hypermodels import ModelSource
from tuner.screening.rounds import Screening
from tuner.settings import SETTINGS, Resolved, SearchConfig, resolve
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
class SearchPlan(Resolved):
    """A search's settings once the options and the space's [search] table are merged and
    checked: every setting by name in ``settings`` (``tuner.settings.resolve``, then what the data
    decides: budgets scaled to the images, ``screen`` as its ``Screening``, ``search_images`` as
    the subset's size, ``mixed_precision`` resolved), read as attributes (``plan.folds``), and
    what the data makes of them."""

    settings: Mapping[str, Any]
    splits: list[tuple[np.ndarray, np.ndarray]]
    train: Dataset  # what the search trains and scores on: the training data less the holdout
    held_out: Dataset | None  # (and only search_images of it, when set)
    notes: tuple[str, ...] = ()  # settings a resume changed that do not change scores
    budget_stated: float | None = None  # minutes: the space's time budget before it was scaled
    retrain_images: int | None = None  # the search part (all of it), what a measured model sees
    # the images of the final models the export always trains (the first two: one measured, one
    # on every image; tuner.data.splits.final_fits), added up: what the run budget keeps room
    # for, an epoch each; later models train only if time is left
    final_images: int | None = None

    @property
    def screening(self) -> Screening | None:
        """Screen, then search (None: every trial a full one)."""
        return self.settings["screen"]


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


def plan_search(
    train: Dataset, space: SearchSpace, config: SearchConfig
) -> tuple[SearchPlan, dict[str, Any]]:
    """The merged, checked settings of a search and its manifest; writes nothing."""
    if train.labels is None:
        raise SearchError(f"{train.source}: training data has no labels")
    check_hypermodel(space, config, train)
    store.check_name(config.name)
    values = _merged(space, config)
    check_class_sizes(train, values["folds"], values["holdout"])
    part, held_out = _split_holdout(train, values["holdout"], config, space)
    retrain_images = len(part)
    values["time_budget"], stated = _scaled_budget(
        values["time_budget"], config.time_budget, space, len(part)
    )
    # the run budget shrinks with the search part too: the final models train on it
    values["run_budget"], _ = _scaled_budget(
        values["run_budget"], config.run_budget, space, len(part)
    )
    values["screen"] = _screening(space, config, values["oracle"], values["early_stopping"])
    held = 0 if held_out is None else len(held_out)
    final_images = sum(final_fits(values["final_models"], len(part), held)[:ALWAYS_TRAINED])
    part = searched_subset(part, values["search_images"], config.seed)
    if values["search_images"] is not None:
        values["search_images"] = len(part)
    splits = fold_indices(part.labels, values["folds"], config.seed)  # checked before any write
    if values["mixed_precision"] is None:
        values["mixed_precision"] = mixed_precision_default()
    plan = SearchPlan(
        values, splits, part, held_out, budget_stated=stated, retrain_images=retrain_images,
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
    """The options merged with the space's ``[search]`` table (``tuner.settings.resolve``) and
    checked, naming a bad value; then what one setting decides of another."""
    values = resolve(config, space.search)
    _check(config, values)
    if values["oracle"] == "hyperband":
        values["prune"] = False  # the space's default yields to the oracle the user chose
        values["max_trials"] = hyperband_trials(hyperband_epochs(space))
    if config.trial_timeout is None:  # the budgets as the space states them
        values["trial_timeout"] = values["time_budget"] or values["run_budget"]
    return values


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


def check_hypermodel(space: SearchSpace, config: SearchConfig, train: Dataset) -> None:
    """A hypermodel returns one score per class of the data, and one given as a callable must
    be importable by trial processes."""
    model, classes = space.model, train.classes
    if space.outputs is not None and space.outputs != len(classes):
        raise SearchError(
            f"hypermodel {space.model_reference}: its model returns {space.outputs} class scores; "
            f"{train.source} has {len(classes)} classes (labels {classes[0]}..{classes[-1]})"
        )
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
            "classes": list(train.classes),
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
    recorded = {
        s.manifest: s.write(plan.settings[s.name]) if s.write else plan.settings[s.name]
        for s in SETTINGS
        if s.manifest is not None
    }
    recorded["holdout_size"] = 0 if plan.held_out is None else len(plan.held_out)
    return recorded

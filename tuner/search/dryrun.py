"""``search --dry-run``: the merged plan of a search and its estimated time, nothing written.

The plan is what ``run_search`` would do: the options merged with the space's ``[search]`` table,
checked by the same code (``tuner.search.plan``), the folds' sizes, the epochs, where it would write
and whether it would resume. The time is estimated from a short calibration: the space's default
point trained for a few steps on the real images as a fold trains them
(``tuner.training.fit.training_speed``), so the
estimate includes this machine's speed.
Other points of the space train faster or slower (width, depth, batch size): the figure is for
the default point and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuner.backend import precision

import tuner.storage.directory as store
from tuner.data.kaggle import Dataset
from tuner.screening.rounds import SCREEN, Screening, simulated_course
from tuner.search.budget import RETRAIN_MARGIN, fits, trials_end
from tuner.search.plan import SearchConfig, plan_search
from tuner.settings import Resolved
from tuner.space.spaces import SearchSpace
from tuner.space.values import resolve_values
from tuner.storage.manifest import check_resume, read_manifest
from tuner.storage.records import load_records
from tuner.training.fit import Recipe, training_speed

__all__ = ["DryRun", "dry_run"]


@dataclass(frozen=True)
class DryRun(Resolved):
    """A search's plan, as ``run_search`` would carry it out: its settings as the plan resolved
    them (``settings``, read as attributes: ``dry.max_trials``), and what it would do with them."""

    directory: Path
    resumes: bool  # a search of this name exists and would go on
    done: int  # its trials already ended
    settings: Mapping[str, Any]  # every setting by name (``tuner.search.plan.SearchPlan``)
    budget_stated: float | None  # minutes the space states, when scaled down to this data
    train_images: int  # the search part (training data less the holdout)
    holdout_images: int
    retrain_images: int  # the search part (all of it)
    final_images: int  # the images of the final models the search keeps room for, added up
    fold_train: int  # images in a fold's training part (the smallest fold)
    fold_val: int  # images in a fold's validation part
    epochs: int  # of the default point
    batch_size: int  # of the default point
    varying: tuple[str, ...]
    images_per_second: float | None  # training speed of the default point (None: not measured)

    @property
    def screening(self) -> Screening | None:
        """Screen, then search (None: every trial a full one)."""
        return self.settings["screen"]

    @property
    def epoch_seconds(self) -> float | None:
        if not self.images_per_second:
            return None
        return self.fold_train / self.images_per_second

    @property
    def trial_seconds(self) -> float | None:
        """One unpruned trial of the default point: every fold's epochs (training only)."""
        epoch = self.epoch_seconds
        return None if epoch is None else epoch * self.epochs * self.folds

    @property
    def retrain_seconds(self) -> float | None:
        """The export's retrain of the default point (training only)."""
        if not self.images_per_second:
            return None
        # under a run budget the search keeps room for the final models at the trials' epochs
        # (``tuner.search.budget.retrain_seconds``): their epochs then fill what is left
        epochs = self.epochs if self.run_budget else self.final_epochs or self.epochs
        return self.final_images * epochs / self.images_per_second

    @property
    def trials_left(self) -> int:
        """The trials still to run (``max_trials`` less those already ended)."""
        return max(self.max_trials - self.done, 0)

    def _limit(self) -> float:
        """Seconds the trials may take (``tuner.search.budget.trials_end``, with the search's
        margin on the retrain's estimate); inf without budgets."""
        retrain = RETRAIN_MARGIN * (self.retrain_seconds or 0.0)
        return trials_end(self.time_budget, self.run_budget, retrain)

    def _started(self) -> list[float]:
        """The seconds of each trial the budgets start, unpruned, in order (``tuner.search.budget``'s
        rules at the default point's speed): the first always, each next one only if it would
        end within the limit; with screening, the course of rounds
        (``tuner.screening.rounds.simulated_course``)."""
        trial, left = self.trial_seconds, self.trials_left
        if trial is None:
            return [0.0] * left
        limit, started, elapsed = self._limit(), [], 0.0
        if self.screening is None:
            while len(started) < left and (not started or fits(elapsed, trial, limit)):
                started.append(trial)
                elapsed += trial
            return started
        s = self.screening
        screen = trial * s.epochs / (self.epochs * self.folds)
        course = simulated_course(s, left, screen, trial, limit)
        return [screen if kind == SCREEN else trial for kind in course]

    @property
    def trials_to_run(self) -> int:
        """How many of ``trials_left`` the budgets start (``_started``)."""
        return len(self._started())

    @property
    def total_seconds(self) -> float | None:
        """The trials the budgets start (``trials_to_run``), unpruned."""
        return None if self.trial_seconds is None else sum(self._started())


def dry_run(
    train: Dataset, space: SearchSpace, config: SearchConfig, *, measure: bool = True
) -> DryRun:
    """The plan of ``run_search(train, space, config)``, checked like it, writing nothing.

    Raises:
        SearchError: what ``run_search`` would refuse (bad options, a resume with other data,
            space or scoring settings).
    """
    plan, manifest = plan_search(train, space, config)
    directory = config.directory
    resumes = store.is_search_directory(directory)
    done = 0
    if resumes:
        if not config.overwrite:
            check_resume(directory, read_manifest(directory), manifest)
            done = sum(r.ended for r in load_records(directory / store.TUNER_DIR))
        else:
            resumes = False
    values = resolve_values(space.default_values(), space)
    speed = None
    if measure:
        with precision(plan.mixed_precision):  # the precision the trials will train in
            recipe = Recipe(values, space, len(plan.train.classes))
            speed = training_speed(recipe, plan.train.images, plan.train.labels).images_per_second
    return DryRun(
        directory=directory,
        resumes=resumes,
        done=done,
        settings=plan.settings,
        budget_stated=plan.budget_stated,
        train_images=len(plan.train),
        holdout_images=0 if plan.held_out is None else len(plan.held_out),
        retrain_images=plan.retrain_images,
        final_images=plan.final_images,
        fold_train=min(len(t) for t, _ in plan.splits),
        fold_val=max(len(v) for _, v in plan.splits),
        epochs=int(values["epochs"]),
        batch_size=int(values["batch_size"]),
        varying=tuple(space.varying()),
        images_per_second=speed,
    )

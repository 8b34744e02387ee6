"""When to stop a trial early (``--prune``): a noise-aware rule, fold-matched and epoch-matched.

A trial is compared, at the same fold and epoch, with the trials that ran before it: it stops when
its best validation accuracy so far in that fold falls below a quantile of theirs (the third
quartile by default) minus a noise margin (the best so far, not the last epoch: one epoch can dip
by half a point and the next recover, as two seeds of one configuration show); after a fold, when
its running mean falls below the same quantile of their running means over the same folds. A
point judges once ``startup_trials`` earlier trials have reached it, whether they went on or
stopped, as in asynchronous successive halving. The points are, by default, successive halving's
rungs: epochs 2, 4, 8, ... of the first fold (after a ``warmup`` share of it) and the end of each
fold (``rung_factor``; with 0, every epoch after the warm-up share of each fold). Early epochs are
noisy (two near-identical configurations differ by more than half a point after one epoch; a
batch-norm model can sit 10 points behind after epoch 1 and lead after epoch 2): the noise margin
grows with the spread the earlier trials show at that epoch, and few looks give noise few
chances. Only trials that train the same number of epochs are compared (their learning-rate
schedules then match).

The rule is plain Python on plain numbers: the CV tuner feeds it the search's records
(``rule_for_trial``), and ``bench/replay.py`` feeds it replayed searches, so the benchmark judges
the very code that runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tuner.pruners.base import BasePruner
from tuner.screening.marks import is_screen
from tuner.settings import PRUNE_MARGIN
from tuner.space.values import resolve_values
from tuner.storage.records import TrialState

__all__ = ["PruneSettings", "Finished", "PruneRule", "make_rule", "rule_for_trial"]


@dataclass(frozen=True)
class PruneSettings:
    """The rule's knobs; the defaults are the replay benchmark's choice (results/benchmarks.md)."""

    # The defaults are the replay's choice on the learning-curve table at 8,400 images
    # (bench/curves.py, bench/replay.py; results/benchmarks.md, "Search strategies replayed on the
    # learning-curve table") among the rules under which no run of a repeated configuration stops
    # its twins (tests/pruners/test_replay.py), checked on the curves of real quick searches
    # (tests/fixtures/quick_curves.json).
    #
    # Earlier trials that must have reached a decision point (a fold's epoch, or a fold's end)
    # before a trial can be stopped there; trials stopped later than that point count, as in
    # asynchronous successive halving: with 1, the second trial can stop in its first fold if it
    # falls below the first trial's curve less the noise margin.
    startup_trials: int = 1
    # The share of a fold's epochs before an epoch can stop a trial; 1.0: never within a fold,
    # only after it. Epoch 1 is never judged, however few the epochs: batch-norm models sit far
    # behind after it and lead after epoch 2, and judging it pruned the best configuration of a
    # real quick search (tests/fixtures/quick_curves.json). 0 judges from epoch 1.
    warmup: float = 0.1
    # The bar: this quantile of the earlier trials at the same point, less the noise margin.
    quantile: float = 0.75
    margin: float = PRUNE_MARGIN  # accuracy (a fraction) below the bar always tolerated...
    # ...or this many times the noise at that point, if larger: the larger of the sampling error
    # of an accuracy measured on the validation fold (sqrt(p(1 - p) / n)) and the earlier trials'
    # spread over their folds (the median of their standard deviations).
    # 3: with 2, twins of configurations near the best stopped each other (the replay's twins).
    noise_z: float = 3.0
    # 0: every epoch after the warm-up is a decision point. k >= 2: only epochs 1, k, k^2, ... of
    # the first fold (after the warm-up) and the ends of the folds, successive halving's rungs in
    # epochs: fewer looks give noise fewer chances to stop a good trial, so a rule can look
    # earlier. 2 and 3 were both twin-safe on the second table; 2 needed less compute.
    rung_factor: int = 2

    def __post_init__(self):
        if self.rung_factor == 1 or self.rung_factor < 0:
            raise ValueError(f"rung_factor must be 0 or at least 2, got {self.rung_factor}")

    def label(self) -> str:
        rungs = f" rungs x{self.rung_factor}" if self.rung_factor else ""
        return (
            f"q{self.quantile:g} startup {self.startup_trials} warm-up {self.warmup:g} "
            f"margin max({self.margin:g}, {self.noise_z:g} sd){rungs}"
        )

    def judges(self, fold: int, epoch: int, epochs: int) -> bool:
        """Whether ``epoch`` (from 1) of ``fold`` (from 0), of ``epochs``, is a decision point."""
        if self.warmup > 0 and epoch <= max(1.0, self.warmup * epochs):
            return False
        if not self.rung_factor:
            return True
        if fold > 0:
            return False
        while epoch % self.rung_factor == 0:
            epoch //= self.rung_factor
        return epoch == 1


@dataclass(frozen=True)
class Finished:
    """What an earlier trial of the same epochs left: its curves, complete or not."""

    curves: tuple[tuple[float, ...], ...]  # validation accuracy per fold, per epoch reached
    fold_scores: tuple[float, ...]  # final accuracy of each fold it finished
    complete: bool = True  # False: pruned (its partial curves still inform the bar)


@dataclass(frozen=True)
class PruneRule(BasePruner):
    """The rule for one new trial, given the earlier ones."""

    earlier: tuple[Finished, ...]
    settings: PruneSettings = PruneSettings()
    val_size: int | None = None  # images in one validation fold (sets the sampling error)
    epochs: int | None = None  # epochs of a fold (sets the warm-up)

    def _sampling_error(self, accuracy: float, folds: int = 1) -> float:
        if not self.val_size:
            return 0.0
        p = min(max(accuracy, 0.0), 1.0)
        return float(np.sqrt(p * (1 - p) / (self.val_size * folds)))

    def _bar(self, references: Sequence[float], spread: float, folds: int) -> float | None:
        """The quantile of ``references`` less the noise margin, or None while too few. The
        noise is the larger of ``spread`` (how much a trial's score moves from fold to fold) and
        the sampling error of a ``folds``-fold accuracy. (Not the references' spread around one
        another: that is how different the configurations are, not noise; with one broken
        configuration among them it would stop the rule from ever pruning.)"""
        if len(references) < self.settings.startup_trials:
            return None
        center = float(np.quantile(references, self.settings.quantile))
        noise = max(spread, self._sampling_error(center, folds))
        return center - max(self.settings.margin, self.settings.noise_z * noise)

    def _noise(self, epoch: int | None) -> float:
        """How much one fold's accuracy varies at ``epoch`` (None: at the end of the fold): the
        completed trials' standard deviation over their folds, their median (a configuration
        with one diverged fold must not set the noise of all)."""
        spreads = []
        for f in self.earlier:
            if not f.complete or len(f.fold_scores) < 2:
                continue
            if epoch is None:
                spreads.append(float(np.std(f.fold_scores)))
            elif all(len(c) >= epoch for c in f.curves):
                spreads.append(float(np.std([c[epoch - 1] for c in f.curves])))
        return float(np.median(spreads)) if spreads else 0.0

    def _why(self, value: float, bar: float, references: int, where: str) -> str:
        return (
            f"{value:.2%} < {bar:.2%}, the {_quantile_name(self.settings.quantile)} of "
            f"{references} earlier trials {where}, less the noise margin"
        )

    def stop_after_epoch(self, fold: int, epoch: int, best_so_far: float) -> str | None:
        """After ``epoch`` (from 1) of ``fold``, whose best validation accuracy so far is
        ``best_so_far``: why the trial stops, or None to go on."""
        if self.epochs is None or not self.settings.judges(fold, epoch, self.epochs):
            return None
        reached = [
            max(f.curves[fold][:epoch])
            for f in self.earlier
            if fold < len(f.curves) and epoch <= len(f.curves[fold])
        ]
        bar = self._bar(reached, self._noise(epoch), 1)
        if bar is None or best_so_far >= bar:
            return None
        why = self._why(best_so_far, bar, len(reached), "at this fold and epoch")
        return f"epoch {epoch}: best validation accuracy so far {why}"

    def stop_after_fold(self, fold_scores: Sequence[float]) -> str | None:
        """After a fold (not the last): why the trial stops, or None to go on."""
        k = len(fold_scores)
        mean = float(np.mean(fold_scores))
        means = [float(np.mean(f.fold_scores[:k])) for f in self.earlier if len(f.fold_scores) >= k]
        bar = self._bar(means, self._noise(None) / np.sqrt(k), k)
        if bar is None or mean >= bar:
            return None
        return f"mean over {k} fold(s) {self._why(mean, bar, len(means), 'over the same folds')}"


def _quantile_name(q: float) -> str:
    return "median" if q == 0.5 else f"{100 * q:g}th percentile"


def make_rule(
    earlier: Sequence[Finished],
    settings: PruneSettings | None = None,
    val_size: int | None = None,
    epochs: int | None = None,
) -> PruneRule | None:
    """The rule for the next trial, or None while fewer than ``startup_trials`` earlier trials
    exist (at each decision point the rule also waits for that many to have reached it)."""
    settings = settings or PruneSettings()
    if len(earlier) < max(settings.startup_trials, 1):
        return None
    return PruneRule(tuple(earlier), settings, val_size, epochs)


def rule_for_trial(
    records: list,
    margin: float,
    values: dict[str, Any],
    space=None,
):
    """The pruning rule for a new trial of ``values``, from the search's trial records
    (``tuner.storage.records``), or None before enough trials.

    Only trials with the same number of epochs are compared (their learning-rate schedules then
    match); a pruned trial's partial curves count, as in Optuna's pruners, but not a screen's
    (``tuner.screening``: it stopped by design, not for falling behind).
    """
    epochs = resolve_values(values, space)["epochs"]
    earlier = []
    for record in records:
        if record.state not in (TrialState.COMPLETE, TrialState.PRUNED) or not record.folds:
            continue
        if is_screen(record.hyperparameters):  # a screen had its own judgement
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

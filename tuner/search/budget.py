"""The budget rule, the one the search and its dry run both follow.

A search with a time budget or a run budget starts a trial only if it would end in time: the trials'
end is the time budget, or the run budget less the export's retrain (estimated from the best trial
so far), whichever comes first (``trials_end``). A trial is expected to last as long as the longest
so far. With screening, a round closes once another screen and then a full trial would not end in
time (``tuner.screening.rounds.round_closes``), and while only screens have run the budgets never
end the search: there is always a full trial to export.
"""

from __future__ import annotations

from tuner.screening.marks import is_screen
from tuner.screening.rounds import round_closes
from tuner.space.values import resolve_values
from tuner.storage.records import TrialRecord, best_record

__all__ = [
    "RETRAIN_MARGIN",
    "BudgetSpent",
    "trials_end",
    "fits",
    "budget_spent",
    "retrain_seconds",
    "image_epoch_seconds",
    "final_epochs_in_time",
    "screens_too_late",
]

# The retrain's seconds per image-epoch over the best trial's folds' (their training only) run
# from 0.67 to 1.135 on the quick profile (results/benchmarks.md, "The run budget's retrain
# estimate"). The estimate takes the upper end: a low one overshoots the run budget, a high one
# stops the search early. These 2 cores also switch between two speeds minutes apart: no
# estimate from one trial's folds is tighter than that.
RETRAIN_MARGIN = 1.15


class BudgetSpent(Exception):
    """The budgets leave no room for another trial (the message says which and why)."""


def trials_end(time_budget: float | None, run_budget: float | None, retrain: float) -> float:
    """Seconds after the search's start by which its trials must end: the time budget, and the
    run budget less ``retrain`` seconds (budgets in minutes; inf without budgets)."""
    ends = [float("inf")]
    if time_budget:
        ends.append(60 * time_budget)
    if run_budget:
        ends.append(60 * run_budget - retrain)
    return min(ends)


def budget_spent(
    elapsed: float,
    trial: float,
    time_budget: float | None,
    run_budget: float | None,
    retrain: float,
) -> str | None:
    """Why no trial of ``trial`` seconds may start ``elapsed`` seconds into the search (None: it
    may): it would end past ``trials_end``."""
    if time_budget and not fits(elapsed, trial, 60 * time_budget):
        return (
            f"time budget of {time_budget:g} min spent: {elapsed / 60:.1f} min gone, and a trial "
            f"takes up to {trial / 60:.1f} min"
        )
    if run_budget and not fits(elapsed, trial + retrain, 60 * run_budget):
        return (
            f"run budget of {run_budget:g} min: {elapsed / 60:.1f} min gone, a trial takes up to "
            f"{trial / 60:.1f} min, and the final training about {retrain / 60:.1f} min"
        )
    return None


def fits(elapsed: float, seconds: float, end: float) -> bool:
    """Whether work of ``seconds`` started ``elapsed`` seconds into the search ends by ``end``."""
    return elapsed + seconds <= end


def retrain_seconds(records: list[TrialRecord], plan, space=None) -> float:
    """The export's retrain, estimated for the best trial so far (the one it would retrain; with
    none completed, the slowest finished trial): its seconds per training image and epoch in the
    folds (``image_epoch_seconds``) times ``RETRAIN_MARGIN``, times the images of the final models
    the search keeps room for (``final_images``) and their epochs (``final_epochs``, else its
    own; under a run budget, its own: the final models' epochs then fill what is left). A slower
    trial that wins later can overshoot the run budget by the difference; the slowest trial as
    the estimate would end the search early whenever a slow configuration has been tried
    (batch-norm trials train at about 2/3 the speed of the others)."""

    def estimate(record: TrialRecord) -> float:
        values = resolve_values(record.hyperparameters, space)
        # under a run budget the final models' epochs fill what the search leaves: the search
        # keeps room for the fewest they take, the trial's own (``final_epochs_in_time``)
        epochs = values["epochs"] if plan.run_budget else plan.final_epochs or values["epochs"]
        return RETRAIN_MARGIN * image_epoch_seconds(record) * (plan.final_images or 0) * epochs

    best = best_record(records)
    if best is not None:
        return estimate(best)
    return max((estimate(r) for r in records), default=0.0)


def image_epoch_seconds(record: TrialRecord) -> float:
    """A trial's training seconds per image and epoch in its folds (validation passes left out,
    the epochs a fold went on from its screen too; 0: nothing timed). The search's estimate of
    the final models adds ``RETRAIN_MARGIN``; the export plans with the speed itself."""
    work = sum(f.train_size * (f.epochs - f.started_from) for f in record.folds)
    if not work:
        return 0.0
    seconds = sum(f.train_seconds - f.validation_seconds for f in record.folds)
    return seconds / work


def final_epochs_in_time(seconds: float, rate: float, images: int, most: int, fewest: int) -> int:
    """The final models' epochs under a run budget: ``most``, or as many as end within
    ``seconds`` at ``rate`` seconds an image-epoch for ``images`` (the images of the models the
    export always trains, added up), never fewer than ``fewest`` (the search kept room for
    those). Every minute the search leaves goes into the final models: on these 2 cores a single
    model's holdout errors fell from 22 to 12 between 15 and 30 epochs (results/benchmarks.md,
    "How the export's minutes buy score")."""
    if rate <= 0 or images <= 0:
        return most
    return max(fewest, min(most, int(seconds / (rate * images))))


def screens_too_late(records: list[TrialRecord], elapsed: float, plan, space=None) -> bool:
    """Whether the current screening round must close now (``round_closes``). A full trial is
    taken to last as long as the longest so far, or, before any, as the best screen's
    configuration would (``_full_trial_seconds``); a screen, as the longest screen."""
    screens = [r for r in records if r.folds and is_screen(r.hyperparameters)]
    if not screens or (plan.time_budget is None and plan.run_budget is None):
        return False
    best = max(screens, key=lambda r: r.folds[0].val_accuracy)
    # Before any trial completes, the retrain is the best screen's configuration's (the likeliest
    # winner), not the slowest screen's: two epochs are a noisy measure of speed, and one slow
    # screen would close a round long before its screens are spent.
    done = records if best_record(records) is not None else [best]
    retrain = retrain_seconds(done, plan, space) if plan.run_budget else 0.0
    end = trials_end(plan.time_budget, plan.run_budget, retrain)
    fulls = [r.seconds or 0.0 for r in records if r.folds and not is_screen(r.hyperparameters)]
    full = max(fulls, default=_full_trial_seconds(best, plan.folds, space))
    screen = max(r.seconds or 0.0 for r in screens)
    return round_closes(elapsed, screen, full, end)


def _full_trial_seconds(screen: TrialRecord, folds: int, space=None) -> float:
    """A full trial of a screen's configuration, estimated from the screen: its seconds per
    epoch of training, for every fold's epochs, plus what the screen spent outside training
    (the trial's process, building the model)."""
    fold = screen.folds[0]
    epochs = resolve_values(screen.hyperparameters, space)["epochs"]
    outside = max((screen.seconds or 0.0) - fold.train_seconds, 0.0)
    return fold.train_seconds / max(fold.epochs, 1) * epochs * folds + outside

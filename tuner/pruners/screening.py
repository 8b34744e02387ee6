"""Screen, then search (``--screen N``): many configurations judged cheaply, the best in full.

A round draws ``size`` configurations (the search's first: the space's default point, then
random ones) and trains each for ``epochs`` epochs of the first fold
only (a *screen*: a keras-tuner trial recorded as pruned, with its score at that point); once the
round's screens are in, the best ``keep`` of them run as full trials, best first, every fold and
epoch, under the search's pruning rule; then the next round. Synchronous successive halving with
one cheap rung, on keras-tuner's oracle API: the oracle hands out the screens and the promotions,
the CV tuner trains them.

Why (results/benchmarks.md, the replay on ``results/curves-8400.jsonl``, 200 seeds paired): a
rule that judges trials one after another must train every new best in full. Screening 27
configurations at fold 1's epoch 2 and running the best 9 in full halves the
pruning rule's regret at 4-6 trials' worth of compute, is no worse than Optuna's
SuccessiveHalving from there on, and never dropped the table's best. On the real quick searches
(tests/fixtures/quick_curves.json) every search's best configuration was in the top third of its
search at fold 1's epoch 2; at epoch 1, 3 of 6 were not (batch-norm winners lag there). The
quick profile screens 45 and keeps 9, the time its faster trainer freed (results/benchmarks.md,
"The quick profile as Kaggle runs it").

A round that ``--trials`` leaves too few trials for shrinks to fit its promotions
(``Screening.round_shape``); with fewer than 2 screens left to draw, the last trials run in
full. Under a budget (``tuner.search.budget.screens_too_late``), a round closes early once another screen and
then a full trial would not fit, and while only screens have run the budgets never end the
search: there is always a full trial to export.

A promoted trial is seeded as its screen was (``seed_trial``) and its fold 1 goes on from the
screen's model, weights and optimizer state (``tuner.training.folds.FoldStart``): the screen's
epochs are the trial's first, not trained twice, and the screen's score and the full trial's are
two looks at one run, as the replay assumes. The screens never enter the pruning rule's
references (they had their own judgement), the ranking, the export or the importance analysis:
their one partial fold is not a CV score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tuner.pruners.base import BasePruner
from tuner.storage.records import SCREENED_KEY

__all__ = ["Screening", "ScreenStop", "seed_trial"]


@dataclass(frozen=True)
class Screening:
    """One round's shape: ``size`` configurations screened for ``epochs`` epochs of fold 1, the
    best ``keep`` of them on to full trials."""

    size: int
    epochs: int = 2
    keep: int | None = None  # None: a third of ``size`` (successive halving's eta 3)

    @property
    def promoted(self) -> int:
        return self.keep if self.keep is not None else max(1, self.size // 3)

    def round_shape(self, left: int) -> tuple[int, int]:
        """(screens, promotions) of a round that starts with ``left`` trials still to run
        (``--trials`` counts screens and full trials alike): the whole round when it fits;
        else as many screens as leave room for their promotions, in the round's proportion;
        and no screen at all when fewer than 2 would fit: the trials left run in full. So a
        search always ends with full trials, and ``--trials 1`` runs one."""
        if left >= self.size + self.promoted:
            return self.size, self.promoted
        screens = left * self.size // (self.size + self.promoted)
        if screens < 2:
            return 0, max(left, 0)
        return screens, min(left - screens, screens)

    def check(self, epochs: int) -> None:
        """Raises ValueError, naming the bad value, unless the shape fits trials of ``epochs``."""
        if self.size < 2:
            raise ValueError(
                f"screen must be 0 (off) or at least 2 configurations, got {self.size}"
            )
        if not 1 <= self.epochs < epochs:
            raise ValueError(
                f"screen_epochs must be within 1..{epochs - 1} (the trials train {epochs} epochs "
                f"a fold), got {self.epochs}"
            )
        if not 1 <= self.promoted <= self.size:
            raise ValueError(f"screen_keep must be within 1..{self.size}, got {self.promoted}")


def seed_trial(trial_id: str, values: dict[str, Any]) -> str:
    """The trial id that seeds a trial's models: its screen's for a promoted trial."""
    return str(values.get(SCREENED_KEY) or trial_id)


class ScreenStop(BasePruner):
    """The pruning rule of a screen: stop after ``epochs`` epochs of fold 1 (the trainer records
    the trial as pruned, with this reason, like any stopped trial)."""

    whole_reason = True  # the trainer records the reason as it is (it says where)

    def __init__(self, screening: Screening):
        self.screening = screening

    def stop_after_epoch(self, fold: int, epoch: int, best_so_far: float) -> str | None:
        if fold == 0 and epoch >= self.screening.epochs:
            s = self.screening
            return (  # the oracle ranks the screens by their score at this epoch
                f"screened: {best_so_far:.2%} by epoch {epoch} of fold 1 (the best "
                f"{s.promoted} of each {s.size} screened go on in full)"
            )
        return None

    def stop_after_fold(self, fold_scores) -> str | None:  # a screen never finishes a fold
        return None

"""A screening round's shape (``Screening``: its screens, their epochs, its promotions, the
round a short ``--trials`` leaves), a screen's stop (``ScreenStop``), when a round closes under
a budget (``round_closes``), and the course of rounds a search takes (``simulated_course``), as
plain Python."""

from __future__ import annotations

from dataclasses import dataclass

from tuner.pruners.base import BasePruner
from tuner.settings import setting

__all__ = ["SCREEN", "FULL", "Screening", "ScreenStop", "round_closes", "simulated_course"]

SCREEN, FULL = "screen", "full"  # the kinds of trial in a course


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
        """Raises ValueError, naming the bad value, unless the shape fits trials of ``epochs``:
        each number within its setting's bounds (``tuner.settings``, one message for a rule),
        and within the trials' epochs and the round's size."""
        setting("screen").check(self.size)
        setting("screen_epochs").check(self.epochs)
        if self.epochs >= epochs:
            raise ValueError(
                f"screen_epochs: must be within 1..{epochs - 1} epochs (the trials train "
                f"{epochs} a fold), got {self.epochs}"
            )
        setting("screen_keep").check(self.promoted)
        if self.promoted > self.size:
            raise ValueError(
                f"screen_keep: must be within 1..{self.size} (the round's screens), got "
                f"{self.promoted}"
            )


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


def round_closes(elapsed: float, screen: float, full: float, end: float) -> bool:
    """Whether a screening round must close ``elapsed`` seconds into the search: another screen
    of ``screen`` seconds and then a full trial of ``full`` would end past ``end`` (no screen
    is started that no full trial could follow)."""
    return elapsed + screen + full > end


def simulated_course(
    screening: Screening, left: int, screen: float, full: float, end: float
) -> list[str]:
    """The trials a screening search starts, in order (``SCREEN`` or ``FULL``), with ``left``
    trials to run, screens of ``screen`` seconds and full trials of ``full``, all ending by
    ``end`` seconds (inf: no budget). The oracle's rounds (``Screening.round_shape``, then as
    many promotions as the round screened, up to its ``keep``) and the tuner's budget checks
    (``round_closes``; a full trial starts only if it ends in time, once one has run): what
    ``search --dry-run`` estimates, and what ``tests/search/test_screening.py`` checks against
    the oracle itself."""
    course: list[str] = []
    elapsed, full_done = 0.0, False
    while len(course) < left:
        size, keep = screening.round_shape(left - len(course))
        screens = 0
        while screens < size and len(course) < left:
            if round_closes(elapsed, screen, full, end) and (screens or full_done):
                break  # the round closes (or, with a full trial done, the search ends)
            course.append(SCREEN)
            elapsed, screens = elapsed + screen, screens + 1
        for _ in range(min(keep, screens) if size else keep):
            if len(course) >= left or (full_done and round_closes(elapsed, 0.0, full, end)):
                return course
            course.append(FULL)
            elapsed, full_done = elapsed + full, True
        if not screens and size:
            return course
    return course

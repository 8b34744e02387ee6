"""Screen, then search (``--screen N``): many configurations judged cheaply, the best in full.

A round draws ``size`` configurations and trains each for ``epochs`` epochs of the first fold
only (a *screen*: a keras-tuner trial recorded as pruned, with its score at that point); once the
round's screens are in, the best ``keep`` of them run as full trials, best first, every fold and
epoch, under the search's pruning rule; then the next round. Synchronous successive halving with
one cheap rung, on keras-tuner's oracle API: the oracle hands out the screens and the promotions,
the CV tuner trains them.

Why (results/benchmarks.md, the replay on ``results/curves-8400.jsonl``, 200 seeds paired): a
rule that judges trials one after another must train every new best in full. Screening 27
configurations at fold 1's epoch 2 and running the best 9 in full (the quick profile) halves the
pruning rule's regret at 4-6 trials' worth of compute, is no worse than Optuna's
SuccessiveHalving from there on, and never dropped the table's best. On the real quick searches
(tests/data/quick_curves.json) every search's best configuration was in the top third of its
search at fold 1's epoch 2; at epoch 1, 3 of 6 were not (batch-norm winners lag there).

Under a budget (``tuner.search.screens_too_late``), a round closes early once another screen and
then a full trial would not fit, and while only screens have run the budgets never end the
search: there is always a full trial to export.

A promoted trial is seeded as its screen was (``seed_trial``): its first epochs repeat the
screen's, so the screen's score and the full trial's are two looks at one run, as the replay
assumes. The screens never enter the pruning rule's references (they had their own judgement),
the ranking, the export or the importance analysis: their one partial fold is not a CV score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["SCREEN_KEY", "SCREENED_KEY", "Screening", "ScreenStop", "make_screening_oracle"]

# keras-tuner values the oracle adds to a trial (dropped by ``tuner.model.resolve_values``)
SCREEN_KEY = "tuner/screen"  # on a screen: the epochs of fold 1 it trains
SCREENED_KEY = "tuner/screened"  # on a promoted trial: the id of its screen


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


def is_screen(values: dict[str, Any]) -> bool:
    return values.get(SCREEN_KEY) is not None


def seed_trial(trial_id: str, values: dict[str, Any]) -> str:
    """The trial id that seeds a trial's models: its screen's for a promoted trial."""
    return str(values.get(SCREENED_KEY) or trial_id)


class ScreenStop:
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


def make_screening_oracle(screening: Screening, metric: str, **kwargs):
    """A keras-tuner ``RandomSearchOracle`` that hands out rounds of screens and promotions,
    ranking screens by ``metric`` (the objective's name; higher is better)."""
    import keras_tuner

    class ScreeningOracle(keras_tuner.oracles.RandomSearchOracle):
        """Rounds of ``screening.size`` screens (random configurations), then the best
        ``screening.promoted`` of them again as full trials, best first. A round's promotions
        wait for all its screens (``IDLE`` for a distributed worker meanwhile); a failed screen
        is never promoted. ``max_trials`` counts screens and full trials alike."""

        def __init__(self, **kw):
            super().__init__(**kw)
            self.screening = screening
            # each round: {"screens": ids, "promoted": ids, "promoted_from": screen ids} and,
            # once closed early (``close_round``), "size": its screens in all
            self.rounds: list[dict[str, Any]] = []

        def close_round(self):
            """Ends the current round's screening now: its next trials are its promotions (the
            search's budget would not fit the rest of its screens and a full trial)."""
            if self.rounds:
                self.rounds[-1]["size"] = len(self.rounds[-1]["screens"])

        def populate_space(self, trial_id):
            current = self.rounds[-1] if self.rounds else None
            size = (
                self.screening.size if current is None else current.get("size", self.screening.size)
            )
            if current is not None and len(current["screens"]) < size:
                return self._screen(trial_id, current)
            if current is not None:
                screens = [self.trials[t] for t in current["screens"] if t in self.trials]
                if any(t.status == "RUNNING" for t in screens):
                    return {"status": "IDLE"}
                promotable = self._ranked(screens)[: self.screening.promoted]
                done = set(current["promoted_from"])
                for trial in promotable:
                    if trial.trial_id not in done:
                        values = {
                            k: v
                            for k, v in trial.hyperparameters.values.items()
                            if not k.startswith("tuner/")
                        }
                        values[SCREENED_KEY] = trial.trial_id
                        current["promoted_from"].append(trial.trial_id)
                        current["promoted"].append(trial_id)
                        return {"status": "RUNNING", "values": values}
            current = {"screens": [], "promoted": [], "promoted_from": []}
            self.rounds.append(current)
            return self._screen(trial_id, current)

        def _screen(self, trial_id, current):
            values = self._random_values()
            if values is None:  # the space is exhausted
                if current is not None and not current["screens"]:
                    self.rounds.remove(current)
                return {"status": "STOPPED", "values": None}
            values[SCREEN_KEY] = self.screening.epochs
            current["screens"].append(trial_id)
            return {"status": "RUNNING", "values": values}

        def _ranked(self, screens):
            """The screens with a score, best first (ties: the earlier trial)."""
            scored = []
            for trial in screens:
                if trial.status in ("FAILED", "INVALID"):
                    continue
                if not trial.metrics.exists(metric):
                    continue
                score = trial.metrics.get_last_value(metric)
                if score is not None:
                    scored.append((-float(score), int(trial.trial_id), trial))
            return [t for *_, t in sorted(scored, key=lambda s: s[:2])]

        def _compute_values_hash(self, values):
            # a configuration is the same with or without the screening marks: a random draw
            # must not repeat a screened one (keras-tuner's Hyperband drops its marks likewise)
            values = {k: v for k, v in values.items() if k not in (SCREEN_KEY, SCREENED_KEY)}
            return super()._compute_values_hash(values)

        def get_state(self):
            state = super().get_state()
            state["screening_rounds"] = self.rounds
            return state

        def set_state(self, state):
            super().set_state(state)
            self.rounds = [{"promoted_from": [], **r} for r in state.get("screening_rounds", [])]

    return ScreeningOracle(**kwargs)

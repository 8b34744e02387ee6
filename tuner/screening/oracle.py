"""The screening oracle: keras-tuner's random oracle in rounds of screens, then the best of them
again as full trials (``tuner.screening``)."""

from __future__ import annotations

from typing import Any

from tuner.compat.keras_tuner import HookedRandomOracle
from tuner.screening.marks import SCREEN_KEY, SCREENED_KEY
from tuner.screening.rounds import Screening

__all__ = ["ScreeningOracle"]


class ScreeningOracle(HookedRandomOracle):
    """Rounds of ``screening.size`` screens (random configurations), then the best
    ``screening.promoted`` of them again as full trials, best first, ranked by ``metric`` (higher
    is better). A round's promotions wait for all its screens (``IDLE`` for a distributed worker
    meanwhile); a failed screen is never promoted. ``max_trials`` counts screens and full trials
    alike."""

    # a configuration is the same with or without the screening marks: a random draw must not
    # repeat a screened one (keras-tuner's Hyperband drops its marks likewise)
    ignored_keys = (SCREEN_KEY, SCREENED_KEY)

    def __init__(self, screening: Screening, metric: str, **kwargs):
        super().__init__(**kwargs)
        self.screening, self.metric = screening, metric
        # each round: {"screens": ids, "promoted": ids, "promoted_from": screen ids} and, once
        # closed early (``close_round``), "size": its screens in all
        self.rounds: list[dict[str, Any]] = []

    def close_round(self):
        """Ends the current round's screening now: its next trials are its promotions (the
        search's budget would not fit the rest of its screens and a full trial)."""
        if self.rounds:
            self.rounds[-1]["size"] = len(self.rounds[-1]["screens"])

    def _size(self, current) -> int:
        """A round's screens in all (fewer once ``close_round`` closed it early, or when the
        trials left were too few: ``Screening.round_shape``)."""
        return current.get("size", self.screening.size)

    def _keep(self, current) -> int:
        """A round's promotions (fewer when the trials left were too few)."""
        return current.get("keep", self.screening.promoted)

    def _screens_of(self, current) -> list:
        return [self.trials[t] for t in current["screens"] if t in self.trials]

    def populate_space(self, trial_id):
        current = self.rounds[-1] if self.rounds else None
        if current is not None:
            if len(current["screens"]) < self._size(current):
                return self._screen(trial_id, current)
            promotion = self._promotion(trial_id, current)
            if promotion is not None:
                return promotion
        # this trial is not in self.trials yet: it is one of the trials left
        screens, keep = self.screening.round_shape(self.max_trials - len(self.trials))
        if not screens:  # too few trials left to screen: they run in full
            values = self._fresh_values()
            status = "STOPPED" if values is None else "RUNNING"
            return {"status": status, "values": values}
        current = {"screens": [], "promoted": [], "promoted_from": []}
        if (screens, keep) != (self.screening.size, self.screening.promoted):
            current.update(size=screens, keep=keep)
        self.rounds.append(current)
        return self._screen(trial_id, current)

    def _promotion(self, trial_id, current) -> dict[str, Any] | None:
        """The round's next promotion (``IDLE`` while a screen runs); None once all are out."""
        screens = self._screens_of(current)
        if any(t.status == "RUNNING" for t in screens):
            return {"status": "IDLE"}
        done = set(current["promoted_from"])
        for trial in self._ranked(screens)[: self._keep(current)]:
            if trial.trial_id in done:
                continue
            values = {
                k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")
            }
            values[SCREENED_KEY] = trial.trial_id
            current["promoted_from"].append(trial.trial_id)
            current["promoted"].append(trial_id)
            return {"status": "RUNNING", "values": values}
        return None

    def passed_over(self) -> set[str]:
        """The screens no promotion will go on from: those of rounds whose screening is over,
        outside the round's best ``promoted`` (their fold models can go)."""
        passed = set()
        for current in self.rounds:
            screens = self._screens_of(current)
            if len(current["screens"]) < self._size(current):
                continue
            if any(t.status == "RUNNING" for t in screens):
                continue
            best = {t.trial_id for t in self._ranked(screens)[: self._keep(current)]}
            passed |= {t.trial_id for t in screens} - best
        return passed

    def _fresh_values(self):
        """A configuration not tried yet. The search's first is the space's default point, a
        profile's known-good configuration (quick's: the hand-written Kaggle CNN), as Optuna's
        enqueue_trial or Ray Tune's points_to_evaluate would seed it: a search too short for
        many random draws still weighs them against it. The others are random, never the same
        twice (None: the space is exhausted)."""
        return self.draw_values() if self.trials else self.default_values()

    def _screen(self, trial_id, current):
        values = self._fresh_values()
        if values is None:  # the space is exhausted
            if not current["screens"]:
                self.rounds.remove(current)
            return {"status": "STOPPED", "values": None}
        values[SCREEN_KEY] = self.screening.epochs
        current["screens"].append(trial_id)
        return {"status": "RUNNING", "values": values}

    def _ranked(self, screens):
        """The screens with a score, best first (ties: the earlier trial)."""
        scored = []
        for trial in screens:
            if trial.status in ("FAILED", "INVALID") or not trial.metrics.exists(self.metric):
                continue
            score = trial.metrics.get_last_value(self.metric)
            if score is not None:
                scored.append((-float(score), int(trial.trial_id), trial))
        return [t for *_, t in sorted(scored, key=lambda s: s[:2])]

    def get_state(self):
        state = super().get_state()
        state["screening_rounds"] = self.rounds
        return state

    def set_state(self, state):
        super().set_state(state)
        self.rounds = [{"promoted_from": [], **r} for r in state.get("screening_rounds", [])]

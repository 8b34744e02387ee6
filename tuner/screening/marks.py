"""How a trial says it is a screen or a promotion: the values the screening oracle adds to its
hyperparameters (dropped by ``tuner.space.values.resolve_values``), read wherever records are."""

from __future__ import annotations

from typing import Any

__all__ = ["SCREEN_KEY", "SCREENED_KEY", "is_screen", "seed_trial"]

SCREEN_KEY = "tuner/screen"  # on a screen: the epochs of fold 1 it trains
SCREENED_KEY = "tuner/screened"  # on a promoted trial: the id of its screen


def is_screen(values: dict[str, Any]) -> bool:
    """Whether a trial of these values is a screen (a cheap look, not a CV score)."""
    return values.get(SCREEN_KEY) is not None


def seed_trial(trial_id: str, values: dict[str, Any]) -> str:
    """The trial id that seeds a trial's models: its screen's for a promoted trial."""
    return str(values.get(SCREENED_KEY) or trial_id)

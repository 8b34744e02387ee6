"""Stopping trials early, as plain Python on plain numbers: the pruning rule and screening's stop,
both ``BasePruner``s that the trainer asks after each epoch and fold."""

from tuner.pruners.base import BasePruner
from tuner.pruners.rule import Finished, PruneRule, PruneSettings, make_rule, rule_for_trial
from tuner.pruners.screening import Screening, ScreenStop, seed_trial

__all__ = [
    "BasePruner",
    "Finished",
    "PruneRule",
    "PruneSettings",
    "Screening",
    "ScreenStop",
    "make_rule",
    "rule_for_trial",
    "seed_trial",
]

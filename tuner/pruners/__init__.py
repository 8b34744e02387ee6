"""Stopping trials early, as plain Python on plain numbers: the pruning rule, a ``BasePruner``
that the trainer asks after each epoch and fold (screening's stop is screening's own:
``tuner.screening``)."""

from tuner.pruners.base import BasePruner
from tuner.pruners.rule import Finished, PruneRule, PruneSettings, make_rule, rule_for_trial

__all__ = [
    "BasePruner",
    "Finished",
    "PruneRule",
    "PruneSettings",
    "make_rule",
    "rule_for_trial",
]

"""Training one trial: one model (``fit``), every fold (``folds``), in a fresh trial process
(``process``). Importing it loads Keras."""

from tuner.training.folds import TrialFailed, TrialOutcome, train_trial
from tuner.training.process import train_trial_in_process

__all__ = [
    "TrialFailed",
    "TrialOutcome",
    "train_trial",
    "train_trial_in_process",
]

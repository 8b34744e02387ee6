"""Search spaces as data: the TOML files of ``search_spaces/``, parsed and checked, and a point's
full values."""

from tuner.space.spaces import (
    HYPERPARAMETERS,
    V5,
    Hyperparameter,
    SearchDefaults,
    SearchSpace,
    bundled_spaces,
    load_space,
    parse_space,
)
from tuner.space.values import TRAINING_DEFAULTS, resolve_values

__all__ = [
    "HYPERPARAMETERS",
    "Hyperparameter",
    "SearchDefaults",
    "SearchSpace",
    "TRAINING_DEFAULTS",
    "V5",
    "bundled_spaces",
    "load_space",
    "parse_space",
    "resolve_values",
]

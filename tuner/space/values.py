"""A point of a search space with every value filled in: what a trial trains.

Pure data, no Keras: the search, the pruners and the dry run read a point's epochs or batch size
without building a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tuner.space.spaces import V5, SearchSpace

__all__ = ["TRAINING_DEFAULTS", "fewest_epochs", "hyperband_epochs", "resolve_values"]

# The toolkit's own hyperparameters, where a user's build(hp) does not declare them.
TRAINING_DEFAULTS: dict[str, Any] = {
    "epochs": 10,  # passes over the training fold
    "batch_size": 64,  # images per training step
    "augment_strength": 1.0,  # the seed's augmentation (shift 0.1, rotation 0.1, zoom 0.15)
}


def resolve_values(hp: Any, space: SearchSpace | None = None) -> dict[str, Any]:
    """The full set of hyperparameter values: v5's, overridden by those given.

    Args:
        hp: a keras-tuner ``HyperParameters`` or a mapping of names to values. Hyperband's
            ``tuner/*`` entries are dropped, ``tuner/epochs`` replacing ``epochs``.
        space: a space with the user's hypermodel (``tuner.models.hypermodels``): any names are fine,
            and the toolkit's training settings default to ``TRAINING_DEFAULTS``, not v5's.
    """
    values = hp.values if hasattr(hp, "values") and not isinstance(hp, Mapping) else hp
    # keras-tuner's Hyperband adds its own entries; "tuner/epochs" is the budget of this round.
    tuner_epochs = values.get("tuner/epochs")
    values = {k: v for k, v in values.items() if not k.startswith("tuner/")}
    if tuner_epochs is not None:
        values["epochs"] = int(tuner_epochs)
    if space is not None and space.model is not None:
        return {**TRAINING_DEFAULTS, **values}
    unknown = set(values) - set(V5)
    if unknown:
        raise ValueError(f"unknown hyperparameter {sorted(unknown)[0]!r} (known: {', '.join(V5)})")
    return {**V5, **values}


def hyperband_epochs(space: SearchSpace) -> int:
    """Hyperband's largest budget: the space's (largest) number of epochs."""
    entry = next(e for e in space.hyperparameters if e.name == "epochs")
    if entry.type == "fixed":
        return int(entry.value)
    if entry.type == "choice":
        return int(max(entry.values))
    return int(entry.max)


def fewest_epochs(space: SearchSpace) -> int:
    """The fewest epochs a trial of the space trains."""
    entry = next((e for e in space.hyperparameters if e.name == "epochs"), None)
    if entry is None:
        return int(resolve_values({}, space)["epochs"])
    if entry.type == "fixed":
        return int(entry.value)
    if entry.type == "choice":
        return int(min(entry.values))
    return int(entry.min)

"""Users' networks as keras-tuner's guides and tutorials write them, adapted to the toolkit's input
and scores: the network's input shape met by a reshape, its loss turned into one on probabilities
and integer labels, its logits (``from_logits=True``) turned into probabilities.

The toolkit feeds every network ``(28, 28, 1)`` images scaled to 0..1 (after its augmentation)
and integer labels, and reads probabilities from every model it scores, ensembles or exports.
"""

from __future__ import annotations

from typing import Any

from tuner.backend import keras

from tuner.errors import SpaceError
from tuner.models.cnn import SparseSmoothedCrossentropy

__all__ = ["INPUT_SHAPES", "adapt_input", "check_output", "probability_loss"]

# The input shapes a network may declare, and how the (28, 28, 1) images become them.
INPUT_SHAPES: dict[tuple[int, ...], tuple[int, ...] | None] = {
    (28, 28, 1): None,  # as they are
    (28, 28): (28, 28),  # keras.datasets.mnist's shape, as the TensorFlow tutorial takes it
    (784,): (784,),  # flat rows, as in the Kaggle CSV
}


def adapt_input(network: keras.Model, x, where: str):
    """``x`` reshaped to the input ``network`` declares; as it is when it declares none (a
    ``Sequential`` with no ``Input`` is built on it, as keras-tuner builds one on the data)."""
    declared = _declared_input(network)
    if declared is None:
        return x
    if declared not in INPUT_SHAPES:
        accepted = ", ".join(str(s) for s in INPUT_SHAPES)
        raise SpaceError(
            f"{where}: the model takes input shape {declared}; the toolkit feeds 28x28 digits as "
            f"one of {accepted} (or give no Input and it is built on (28, 28, 1))"
        )
    target = INPUT_SHAPES[declared]
    return x if target is None else keras.layers.Reshape(target, name="to_network_input")(x)


def _declared_input(network: keras.Model) -> tuple[int, ...] | None:
    try:
        shape = network.input_shape
    except (AttributeError, ValueError):  # built on its first call
        return None
    if isinstance(shape, list):  # several inputs: reported as they are
        return tuple(tuple(s[1:]) for s in shape)
    return tuple(shape[1:])


def check_output(outputs, where: str, classes: int | None) -> None:
    """Raises unless the network returns one score per class (``classes`` of them; None: the
    data is not known yet, any count from 2)."""
    shape = tuple(outputs.shape[1:])
    if classes is None and len(shape) == 1 and shape[0] is not None and shape[0] >= 2:
        return
    if shape != (classes,):
        count = "one score per class" if classes is None else f"{classes} class scores"
        raise SpaceError(
            f"{where}: the model must return {count} (probabilities, or logits with "
            f"from_logits=True on its loss), got output shape {shape}"
        )


_SPARSE, _CATEGORICAL = "sparsecategoricalcrossentropy", "categoricalcrossentropy"


def probability_loss(loss: Any, where: str) -> tuple[Any, bool]:
    """The network's loss as the toolkit trains it (on probabilities, integer labels), and whether
    the network outputs logits. Sparse and categorical cross-entropy, by string, function or
    object, with their ``from_logits`` and ``label_smoothing``; no loss: sparse cross-entropy.
    Categorical cross-entropy on one-hot labels is sparse cross-entropy on their integers."""
    if loss is None:
        return "sparse_categorical_crossentropy", False
    name, config = _loss_name(loss), {}
    if isinstance(loss, keras.losses.Loss):
        config = loss.get_config()
    if name not in (_SPARSE, _CATEGORICAL):
        raise SpaceError(
            f"{where}: the model is compiled with loss {name!r}; the toolkit trains on digit "
            "labels with cross-entropy: compile with 'sparse_categorical_crossentropy' or "
            "'categorical_crossentropy' (from_logits=True if the model outputs logits)"
        )
    smoothing = float(config.get("label_smoothing") or 0.0)
    probability = (
        SparseSmoothedCrossentropy(smoothing) if smoothing else "sparse_categorical_crossentropy"
    )
    return probability, bool(config.get("from_logits", False))


def _loss_name(loss: Any) -> str:
    if isinstance(loss, str):
        name = loss
    elif isinstance(loss, keras.losses.Loss):
        name = type(loss).__name__
    else:
        name = getattr(loss, "__name__", type(loss).__name__)
    return name.replace("_", "").lower()

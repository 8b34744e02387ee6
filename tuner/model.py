"""The tunable model builder: hyperparameters in, compiled Keras CNN out.

Around the seed notebook's best model ("v5"): BatchNormalization on the input; 4 x [Conv2D 256 3x3
same, ReLU, MaxPool, Dropout 0.3]; Flatten; 4 x [Dense 256 ReLU, Dropout 0.3]; softmax; Adam 1e-4.
``build_model(V5)`` is that model (plus the parameter-free rescaling and augmentation layers);
``tests/test_model.py`` checks its layer structure and parameter count against the seed's code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from tuner.augment import DigitAugmentation
from tuner.data import IMAGE_SIZE, N_CLASSES
from tuner.space import V5

__all__ = ["build_model", "resolve_values"]


def resolve_values(hp: Any) -> dict[str, Any]:
    """The full set of hyperparameter values: v5's, overridden by those given.

    Args:
        hp: a keras-tuner ``HyperParameters`` or a mapping of names to values.
    """
    values = hp.values if hasattr(hp, "values") and not isinstance(hp, Mapping) else hp
    unknown = set(values) - set(V5)
    if unknown:
        raise ValueError(f"unknown hyperparameter {sorted(unknown)[0]!r} (known: {', '.join(V5)})")
    return {**V5, **values}


def build_model(hp: Any, *, seed: int | None = None) -> keras.Model:
    """Builds and compiles the CNN for one point of a search space.

    Args:
        hp: a keras-tuner ``HyperParameters`` or a mapping; missing names take v5's value.
        seed: seed of the augmentation layer's random stream.

    Returns:
        A compiled model that takes (N, 28, 28, 1) pixels in 0..255 (any numeric dtype) and
        returns class probabilities.
    """
    v = resolve_values(hp)
    inputs = keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1), name="pixels")
    x = inputs
    if v["augment_strength"] > 0:
        x = DigitAugmentation.from_strength(v["augment_strength"], seed=seed, name="augment")(x)
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(x)
    if v["input_batch_norm"]:
        x = keras.layers.BatchNormalization(name="input_bn")(x)
    for block in range(v["conv_blocks"]):
        for i in range(v["convs_per_block"]):
            x = keras.layers.Conv2D(
                v["conv_filters"],
                v["kernel_size"],
                padding="same",
                activation="relu",
                name=f"conv{block + 1}_{i + 1}",
            )(x)
            if v["conv_batch_norm"]:
                x = keras.layers.BatchNormalization(name=f"conv{block + 1}_{i + 1}_bn")(x)
        x = keras.layers.MaxPooling2D(name=f"pool{block + 1}")(x)
        x = keras.layers.Dropout(v["conv_dropout"], name=f"conv{block + 1}_dropout")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for layer in range(v["dense_layers"]):
        x = keras.layers.Dense(v["dense_units"], activation="relu", name=f"dense{layer + 1}")(x)
        x = keras.layers.Dropout(v["dense_dropout"], name=f"dense{layer + 1}_dropout")(x)
    outputs = keras.layers.Dense(N_CLASSES, activation="softmax", name="probabilities")(x)

    model = keras.Model(inputs, outputs, name="digit_cnn")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=v["learning_rate"]),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model

"""The tunable model builder: hyperparameters in, compiled Keras CNN out.

Around the seed notebook's best model ("v5"): BatchNormalization on the input; 4 x [Conv2D 256 3x3
same, ReLU, MaxPool, Dropout 0.3]; Flatten; 4 x [Dense 256 ReLU, Dropout 0.3]; softmax; Adam 1e-4.
``build_model(V5)`` is that model (plus the parameter-free rescaling and augmentation layers);
``tests/models/test_cnn.py`` checks its layer structure and parameter count against the seed's code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tuner.backend import keras

from tuner.data.kaggle import DIGITS, IMAGE_SIZE
from tuner.models.augmentation import DigitAugmentation
from tuner.space.values import resolve_values

__all__ = ["SparseSmoothedCrossentropy", "build_model", "pixel_input"]

ops = keras.ops


@keras.saving.register_keras_serializable(package="digit_tuner")
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy against integer labels with label smoothing (Keras' sparse loss has none)."""

    def __init__(self, label_smoothing=0.0, name="sparse_smoothed_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        classes = y_pred.shape[-1]
        target = ops.one_hot(labels, classes, dtype=y_pred.dtype)
        target = target * (1.0 - self.label_smoothing) + self.label_smoothing / classes
        return keras.losses.categorical_crossentropy(target, y_pred)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def pixel_input(augment_strength: float, seed: int | None = None, elastic: float = 0.0):
    """The front of every model the toolkit trains, built-in or the user's: raw 0..255 pixels
    in, augmented on the fly when ``augment_strength`` > 0 (training only: the layer is the
    identity at inference), with ``elastic`` pixels of elastic distortion, rescaled to 0..1.
    Returns (the Input, the rescaled tensor)."""
    inputs = keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1), name="pixels")
    x = inputs
    if augment_strength > 0:
        x = DigitAugmentation.from_strength(
            augment_strength, elastic=elastic, seed=seed, name="augment"
        )(x)
    return inputs, keras.layers.Rescaling(1.0 / 255.0, name="rescale")(x)


def _check_image_size(v: Mapping[str, Any]) -> None:
    """Raises ValueError when the blocks shrink the 28 px image to nothing (valid padding, many
    blocks), naming the values, instead of Keras' shape error deep in the build."""
    size = IMAGE_SIZE
    for block in range(v["conv_blocks"]):
        if v["valid_padding"]:
            size -= v["convs_per_block"] * (v["kernel_size"] - 1)
        size = math.ceil(size / 2) if v["strided_downsampling"] else size // 2
        if size < 1:
            raise ValueError(
                f"conv_blocks={v['conv_blocks']} with convs_per_block={v['convs_per_block']}, "
                f"kernel_size={v['kernel_size']} and valid_padding={v['valid_padding']} shrink "
                f"the 28 px image to nothing in block {block + 1}"
            )


def build_model(
    hp: Any, *, seed: int | None = None, train_size: int | None = None, classes: int = len(DIGITS)
) -> keras.Model:
    """Builds and compiles the CNN for one point of a search space.

    Args:
        hp: a keras-tuner ``HyperParameters`` or a mapping; missing names take v5's value.
        seed: seed of the augmentation layer's random stream.
        train_size: images per epoch; with ``lr_decay`` it sets the length of the cosine decay
            (``epochs`` x steps per epoch). Without it the decay spans one step per epoch.
        classes: outputs, one per class (``tuner.data.Dataset.classes``).

    Returns:
        A compiled model that takes (N, 28, 28, 1) pixels in 0..255 (any numeric dtype) and
        returns class probabilities.
    """
    v = resolve_values(hp)
    _check_image_size(v)
    inputs, x = pixel_input(v["augment_strength"], seed, float(v["elastic"]))
    if v["input_batch_norm"]:
        x = keras.layers.BatchNormalization(momentum=float(v["bn_momentum"]), name="input_bn")(x)
    for block in range(v["conv_blocks"]):
        x = _conv_block(x, v, block)
    x = keras.layers.Flatten(name="flatten")(x)
    for layer in range(v["dense_layers"]):
        x = keras.layers.Dense(v["dense_units"], activation="relu", name=f"dense{layer + 1}")(x)
        x = keras.layers.Dropout(v["dense_dropout"], name=f"dense{layer + 1}_dropout")(x)
    # float32 probabilities (and loss) under a mixed-precision policy
    outputs = keras.layers.Dense(
        classes, activation="softmax", dtype="float32", name="probabilities"
    )(x)
    model = keras.Model(inputs, outputs, name="digit_cnn")
    _compile(model, v, train_size)
    return model


def _conv_block(x, v: Mapping[str, Any], block: int):
    """Block ``block`` (from 0): its convolutions (each with batch norm, if asked), then a max
    pool or a strided 5x5 convolution, then dropout."""
    filters = int(v["conv_filters"]) * int(v["filter_growth"]) ** block
    momentum = float(v["bn_momentum"])
    padding = "valid" if v["valid_padding"] else "same"
    for i in range(v["convs_per_block"]):
        name = f"conv{block + 1}_{i + 1}"
        x = keras.layers.Conv2D(
            filters, v["kernel_size"], padding=padding, activation="relu", name=name
        )(x)
        if v["conv_batch_norm"]:
            x = keras.layers.BatchNormalization(momentum=momentum, name=f"{name}_bn")(x)
    if v["strided_downsampling"]:
        name = f"down{block + 1}"
        x = keras.layers.Conv2D(
            filters, 5, strides=2, padding="same", activation="relu", name=name
        )(x)
        if v["conv_batch_norm"]:
            x = keras.layers.BatchNormalization(momentum=momentum, name=f"{name}_bn")(x)
    else:
        x = keras.layers.MaxPooling2D(name=f"pool{block + 1}")(x)
    return keras.layers.Dropout(v["conv_dropout"], name=f"conv{block + 1}_dropout")(x)


def _compile(model, v: Mapping[str, Any], train_size: int | None) -> None:
    """Adam at the point's learning rate (with cosine decay over every step, if asked), and the
    cross-entropy (with label smoothing, if asked)."""
    learning_rate = v["learning_rate"]
    if v["lr_decay"]:
        steps = int(v["epochs"]) * max(1, math.ceil((train_size or 1) / int(v["batch_size"])))
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
    loss = (
        SparseSmoothedCrossentropy(v["label_smoothing"])
        if v["label_smoothing"] > 0
        else "sparse_categorical_crossentropy"
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=loss,
        metrics=["accuracy"],
    )

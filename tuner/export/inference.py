"""Predicting with an export: test-time augmentation over an ensemble, the single plain-Keras
model that does the same (``inference_model``), and a submission from any exported model."""

from __future__ import annotations

from pathlib import Path

from tuner.backend import SCORING_BATCH_SIZE, keras

import numpy as np

from tuner.data.kaggle import DIGITS, load_csv
from tuner.data.submission import layout_of
from tuner.errors import SearchError
from tuner.export.recipes import shift_images, tta_shifts, write_submission
from tuner.models.augmentation import DigitAugmentation
from tuner.storage.directory import MANIFEST
from tuner.storage.manifest import classes_of, read_manifest

__all__ = ["in_float32", "inference_model", "predict_file", "predict_tta"]


def in_float32(models: list) -> list:
    """``models``, computing in float32 from now on (their weights are float32 under a mixed
    policy: only the compute changes). An export predicts in float32: a bfloat16 model file
    would predict slowly where the CPU has no bfloat16, and its rounding differs between
    machines, so plain Keras would not reproduce the submission."""
    for model in models:
        for layer in model._flatten_layers(include_self=True):
            layer.dtype_policy = "float32"
    return models


def predict_tta(models: list, images: np.ndarray, tta: int = 1) -> np.ndarray:
    """Class probabilities averaged over ``models`` and the ``tta`` shifts of each image."""
    total = np.zeros((len(images), models[0].output_shape[-1]), dtype=np.float64)
    for model in models:
        for dy, dx in tta_shifts(tta):
            total += model.predict(
                shift_images(images, dy, dx), batch_size=SCORING_BATCH_SIZE, verbose=0
            )
    return (total / (len(models) * tta)).astype(np.float32)


def _without_augmentation(model, name: str):
    """The same network (its layers and weights, shared) without the augmentation layer, which
    is the identity at inference: what is left is stock Keras layers only."""
    inputs = keras.Input(shape=model.input_shape[1:], name="pixels")
    x = inputs
    for layer in model.layers[1:]:  # a chain: Input, [augment], rescale, ...
        if not isinstance(layer, DigitAugmentation):
            x = layer(x)
    return keras.Model(inputs, x, name=name)


def inference_model(models: list, tta: int = 1):
    """One plain-Keras model that predicts what the recipe predicts: the mean of ``models``'
    probabilities over each image and its ``tta`` 1-pixel shifts (zero-padded, as
    ``predict_tta``). Built from stock layers (ZeroPadding2D, Cropping2D, Average), so
    ``keras.models.load_model`` reads it without digit-tuner installed."""
    nets = [_without_augmentation(m, f"member_{i}") for i, m in enumerate(in_float32(models))]
    inputs = keras.Input(shape=models[0].input_shape[1:], name="pixels")
    outputs = []
    for k, (dy, dx) in enumerate(tta_shifts(tta)):
        x = inputs
        if (dy, dx) != (0, 0):  # out[i] = in[i - dy]: pad one pixel, crop one off the far side
            x = keras.layers.ZeroPadding2D(1, name=f"pad_{k}")(inputs)
            x = keras.layers.Cropping2D(((1 - dy, 1 + dy), (1 - dx, 1 + dx)), name=f"shift_{k}")(x)
        outputs += [net(x) for net in nets]
    out = outputs[0] if len(outputs) == 1 else keras.layers.Average(name="probabilities")(outputs)
    # Saved uncompiled: predicting needs no loss or optimizer (compile it to fine-tune it).
    return keras.Model(inputs, out, name="digit_tuner_export")


def predict_file(model_path: str | Path, test_csv: str | Path, out: str | Path) -> int:
    """Writes a Kaggle submission for ``test_csv`` (pixel0..pixel783, plain or gzipped; with an
    id column first, the submission is named by it) with any exported model (``best.keras``);
    returns the number of rows. Its labels are the search's classes (``search.json`` beside
    the model: the training file's label values); a model away from its search is labelled
    0-9 if it has the digits' 10 outputs, and refused otherwise.

    Raises:
        DataError: a bad test file.
        SearchError: a model file that Keras cannot load, outputs that cannot be labelled,
            or predictions that are not finite.
    """
    test = load_csv(test_csv, labelled=False)
    try:
        model = keras.models.load_model(model_path, compile=False)
    except (OSError, ValueError, TypeError) as e:
        raise SearchError(
            f"{model_path}: cannot load the model ({' '.join(str(e).split())[:200]})"
        ) from None
    # the labels first: a model whose outputs cannot be named is refused before it predicts
    classes = np.asarray(_classes_beside(Path(model_path), model.output_shape[-1]))
    probabilities = model.predict(test.images, batch_size=SCORING_BATCH_SIZE, verbose=0)
    if not np.isfinite(probabilities).all():
        raise SearchError(f"{model_path}: the model predicts non-finite probabilities")
    labels = classes[np.argmax(probabilities, axis=1)]
    write_submission(out, labels, layout_of(len(test), test.ids))
    return len(test)


def _classes_beside(model_path: Path, outputs: int) -> tuple[int, ...]:
    """The label values of the search the model was exported from (its ``search.json``), or
    the digits when it is not in its search's directory and has their 10 outputs. Other
    output counts are not guessed: a competition's labels need not be 0..n-1 (Sign Language
    MNIST has 0-24 without 9), and output index 9 written as label 9 would be wrong there."""
    if not (model_path.parent / MANIFEST).is_file():
        if outputs == len(DIGITS):
            return DIGITS
        raise SearchError(
            f"{model_path}: {outputs} outputs and no {MANIFEST} beside it to say their labels; "
            f"predict with the model in its search's directory, or copy its {MANIFEST} beside it"
        )
    classes = classes_of(read_manifest(model_path.parent))  # the manifest alone: no records
    if len(classes) != outputs:
        raise SearchError(
            f"{model_path}: {outputs} outputs, but its search ({model_path.parent / MANIFEST}) "
            f"has {len(classes)} classes"
        )
    return classes

"""On-the-fly augmentation: the seed notebook's three Keras pipelines as one layer inside the model.

The seed materialized 9 extra copies of every training image, 3 from each of three pipelines:
translation 0.1 + rotation 0.1; translation + zoom 0.15; all three. Here each training step draws,
for every image, what the seed's 10x data set would have given it: the original image with
probability 1/10, else one of the three pipelines with equal probability, with fresh random
parameters. The draw is one batched affine warp (``keras.ops.image.affine_transform``) inside the
compiled training step, so nothing is copied in memory and any Keras backend runs it.

The layer acts only when Keras calls it with ``training=True`` (``fit``); ``evaluate`` and
``predict``, and so validation folds and test images, see the images unchanged.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

__all__ = ["DigitAugmentation", "augmented_copies"]


@keras.saving.register_keras_serializable(package="digit_tuner")
class DigitAugmentation(keras.layers.Layer):
    """Random shift, rotation and zoom of digit images, as the seed's three pipelines.

    Args:
        translation: largest shift, as a fraction of height and width (seed: 0.1).
        rotation: largest rotation, as a fraction of a full turn, as in ``keras.layers.RandomRotation``
            (seed: 0.1, i.e. up to 36 degrees).
        zoom: largest zoom in or out, as a fraction (seed: 0.15).
        identity_rate: fraction of images left as they are (seed: 1 original per 9 copies = 0.1).
        seed: seed of the layer's random stream.
    """

    def __init__(
        self, translation=0.1, rotation=0.1, zoom=0.15, identity_rate=0.1, seed=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.translation = float(translation)
        self.rotation = float(rotation)
        self.zoom = float(zoom)
        self.identity_rate = float(identity_rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = False

    @classmethod
    def from_strength(cls, strength: float, seed=None, **kwargs) -> DigitAugmentation:
        """The seed's augmentation scaled by ``strength`` (1 = the seed's, 0 = none)."""
        return cls(0.1 * strength, 0.1 * strength, 0.15 * strength, seed=seed, **kwargs)

    def call(self, images, training=None):
        if not training:
            return images
        shape = ops.shape(images)
        batch, height, width = shape[0], shape[1], shape[2]
        dtype = "float32"

        def uniform(minval=0.0, maxval=1.0):
            return keras.random.uniform(
                (batch,), minval=minval, maxval=maxval, dtype=dtype, seed=self.seed_generator
            )

        # Which pipeline each image goes through: 0 = untouched, 1 = shift+rotate, 2 = shift+zoom,
        # 3 = shift+rotate+zoom.
        pick = uniform()
        augmented = ops.cast(pick >= self.identity_rate, dtype)
        pipeline = ops.floor(
            (pick - self.identity_rate) / max(1.0 - self.identity_rate, 1e-9) * 3.0
        )
        uses_rotation = augmented * ops.cast(ops.not_equal(pipeline, 1.0), dtype)
        uses_zoom = augmented * ops.cast(ops.greater_equal(pipeline, 1.0), dtype)

        h = ops.cast(height, dtype)
        w = ops.cast(width, dtype)
        shift_x = uniform(-self.translation, self.translation) * w * augmented
        shift_y = uniform(-self.translation, self.translation) * h * augmented
        angle = uniform(-self.rotation, self.rotation) * (2.0 * math.pi) * uses_rotation
        scale = 1.0 + uniform(-self.zoom, self.zoom) * uses_zoom  # > 1 zooms out

        # affine_transform maps each output pixel to the input pixel it samples:
        # input = scale * R(angle) @ (output - centre) + centre - shift.
        cx = (w - 1.0) / 2.0
        cy = (h - 1.0) / 2.0
        cos = ops.cos(angle) * scale
        sin = ops.sin(angle) * scale
        zeros = ops.zeros_like(cos)
        transform = ops.stack(
            [
                cos,
                -sin,
                cx - (cos * cx - sin * cy) - shift_x,
                sin,
                cos,
                cy - (sin * cx + cos * cy) - shift_y,
                zeros,
                zeros,
            ],
            axis=1,
        )
        warped = ops.image.affine_transform(
            ops.cast(images, dtype),
            transform,
            interpolation="bilinear",
            fill_mode="constant",
            fill_value=0,
            data_format="channels_last",
        )
        return ops.cast(warped, images.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            translation=self.translation,
            rotation=self.rotation,
            zoom=self.zoom,
            identity_rate=self.identity_rate,
            seed=self.seed,
        )
        return config


def augmented_copies(images: np.ndarray, strength: float, copies: int, seed: int = 0) -> np.ndarray:
    """``copies`` draws of the layer at ``strength`` for each of ``images`` (N, 28, 28, 1), as a
    training step sees them: (N, copies, 28, 28, 1) uint8, for pictures of what a model trains on.
    Strength 0 gives the images unchanged."""
    repeated = np.repeat(images.astype("float32"), copies, axis=0)
    if strength > 0:
        layer = DigitAugmentation.from_strength(strength, seed=seed)
        repeated = keras.ops.convert_to_numpy(layer(repeated, training=True))
    out = np.clip(np.rint(repeated), 0, 255).astype(np.uint8)
    return out.reshape(len(images), copies, *images.shape[1:])

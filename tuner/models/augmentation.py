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

# The elastic field's random shifts: a grid this many points a side, resized to the image. At 4
# on 28 px the field bends a digit's strokes over about 7 px, as a Gaussian of sigma 4 smooths
# Simard et al.'s per-pixel noise.
ELASTIC_GRID = 4


@keras.saving.register_keras_serializable(package="digit_tuner")
class DigitAugmentation(keras.layers.Layer):
    """Random shift, rotation and zoom of digit images, as the seed's three pipelines.

    Args:
        translation: largest shift, as a fraction of height and width (seed: 0.1).
        rotation: largest rotation, as a fraction of a full turn, as in ``keras.layers.RandomRotation``
            (seed: 0.1, i.e. up to 36 degrees).
        zoom: largest zoom in or out, as a fraction (seed: 0.15).
        identity_rate: fraction of images left as they are (seed: 1 original per 9 copies = 0.1).
        elastic: largest elastic displacement of a pixel, in pixels (0: none; the seed had none).
            Each augmented image also bends by a smooth random field: a 4x4 grid of random shifts
            resized bicubically to the image, as Simard et al. (2003) distorted handwriting.
        seed: seed of the layer's random stream.
    """

    def __init__(
        self,
        translation=0.1,
        rotation=0.1,
        zoom=0.15,
        identity_rate=0.1,
        elastic=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.translation = float(translation)
        self.rotation = float(rotation)
        self.zoom = float(zoom)
        self.identity_rate = float(identity_rate)
        self.elastic = float(elastic)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = False

    @classmethod
    def from_strength(
        cls, strength: float, seed=None, elastic: float = 0.0, **kwargs
    ) -> DigitAugmentation:
        """The seed's augmentation scaled by ``strength`` (1 = the seed's, 0 = none), with
        ``elastic`` pixels of elastic distortion."""
        return cls(
            0.1 * strength, 0.1 * strength, 0.15 * strength, elastic=elastic, seed=seed, **kwargs
        )

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

        transform = _affine(angle, scale, shift_x, shift_y, h, w)
        if self.elastic > 0:
            warped = self._warp_elastic(images, transform, augmented)
            return ops.cast(warped, images.dtype)
        warped = ops.image.affine_transform(
            ops.cast(images, dtype),
            transform,
            interpolation="bilinear",
            fill_mode="constant",
            fill_value=0,
            data_format="channels_last",
        )
        return ops.cast(warped, images.dtype)

    def _warp_elastic(self, images, transform, augmented):
        """The affine warp and the elastic field in one bilinear sampling: each output pixel reads
        the input where the affine transform sends it, moved by the field (zero for the images
        left untouched). Sampling once blurs the digit once."""
        shape = ops.shape(images)
        batch, height, width = shape[0], shape[1], shape[2]
        dtype = "float32"
        grid = keras.random.uniform(
            (batch, ELASTIC_GRID, ELASTIC_GRID, 2), -1.0, 1.0, dtype=dtype,
            seed=self.seed_generator,
        )  # fmt: skip
        field = ops.image.resize(grid, (height, width), interpolation="bicubic")
        field = field * self.elastic * ops.reshape(augmented, (-1, 1, 1, 1))
        rows, cols = ops.meshgrid(
            ops.arange(height, dtype=dtype), ops.arange(width, dtype=dtype), indexing="ij"
        )
        t = [ops.reshape(transform[:, i], (-1, 1, 1)) for i in range(6)]
        source_x = t[0] * cols + t[1] * rows + t[2] + field[..., 1]
        source_y = t[3] * cols + t[4] * rows + t[5] + field[..., 0]
        warped = _bilinear(ops.cast(images, dtype)[..., 0], source_y, source_x)
        return warped[..., None]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            translation=self.translation,
            rotation=self.rotation,
            zoom=self.zoom,
            identity_rate=self.identity_rate,
            elastic=self.elastic,
            seed=self.seed,
        )
        return config


def _affine(angle, scale, shift_x, shift_y, height, width):
    """The rows of ``affine_transform``'s matrices (batch, 8), which map each output pixel to the
    input pixel it samples: input = scale * R(angle) @ (output - centre) + centre - shift."""
    cx = (width - 1.0) / 2.0
    cy = (height - 1.0) / 2.0
    cos = ops.cos(angle) * scale
    sin = ops.sin(angle) * scale
    zeros = ops.zeros_like(cos)
    columns = [
        cos, -sin, cx - (cos * cx - sin * cy) - shift_x,
        sin, cos, cy - (sin * cx + cos * cy) - shift_y,
        zeros, zeros,
    ]  # fmt: skip
    return ops.stack(columns, axis=1)


def _bilinear(planes, rows, cols):
    """``planes`` (batch, height, width) read at the real-valued ``rows``, ``cols`` (each of the
    same shape), bilinearly, zero outside the image. Keras' ``map_coordinates`` wants the batch's
    size when it traces, which a model's input does not have; this gathers from the flattened
    batch instead."""
    shape = ops.shape(planes)
    batch, height, width = shape[0], shape[1], shape[2]
    top, left = ops.floor(rows), ops.floor(cols)
    down, right = rows - top, cols - left
    offsets = ops.reshape(ops.arange(batch) * height * width, (-1, 1, 1))
    flat = ops.reshape(planes, (-1,))
    total = ops.zeros_like(rows)
    for dy, wy in ((0, 1.0 - down), (1, down)):
        for dx, wx in ((0, 1.0 - right), (1, right)):
            r = ops.cast(top, "int32") + dy
            c = ops.cast(left, "int32") + dx
            inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
            at = offsets + ops.clip(r, 0, height - 1) * width + ops.clip(c, 0, width - 1)
            total = total + ops.where(inside, ops.take(flat, at), 0.0) * wy * wx
    return total


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

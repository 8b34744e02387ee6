"""Augmentation happens on the fly, in training only: validation and test images reach the model
unchanged."""

from __future__ import annotations

from tuner.backend import set_eager

import keras
import numpy as np
import pytest

from tuner.models.augmentation import DigitAugmentation
from tuner.models.cnn import build_model

# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager

HP = {
    "conv_blocks": 1,
    "conv_filters": 4,
    "dense_layers": 1,
    "dense_units": 8,
    "input_batch_norm": False,
    "learning_rate": 1e-3,
}


def test_layer_is_identity_outside_training(embedded):
    x = embedded.train.images[:16].astype("float32")
    layer = DigitAugmentation(seed=1)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)


def test_layer_changes_images_in_training_and_keeps_ink(embedded):
    x = embedded.train.images[:200].astype("float32")
    out = np.asarray(DigitAugmentation(seed=1)(x, training=True))
    assert out.shape == x.shape
    changed = np.any(out != x, axis=(1, 2, 3))
    # about 1 image in 10 is left as it is, as in the seed's 1 original + 9 copies
    assert 0.8 < changed.mean() < 0.98
    # shifts/rotations/zooms of at most 10-15 % keep most of the digit inside the frame
    ratio = out.sum(axis=(1, 2, 3)) / x.sum(axis=(1, 2, 3))
    assert np.median(ratio) > 0.8
    assert out.min() >= 0 and out.max() <= 255.5


def test_strength_zero_and_identity_rate_one_change_nothing(embedded):
    x = embedded.train.images[:16].astype("float32")
    np.testing.assert_allclose(
        np.asarray(DigitAugmentation.from_strength(0.0, seed=1)(x, training=True)), x, atol=1e-3
    )
    np.testing.assert_array_equal(
        np.asarray(DigitAugmentation(identity_rate=1.0, seed=1)(x, training=True)), x
    )


def test_validation_and_test_images_reach_the_model_unchanged(embedded):
    """After training with augmentation, the model scores validation and test data exactly as the
    same weights without an augmentation layer do: nothing augments them."""
    x, y = embedded.train.images[:256], embedded.train.labels[:256]
    x_val, y_val = embedded.train.images[256:384], embedded.train.labels[256:384]
    keras.utils.set_random_seed(0)
    augmented = build_model({**HP, "augment_strength": 1.0}, seed=0)
    history = augmented.fit(
        x, y, validation_data=(x_val, y_val), epochs=1, batch_size=64, verbose=0
    )
    plain = build_model({**HP, "augment_strength": 0.0})
    plain.set_weights(augmented.get_weights())  # same weights; the augmentation layer has none

    np.testing.assert_allclose(
        augmented.predict(x_val, verbose=0), plain.predict(x_val, verbose=0), rtol=1e-6, atol=1e-6
    )
    test = embedded.test.images[:64]
    np.testing.assert_allclose(
        augmented.predict(test, verbose=0), plain.predict(test, verbose=0), rtol=1e-6, atol=1e-6
    )
    # the validation score fit reported is the unaugmented one
    _, plain_accuracy = plain.evaluate(x_val, y_val, verbose=0)
    assert history.history["val_accuracy"][-1] == pytest.approx(plain_accuracy, abs=1e-6)


def test_augmentation_is_not_materialized(embedded):
    """Training on N images feeds the model N images per epoch, not 10 N copies."""
    seen = []

    class Count(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    model = build_model({**HP, "augment_strength": 1.0}, seed=0)
    model.fit(
        embedded.train.images[:256],
        embedded.train.labels[:256],
        epochs=1,
        batch_size=64,
        verbose=0,
        callbacks=[Count()],
    )
    assert len(seen) == 256 // 64


def test_saved_model_round_trips_with_the_augmentation_layer(tmp_path, embedded):
    model = build_model({**HP, "augment_strength": 1.0}, seed=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = embedded.test.images[:8]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    layer = loaded.get_layer("augment")
    assert isinstance(layer, DigitAugmentation) and layer.zoom == pytest.approx(0.15)


def test_augmented_copies_are_the_layers_draws_and_strength_0_leaves_the_images():
    from tuner.models.augmentation import augmented_copies

    images = np.zeros((2, 28, 28, 1), np.uint8)
    images[:, 10:18, 12:16] = 255  # a bar: any shift, turn or zoom moves ink
    copies = augmented_copies(images, 1.0, 4, seed=0)
    assert copies.shape == (2, 4, 28, 28, 1) and copies.dtype == np.uint8
    moved = [not np.array_equal(c, images[0]) for c in copies[0]]
    assert sum(moved) >= 2  # the layer leaves about 1 in 10 as it is
    assert (augmented_copies(images, 0.0, 3) == images[:, None]).all()


def test_elastic_distortion_bends_the_affine_draw_and_keeps_the_ink(embedded):
    """The elastic field is added to the same affine draw, sampled once: a vanishing field gives
    the affine warp itself, a field of 1.5 px moves pixels but keeps the digit's ink, and the
    images drawn untouched stay untouched."""
    x = embedded.train.images[:64].astype("float32")
    affine = np.asarray(DigitAugmentation.from_strength(0.5, seed=3)(x, training=True))
    tiny = DigitAugmentation.from_strength(0.5, elastic=1e-6, seed=3)(x, training=True)
    np.testing.assert_allclose(np.asarray(tiny), affine, atol=0.01)
    bent = np.asarray(DigitAugmentation.from_strength(0.5, elastic=1.5, seed=3)(x, training=True))
    untouched = np.all(affine == x, axis=(1, 2, 3))
    assert untouched.any() and not untouched.all()
    np.testing.assert_allclose(bent[untouched], x[untouched], atol=0.01)
    moved = np.abs(bent - affine)[~untouched].mean(axis=(1, 2, 3))
    assert np.all(moved > 1.0)  # of 0..255: every bent image differs from its affine draw
    ink = bent.sum(axis=(1, 2, 3)) / affine.sum(axis=(1, 2, 3))
    # stretched strokes gain ink and squeezed ones lose it, a digit's worth at most by a fifth
    assert np.all(np.abs(ink - 1) < 0.3) and np.median(np.abs(ink - 1)) < 0.1


def test_elastic_distortion_traces_without_a_known_batch_size(embedded):
    """A model's input has no batch size when Keras traces it (Keras' own ``map_coordinates``
    fails there): the elastic warp (``elastic`` > 0) trains inside ``fit``'s compiled step."""
    set_eager(False)  # this one test is about tracing; the next test's fixture sets its mode
    x, y = embedded.train.images[:130], embedded.train.labels[:130]
    model = build_model({**HP, "augment_strength": 0.5, "elastic": 1.5}, seed=0)
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    assert model.get_layer("augment").elastic == 1.5
    config = model.get_layer("augment").get_config()
    assert DigitAugmentation.from_config(config).elastic == 1.5

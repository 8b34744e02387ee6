"""The trainer's warm restart: a fit that starts from another model's weights."""

from __future__ import annotations

from tuner.backend import keras

import numpy as np

from tests.helpers import TINY
from tuner.space.values import resolve_values
from tuner.training.fit import Recipe, fit_model


class WeightsAtStart(keras.callbacks.Callback):
    """Keeps the model's weights as its first step sees them."""

    def on_train_begin(self, logs=None):
        self.weights = self.model.get_weights()


def test_a_warm_restart_starts_from_the_weights_with_a_fresh_schedule(tiny_train):
    """``start``: the model's weights (batch norm's statistics included) are the given ones when
    training begins; the optimizer is fresh, so the cosine schedule starts again from its peak
    (a resumed fit would carry the optimizer's step count on, and its rate would stay near 0)."""
    x, y = tiny_train.images[:128], tiny_train.labels[:128]
    recipe = Recipe(resolve_values({**TINY, "epochs": 2, "lr_decay": True}))
    first = fit_model(recipe, x, y, seed=0)
    trained = first.model.get_weights()
    seen = WeightsAtStart()
    then = fit_model(recipe, x, y, seed=1, start=trained, callbacks=[seen])
    assert len(seen.weights) == len(trained)
    assert all(np.array_equal(a, b) for a, b in zip(seen.weights, trained, strict=True))
    assert int(then.model.optimizer.iterations.numpy()) == int(first.model.optimizer.iterations)
    # and it trained on from there: its weights moved
    assert not all(
        np.array_equal(a, b) for a, b in zip(then.model.get_weights(), trained, strict=True)
    )
    # without ``start``, the same seed's model begins elsewhere
    fresh = WeightsAtStart()
    fit_model(recipe, x, y, seed=1, callbacks=[fresh])
    assert not all(np.array_equal(a, b) for a, b in zip(fresh.weights, trained, strict=True))

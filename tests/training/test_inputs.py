"""What ``fit`` trains on: ``tuner.backend.fit_inputs``' pipelines on TensorFlow."""

from __future__ import annotations

from tuner.backend import fit_inputs, keras

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the tf.data pipelines are TensorFlow's"
)


def _epoch(dataset) -> tuple[np.ndarray, np.ndarray]:
    batches = [(np.asarray(x), np.asarray(y)) for x, y in dataset]
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


def _images(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Image i is filled with i % 256 and labelled i: a batch's pairs can be checked."""
    x = np.repeat(np.arange(n, dtype=np.uint8)[:, None, None, None], 28, axis=1)
    return np.repeat(x, 28, axis=2), np.arange(n)


def test_every_epoch_is_each_image_once_with_its_label_in_a_new_order():
    x, y = _images(100)
    data = fit_inputs(x, y, batch_size=32, seed=3)["x"]
    first, second = _epoch(data), _epoch(data)
    for images, labels in (first, second):
        assert sorted(labels) == list(range(100))  # each image once, the last batch partial
        assert (images[:, 0, 0, 0] == labels % 256).all()  # each image with its own label
    assert list(first[1]) != list(second[1])  # reshuffled each epoch
    assert [len(x) for x, _ in data] == [32, 32, 32, 4]


def test_a_seed_gives_the_same_order_and_another_seed_another():
    x, y = _images(64)
    order = [list(_epoch(fit_inputs(x, y, batch_size=16, seed=s)["x"])[1]) for s in (5, 5, 6)]
    assert order[0] == order[1]
    assert order[0] != order[2]


def test_the_pipelines_do_not_autotune_and_validation_keeps_its_order():
    # Freeing an autotuned tf.data iterator waits for the tuner's thread (1.3-1.8 s at a third of
    # the epochs' ends on 2 cores): the pipelines are built with it off.
    x, y = _images(50)
    given = fit_inputs(x, y, batch_size=8, seed=0, validation=(x[:20], y[:20]))
    assert given["shuffle"] is False  # the pipeline shuffles; Keras would warn
    for dataset in (given["x"], given["validation_data"]):
        assert dataset.options().autotune.enabled is False
    assert list(_epoch(given["validation_data"])[1]) == list(range(20))

"""The holdout and the folds (tuner.data.splits): stratified, disjoint, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from tuner.data.splits import fold_indices, split_holdout
from tuner.errors import SearchError


def test_holdout_is_stratified_disjoint_and_seeded(tiny_train):
    part, held = split_holdout(tiny_train, 0.2, seed=0)
    assert (len(part), len(held)) == (240, 60)
    both = np.concatenate([part.images, held.images]).reshape(300, -1)
    assert len({row.tobytes() for row in both}) == len({r.tobytes() for r in tiny_train.images})
    counts = np.bincount(held.labels, minlength=10) / 60
    overall = np.bincount(tiny_train.labels, minlength=10) / 300
    assert np.abs(counts - overall).max() < 0.03  # every class in proportion
    again, _ = split_holdout(tiny_train, 0.2, seed=0)
    np.testing.assert_array_equal(part.images, again.images)
    assert split_holdout(tiny_train, None, 0) == (tiny_train, None)
    with pytest.raises(SearchError, match="holdout must be a fraction between 0 and 1, got 1.5"):
        split_holdout(tiny_train, 1.5, 0)


def test_folds_are_stratified_disjoint_and_seeded(embedded):
    labels = embedded.train.labels[:300]
    splits = fold_indices(labels, 3, seed=7)
    assert len(splits) == 3
    validation = np.concatenate([val for _, val in splits])
    assert sorted(validation.tolist()) == list(range(300))  # each image validated exactly once
    for train, val in splits:
        assert not set(train) & set(val)
        # every class in each validation fold, in proportion
        counts = np.bincount(labels[val], minlength=10)
        assert counts.min() > 0
    again = fold_indices(labels, 3, seed=7)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(splits, again, strict=True))
    other = fold_indices(labels, 3, seed=8)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(splits, other, strict=True))


def test_fold_count_is_checked(embedded):
    labels = embedded.train.labels[:300]
    with pytest.raises(SearchError, match="folds must be >= 2, got folds=1"):
        fold_indices(labels, 1, 0)
    smallest = int(np.bincount(labels).min())
    with pytest.raises(SearchError, match=f"smallest class count \\({smallest} images\\)"):
        fold_indices(labels, smallest + 1, 0)

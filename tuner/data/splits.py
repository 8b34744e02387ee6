"""How a search splits its training data: a stratified holdout kept out of everything, and the
stratified K folds of the CV, both seeded."""

from __future__ import annotations

from typing import Any

import numpy as np

from tuner.data.kaggle import Dataset
from tuner.errors import SearchError

__all__ = [
    "check_class_sizes",
    "split_holdout",
    "holdout_indices",
    "search_part",
    "searched_subset",
    "searched",
    "fold_indices",
    "final_fits",
    "replaced_fits",
    "ALWAYS_TRAINED",
]

# The export's final models that train whatever the run budget says: with a holdout, the first
# is measured there and the second sees every image (``final_fits``' order).
ALWAYS_TRAINED = 2


def split_holdout(
    train: Dataset, fraction: float | None, seed: int
) -> tuple[Dataset, Dataset | None]:
    """(search part, holdout): a stratified, seeded ``fraction`` of ``train`` held out.

    Both parts keep the original order of the images. No fraction: (train, None).
    """
    if not fraction:
        return train, None
    keep, held = holdout_indices(train.labels, fraction, seed)
    return train.subset(keep, f"{train.source} (search part)"), train.subset(
        held, f"{train.source} (holdout)"
    )


def check_class_sizes(train: Dataset, folds: int, holdout: float | None) -> None:
    """Raises naming the first class too small to be in every fold (and the holdout, if
    any): a stray label (a ``10`` among digits) is a class of one image."""
    need = folds + (1 if holdout else 0)
    counts = np.bincount(train.labels, minlength=len(train.classes))
    if counts.min() >= need:
        return
    small = int(np.argmin(counts))
    images = "image" if counts[small] == 1 else "images"
    where = f"{folds} folds" + (" and the holdout" if holdout else "")
    raise SearchError(
        f"{train.source}: label {train.classes[small]} has {counts[small]} {images}; every class "
        f"needs at least {need} (one in each of the {where}): fix or drop its rows"
    )


def holdout_indices(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out) indices, each sorted: a stratified, seeded ``fraction`` held out."""
    from sklearn.model_selection import train_test_split

    if not 0 < fraction < 1:
        raise SearchError(f"holdout must be a fraction between 0 and 1, got {fraction}")
    counts = np.bincount(labels)
    counts = counts[counts > 0]
    if round(fraction * len(labels)) < len(counts) or counts.min() < 2:
        raise SearchError(
            f"holdout={fraction} of {len(labels)} images is too small to hold every class out"
        )
    keep, held = train_test_split(
        np.arange(len(labels)), test_size=fraction, stratify=labels, random_state=seed
    )
    return np.sort(keep), np.sort(held)


def search_part(manifest: dict[str, Any], train: Dataset) -> tuple[Dataset, Dataset | None]:
    """The (search part, holdout) of ``train`` that the search of ``manifest`` used."""
    config = manifest.get("config", {})
    return split_holdout(train, config.get("holdout"), int(config.get("seed", 0)))


def searched_subset(part: Dataset, images: int | None, seed: int) -> Dataset:
    """The images the search's folds train and score on: a stratified, seeded ``images`` of the
    search part (a cheaper fidelity: the export still retrains on the whole part), or the whole
    part when ``images`` is None, 0 or at least its size. Keeps the original order."""
    if not images or images >= len(part):
        return part
    from sklearn.model_selection import train_test_split

    if images < 10 * len(np.unique(part.labels)):
        raise SearchError(f"search_images={images} is too few to hold every class in each fold")
    keep, _ = train_test_split(
        np.arange(len(part)), train_size=images, stratify=part.labels, random_state=seed
    )
    return part.subset(np.sort(keep), f"{part.source} ({images} searched)")


def searched(manifest: dict[str, Any], train: Dataset) -> Dataset:
    """The images the search of ``manifest`` ran its folds on (its out-of-fold rows)."""
    config = manifest.get("config", {})
    part, _ = search_part(manifest, train)
    return searched_subset(part, config.get("search_images"), int(config.get("seed", 0)))


def fold_indices(labels: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified K-fold split, shuffled with ``seed``: a list of (train, validation) index arrays."""
    from sklearn.model_selection import StratifiedKFold

    if folds < 2:
        raise SearchError(f"folds must be >= 2, got folds={folds}")
    counts = np.bincount(labels)
    smallest = int(counts[counts > 0].min()) if counts.size else 0
    if folds > smallest:
        raise SearchError(
            f"folds must be <= the smallest class count ({smallest} images), got folds={folds}"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


def final_fits(models: int, part: int, holdout: int) -> list[int]:
    """The images each of the export's ``models`` final models trains on, in the order they
    train: with a holdout, every other one (half, rounded up) trains on the search part alone
    (``part`` images), so that the holdout measures the recipe on images none of them saw, and
    the others on every image (``part + holdout``); without one, all train on every image. One
    model with a holdout is a measured one: it never sees the holdout."""
    if not holdout:
        return [part] * models
    # alternated, so that the models a run budget has time for are still half measured
    return [part if i % 2 == 0 else part + holdout for i in range(models)]


def replaced_fits(fits: list[dict]) -> set[int]:
    """The final models (indices into ``fits``, ``search.json``'s ``export.final_models``) that
    a later one went on from (its ``continues``, a warm restart) and so replaced: not in the
    submission."""
    return {f["continues"] for f in fits if f.get("continues") is not None}

"""Analyses as plain records: EDA of the data, hyperparameter importance, error analysis.

Computations only (numpy, scikit-learn); ``tuner.analysis.plots`` draws them and
``tuner.ui.tables`` prints them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tuner.data.kaggle import DIGITS, DigitData
from tuner.errors import SearchError
from tuner.screening.marks import SCREEN_KEY, is_screen
from tuner.storage.records import TrialRecord, TrialState

__all__ = [
    "EdaSummary",
    "eda",
    "Importance",
    "importance",
    "ErrorAnalysis",
    "confusion_matrix",
    "error_analysis",
    "first_fold_records",
    "importance_basis",
    "screen_records",
]


@dataclass(frozen=True)
class EdaSummary:
    """What the seed notebook looked at before modelling."""

    train_size: int
    test_size: int
    class_counts: list[int]  # per class, in ``classes``' order
    always_zero_train: int  # pixel positions that are 0 in every training image
    always_zero_test: int
    always_zero_both: int
    pixel_mean: float  # over all training pixels, 0..255
    pixel_std: float
    ink_fraction: float  # share of non-zero pixels
    class_mean_intensity: list[float]  # mean pixel value per class
    classes: tuple[int, ...] = DIGITS  # the training labels' values

    @property
    def balance(self) -> float:
        """Smallest class count over the largest (1.0 = perfectly balanced)."""
        return min(self.class_counts) / max(self.class_counts)


def eda(data: DigitData) -> EdaSummary:
    """Class counts, always-zero pixels and intensity statistics of the training and test data."""
    train = data.train.images.reshape(len(data.train), -1)
    test = data.test.images.reshape(len(data.test), -1)
    labels, classes = data.train.labels, data.train.classes
    zero_train = ~train.any(axis=0)
    zero_test = ~test.any(axis=0) if len(test) else np.ones(train.shape[1], bool)
    pixels = train.astype(np.float64)
    return EdaSummary(
        train_size=len(train),
        test_size=len(test),
        class_counts=np.bincount(labels, minlength=len(classes)).tolist(),
        always_zero_train=int(zero_train.sum()),
        always_zero_test=int(zero_test.sum()),
        always_zero_both=int((zero_train & zero_test).sum()),
        pixel_mean=float(pixels.mean()),
        pixel_std=float(pixels.std()),
        ink_fraction=float((train > 0).mean()),
        class_mean_intensity=[
            float(pixels[labels == c].mean()) if (labels == c).any() else 0.0
            for c in range(len(classes))
        ],
        classes=classes,
    )


@dataclass(frozen=True)
class Importance:
    """How much one hyperparameter moves the CV score across completed trials."""

    name: str
    importance: float  # share of the score's variance the forest attributes to it (sums to 1)
    correlation: float  # Spearman rank correlation with the score (sign: which way is better)
    best_value: Any  # its value in the best trial


def importance_basis(records: list[TrialRecord]) -> tuple[list[TrialRecord], str]:
    """The trials ``importance`` can compare, all scored at one fidelity, and what they are: the
    completed trials by CV accuracy when there are 3; else, on a screened search, its screens by
    their accuracy at fold 1's screening epoch; else every trial that finished its first fold
    (pruned ones included) by that fold. Fewer than 3 of them: ``([], what it needs)``."""
    complete = [r for r in records if r.state is TrialState.COMPLETE and r.mean is not None]
    if len(complete) >= 3:
        return complete, f"{len(complete)} completed trials, CV accuracy"
    screens, first = screen_records(records), first_fold_records(records)
    if len(screens) >= 3 and len(screens) >= len(first):
        epochs = screens[0].hyperparameters[SCREEN_KEY]
        return screens, (
            f"fewer than 3 trials completed all folds: {len(screens)} screens by their accuracy "
            f"at epoch {epochs} of fold 1"
        )
    if len(first) >= 3:
        return first, (
            f"fewer than 3 trials completed all folds: {len(first)} trials by the accuracy "
            "of their first fold (pruned ones included)"
        )
    return [], (
        f"importance needs 3 trials scored alike: this search has {len(complete)} completed, "
        f"{len(screens)} screened and {len(first)} with a whole first fold; run more trials "
        "(the same command with a larger --trials, or `digit-tuner resume NAME --trials N`)"
    )


def screen_records(records: list[TrialRecord]) -> list[TrialRecord]:
    """The screens of a screened search (``tuner.screening``) that were scored, as
    completed one-fold trials: every one trained the same epochs of fold 1, one fidelity."""
    found = []
    for record in records:
        if record.state is TrialState.PRUNED and record.folds and is_screen(record.hyperparameters):
            found.append(
                dataclasses.replace(record, state=TrialState.COMPLETE, folds=record.folds[:1])
            )
    return found


def first_fold_records(records: list[TrialRecord]) -> list[TrialRecord]:
    """Every trial that trained its first fold to the end, pruned ones included, scored by that
    fold alone: what a pruned search can honestly tell about its hyperparameters (folds are
    exchangeable, so fold 1 of every trial is one comparable measurement)."""
    found = []
    for record in records:
        if record.state not in (TrialState.COMPLETE, TrialState.PRUNED) or not record.folds:
            continue
        first = record.folds[0]
        if (
            record.state is TrialState.PRUNED
            and len(record.folds) == 1
            and first.best_epoch is None
        ):
            epochs = record.hyperparameters.get("epochs")
            if epochs is not None and first.epochs < int(epochs):
                continue  # stopped within its first fold: no full fold to compare
        found.append(dataclasses.replace(record, state=TrialState.COMPLETE, folds=(first,)))
    return found


def _as_numbers(values: list) -> np.ndarray:
    """A hyperparameter's values as numbers: as they are when numeric (booleans as 0/1), else the
    rank of each distinct value (a user's ``hp.Choice("activation", ["relu", "gelu"])``); a
    value a trial does not have (declared under a condition) is NaN."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, (int, float)) for v in present):
        return np.array([np.nan if v is None else float(v) for v in values])
    codes = {v: i for i, v in enumerate(sorted({str(v) for v in present}))}
    return np.array([np.nan if v is None else float(codes[str(v)]) for v in values])


def importance(records: list[TrialRecord], varying: list[str], seed: int = 0) -> list[Importance]:
    """Ranks the varying hyperparameters by importance, most important first.

    A random forest is fitted from hyperparameter values to mean CV accuracy over the completed
    trials, and each hyperparameter gets its share of the forest's impurity reduction (the idea of
    Optuna's fANOVA evaluator, without its marginal integrals). With few trials this is a hint, not
    a measurement.

    Raises:
        SearchError: fewer than 3 completed trials, or nothing varies.
    """
    from scipy.stats import spearmanr
    from sklearn.ensemble import RandomForestRegressor

    complete = [r for r in records if r.state is TrialState.COMPLETE and r.mean is not None]
    if len(complete) < 3:
        pruned = sum(r.state is TrialState.PRUNED for r in records)
        raise SearchError(
            f"importance needs at least 3 completed trials, got {len(complete)}"
            + (f" ({pruned} pruned)" if pruned else "")
            + "; run more trials (`digit-tuner search --trials N`, the same command otherwise)"
        )
    if not varying:
        raise SearchError("the search space has no varying hyperparameter")
    x = np.column_stack(
        [_as_numbers([r.hyperparameters.get(n) for r in complete]) for n in varying]
    )
    y = np.array([r.mean for r in complete])
    if np.ptp(y) == 0:
        shares = np.zeros(len(varying))
    else:
        forest = RandomForestRegressor(n_estimators=300, random_state=seed, min_samples_leaf=1)
        forest.fit(x, y)
        shares = forest.feature_importances_
    best = max(complete, key=lambda r: r.mean)
    result = []
    for i, name in enumerate(varying):
        column = x[:, i]
        rho = 0.0
        known = ~np.isnan(column)
        if known.sum() > 2 and np.ptp(column[known]) > 0 and np.ptp(y[known]) > 0:
            rho = float(spearmanr(column[known], y[known]).statistic)
        result.append(Importance(name, float(shares[i]), rho, best.hyperparameters.get(name)))
    return sorted(result, key=lambda item: -item.importance)


def confusion_matrix(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = len(DIGITS)
) -> np.ndarray:
    """Counts: rows are true classes, columns predicted classes."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return matrix


@dataclass(frozen=True)
class ErrorAnalysis:
    """Error analysis of out-of-fold predictions (each image predicted by a model that never
    trained on it)."""

    trial_id: str
    accuracy: float
    confusion: np.ndarray  # (K, K) counts of class indices, rows true, columns predicted
    precision: list[float]
    recall: list[float]
    confidence: np.ndarray  # max probability per image
    correct: np.ndarray  # bool per image
    wrong: np.ndarray = field(
        repr=False, default=None
    )  # indices of misclassified, most confident first
    predicted: np.ndarray = field(repr=False, default=None)  # class indices
    classes: tuple[int, ...] = DIGITS  # each class index's label value

    def top_confusions(self, k: int = 5) -> list[tuple[int, int, int]]:
        """The k most frequent (true label, predicted label, count) mistakes."""
        off = self.confusion.copy()
        np.fill_diagonal(off, 0)
        flat = np.argsort(off, axis=None)[::-1][:k]
        n = len(self.classes)
        return [
            (self.classes[i // n], self.classes[i % n], int(off.flat[i]))
            for i in flat
            if off.flat[i] > 0
        ]


def error_analysis(
    trial_id: str, oof: np.ndarray, labels: np.ndarray, classes: tuple[int, ...] = DIGITS
) -> ErrorAnalysis:
    """Confusion matrix, per-class precision and recall, and confidence of out-of-fold
    predictions (``labels``: class indices into ``classes``)."""
    probabilities = oof.astype(np.float32)
    if probabilities.shape != (len(labels), len(classes)) or not np.isfinite(probabilities).all():
        raise SearchError(
            f"trial {trial_id}: out-of-fold predictions are missing or incomplete "
            f"(shape {probabilities.shape}, {len(labels)} labels)"
        )
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    correct = predicted == labels
    matrix = confusion_matrix(labels, predicted, len(classes))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.nan_to_num(np.diag(matrix) / matrix.sum(axis=0))
        recall = np.nan_to_num(np.diag(matrix) / matrix.sum(axis=1))
    wrong = np.flatnonzero(~correct)
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")]
    return ErrorAnalysis(
        trial_id=trial_id,
        accuracy=float(correct.mean()),
        confusion=matrix,
        precision=precision.tolist(),
        recall=recall.tolist(),
        confidence=confidence,
        correct=correct,
        wrong=wrong,
        predicted=predicted,
        classes=tuple(classes),
    )

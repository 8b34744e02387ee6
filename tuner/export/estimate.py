"""What the exported recipe is expected to score on new images, with a 95 % interval."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from tuner.space.spaces import EstimateCorrection, SearchSpace
from tuner.storage.records import TrialRecord

__all__ = ["Estimate", "correction_applies", "estimate", "wilson_interval"]

Z95 = 1.96  # the normal quantile of a two-sided 95 % interval


@dataclass(frozen=True)
class Estimate:
    """The accuracy the exported recipe is expected to score on new images, and how it was had."""

    accuracy: float
    low: float  # its 95 % interval
    high: float
    images: int
    method: str  # "holdout", "out-of-fold" or "out-of-fold, corrected"
    note: str  # how to read it

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def estimate(
    best: TrialRecord,
    scores: dict[str, float] | None,
    chosen: str,
    holdout_size: int,
    correction: EstimateCorrection | None = None,
    why_not: str | None = None,
) -> Estimate:
    """The exported recipe's expected accuracy, with a 95 % interval:

    - with a holdout, its score there (images none of its models saw), with Wilson's interval
      for a binomial proportion (near 100 % on a few hundred images the normal one would claim
      too much: 199 of 200 right is 97.2-99.9 %, not 99.5 +- 1.0);
    - otherwise the best trial's out-of-fold accuracy plus ``correction``, the gain measured for
      this profile (fold models saw (K-1)/K of the searched images for the search's epochs; the
      exported model sees all of them for the final epochs). The interval adds the spread of the
      measured gains (as a prediction for one more seed: sd * sqrt(1 + 1/n)) to the out-of-fold
      binomial error;
    - with no correction that applies, the out-of-fold accuracy itself, a lower estimate
      (``why_not`` says why a profile's correction did not apply).
    """
    if scores and chosen in scores and holdout_size:
        accuracy = scores[chosen]
        low, high = wilson_interval(accuracy, holdout_size)
        note = "the exported recipe on the search's holdout (images none of its models saw)"
        return Estimate(accuracy, low, high, holdout_size, "holdout", note)
    oof = best.oof_accuracy or 0.0
    images = sum(f.val_size for f in best.folds)
    if correction is not None and why_not is None:
        n, gain, sd = len(correction.gains), correction.mean / 100, correction.sd / 100
        accuracy = min(oof + gain, 1.0)
        ci95 = math.sqrt(_binomial_ci95(oof, images) ** 2 + (Z95 * sd) ** 2 * (1 + 1 / n))
        note = (
            f"the best trial's out-of-fold accuracy {100 * oof:.2f} % plus {100 * gain:+.2f}, the "
            f"gain this profile's export showed over it on a holdout ({n} measured seeds, sd "
            f"{100 * sd:.2f}; the space's [estimate] table)"
        )
        low, high = max(accuracy - ci95, 0.0), min(accuracy + ci95, 1.0)
        return Estimate(accuracy, low, high, images, "out-of-fold, corrected", note)
    note = (
        "the best trial's out-of-fold predictions: fold models trained on part of the data; "
        "the exported model, trained on all of it, is expected to score about as much or "
        "more (keep a holdout, --holdout 0.1, to measure the recipe itself)"
    )
    if why_not:
        note += f"; the profile's measured gain was not added: {why_not}"
    return Estimate(oof, *wilson_interval(oof, images), images, "out-of-fold", note)


def correction_applies(
    space: SearchSpace, config: dict, recipe: str, retrain_images: int
) -> str | None:
    """Why the measured gain of ``space`` (its [estimate] table) does not apply to this export
    (None: it does, or there is none). It was measured for a single model retrained with the
    profile's own [search] settings, on about ``train_images`` images."""
    correction = space.estimate
    if correction is None:
        return None
    search = space.search
    for key, ours in (
        ("folds", search.folds),
        ("search_images", search.search_images),
        ("final_epochs", search.final_epochs),
    ):
        if config.get(key) != ours:
            return f"it was measured with {key} {ours}, this search used {config.get(key)}"
    if recipe != "single":
        return f"it was measured for a single model, this export is {recipe}"
    if not 0.8 * correction.train_images <= retrain_images <= 1.25 * correction.train_images:
        return (
            f"it was measured for a retrain on {correction.train_images:,} images, "
            f"this one used {retrain_images:,}"
        )
    return None


def _binomial_ci95(accuracy: float, images: int) -> float:
    return Z95 * math.sqrt(max(accuracy * (1 - accuracy), 0.0) / max(images, 1))


def wilson_interval(accuracy: float, images: int) -> tuple[float, float]:
    """Wilson's 95 % score interval of a proportion ``accuracy`` measured on ``images``."""
    n = max(images, 1)
    z2 = Z95**2
    center = (accuracy + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 / (1 + z2 / n) * math.sqrt(accuracy * (1 - accuracy) / n + z2 / (4 * n * n))
    return max(center - half, 0.0), min(center + half, 1.0)

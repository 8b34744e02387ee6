"""What an export can build, checked before any training: the ensemble (``none``, ``folds``,
``top-K``), test-time augmentation's shifts, and the submission file Kaggle reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tuner.data.submission import SubmissionLayout, submission_text
from tuner.errors import SearchError
from tuner.storage.atomic import write_text_atomic

__all__ = [
    "TTA_DEFAULT",
    "candidate_name",
    "check_recipe",
    "parse_ensemble",
    "shift_images",
    "tta_shifts",
    "write_submission",
]


TTA_DEFAULT = 5  # what "auto" tries on the holdout: the image and its 1-pixel shifts


def parse_ensemble(text: str) -> tuple[str, int]:
    """``none``, ``folds`` or ``top-K`` -> (kind, K)."""
    if text in ("none", "folds"):
        return text, 0
    if text.startswith("top-") and text[4:].isdigit() and int(text[4:]) >= 2:
        return "top", int(text[4:])
    raise SearchError(f"ensemble must be none, folds or top-K with K >= 2, got {text!r}")


def check_recipe(ensemble: str, tta: int | None) -> None:
    """Raises unless ``ensemble`` and ``tta`` name a recipe export can build (checked before a
    search starts, so that a typo costs no training)."""
    parse_ensemble(ensemble)
    if tta is not None:
        tta_shifts(tta)


def tta_shifts(n: int) -> list[tuple[int, int]]:
    """The (dy, dx) pixel shifts of N-fold TTA: 1 (none), 5 (the 4 neighbours) or 9 (all 8)."""
    if n not in (1, 5, 9):
        raise SearchError(f"tta must be 1, 5 or 9 (the image and its 1-pixel shifts), got {n}")
    shifts = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)]
    return shifts[:n]


def shift_images(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Images moved by (dy, dx) pixels, the uncovered border filled with 0 (background)."""
    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def candidate_name(ensemble: str, tta: int) -> str:
    """The holdout table's name of a recipe: ``single``, ``folds+tta5``, ``top-3``, ..."""
    name = "single" if ensemble == "none" else ensemble
    return name + (f"+tta{tta}" if tta > 1 else "")


def write_submission(
    path: str | Path, labels: np.ndarray, layout: SubmissionLayout | None = None
) -> None:
    """Writes the submission of ``labels`` (``tuner.data.submission``: the sample submission's
    header and row order, else ``ImageId,Label`` from 1), atomically."""
    write_text_atomic(path, submission_text(labels, layout))

"""Pictures (PNG, matplotlib's non-interactive Agg backend), each written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tuner.data.kaggle import DIGITS
from tuner.storage.atomic import atomic_path

__all__ = [
    "sample_grid",
    "class_counts_chart",
    "confusion_png",
    "misclassified_grid",
    "confidence_histograms",
    "learning_curves",
    "importance_chart",
]

# Classes drawn one per row, or with their counts written in; past this, the first ones only (a
# sample grid) or the colours alone (the confusion matrix): 100 classes would not read.
MOST_ROWS = 24


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    plt = _pyplot()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def sample_grid(
    images: np.ndarray,
    labels: np.ndarray,
    path: Path,
    classes: tuple[int, ...] = DIGITS,
    per_class: int = 10,
    seed: int = 0,
) -> Path:
    """A row of random sample images per class (the first ``MOST_ROWS`` classes), each row
    named by its label value (``labels``: class indices into ``classes``)."""
    plt = _pyplot()
    rng = np.random.default_rng(seed)
    rows = min(len(classes), MOST_ROWS)
    fig, axes = plt.subplots(rows, per_class, figsize=(per_class * 0.8, rows * 0.85),
                             squeeze=False)  # fmt: skip
    for row in range(rows):
        pool = np.flatnonzero(labels == row)
        picks = rng.choice(pool, size=min(per_class, len(pool)), replace=False) if len(pool) else []
        for j in range(per_class):
            ax = axes[row, j]
            ax.axis("off")
            if j < len(picks):
                ax.imshow(images[picks[j], :, :, 0], cmap="gray_r", vmin=0, vmax=255)
        axes[row, 0].text(-8, 14, str(classes[row]), fontsize=14, va="center", ha="right")
    shown = "" if rows == len(classes) else f"; the first {rows} of {len(classes)} classes"
    fig.suptitle(f"Sample training images ({per_class} per class{shown})", fontsize=13, y=0.93)
    return _save(fig, path)


def _tick_size(classes) -> int:
    return 10 if len(classes) <= MOST_ROWS else 6


def ink_map(images: np.ndarray, path: Path) -> Path:
    """How often each pixel is inked over the training images; pixels that are 0 in every image
    (no model can learn from them) marked in red."""
    plt = _pyplot()
    inked = (images[..., 0] > 0).mean(axis=0)
    never = inked == 0
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.imshow(inked, cmap="Greys", vmin=0, vmax=1)
    rows, cols = np.nonzero(never)
    ax.scatter(cols, rows, s=6, c="#c0392b", marker="s", linewidths=0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{int(never.sum())} of {never.size} pixels are 0 in all "
                 f"{len(images):,} images (red)", fontsize=9)  # fmt: skip
    return _save(fig, path)


def augmented_grid(originals: np.ndarray, copies: np.ndarray, strength: float, path: Path) -> Path:
    """A row per class: the image, then its augmented copies (``copies``: (N, K, 28, 28, 1))."""
    plt = _pyplot()
    n, k = copies.shape[:2]
    fig, axes = plt.subplots(n, k + 1, figsize=((k + 1) * 0.8, n * 0.85), squeeze=False)
    for i in range(n):
        for j, image in enumerate([originals[i], *copies[i]]):
            ax = axes[i, j]
            ax.axis("off")
            ax.imshow(image[:, :, 0], cmap="gray_r", vmin=0, vmax=255)
    axes[0, 0].set_title("image", fontsize=8)
    fig.suptitle(f"Augmented copies as the winner trained on them (strength {strength:g})",
                 fontsize=11, y=0.93)  # fmt: skip
    return _save(fig, path)


def class_counts_chart(counts: list[int], path: Path, classes: tuple[int, ...] = DIGITS) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(7, 0.3 * len(classes)), 3.5))
    bars = ax.bar(range(len(classes)), counts, color="#4C72B0")
    if len(classes) <= MOST_ROWS:
        ax.bar_label(bars, fontsize=8)
    ax.set_xticks(range(len(classes)), [str(c) for c in classes], fontsize=_tick_size(classes))
    ax.set_xlabel("class (label)")
    ax.set_ylabel("training images")
    mean = float(np.mean(counts))
    ax.axhline(mean, color="grey", linestyle="--", linewidth=1, label=f"mean {mean:,.0f}")
    ax.legend(loc="lower right")
    ax.set_title(f"Class counts (smallest/largest = {min(counts) / max(counts):.2f})")
    ax.set_ylim(0, max(counts) * 1.12)
    return _save(fig, path)


def confusion_png(
    matrix: np.ndarray, path: Path, title: str, classes: tuple[int, ...] = DIGITS
) -> Path:
    """The confusion matrix, mistakes coloured, the counts written in (up to ``MOST_ROWS``
    classes), rows and columns named by the label values."""
    plt = _pyplot()
    side = max(6.5, 0.3 * len(classes))
    fig, ax = plt.subplots(figsize=(side, side * 0.9))
    off = matrix.astype(float).copy()
    np.fill_diagonal(off, np.nan)  # colour the mistakes; the diagonal would swamp the scale
    image = ax.imshow(off, cmap="Reds")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="misclassified images")
    written = range(len(classes)) if len(classes) <= MOST_ROWS else range(0)
    for i in written:
        for j in written:
            value = matrix[i, j]
            if value:
                ax.text(
                    j,
                    i,
                    str(value),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="black" if i != j else "#1a5e1a",
                    fontweight="bold" if i == j else None,
                )
    names, size = [str(c) for c in classes], _tick_size(classes)
    ax.set_xticks(range(len(classes)), names, fontsize=size)
    ax.set_yticks(range(len(classes)), names, fontsize=size)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return _save(fig, path)


def misclassified_grid(
    images: np.ndarray,
    labels: np.ndarray,
    predicted: np.ndarray,
    confidence: np.ndarray,
    indices: np.ndarray,
    path: Path,
    limit: int = 36,
) -> Path:
    """The misclassified images (most confident mistakes first) with true and predicted labels."""
    plt = _pyplot()
    shown = indices[:limit]
    cols = 6
    rows = max(1, int(np.ceil(len(shown) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.45, rows * 1.7), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(shown):
            i = shown[k]
            ax.imshow(images[i, :, :, 0], cmap="gray_r", vmin=0, vmax=255)
            ax.set_title(f"true {labels[i]} → {predicted[i]}\n{confidence[i]:.0%} sure", fontsize=8)
    fig.suptitle(
        f"Misclassified images, most confident first ({len(shown)} of {len(indices)})", fontsize=11
    )
    return _save(fig, path)


def confidence_histograms(confidence: np.ndarray, correct: np.ndarray, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    bins = np.linspace(0.1, 1.0, 37)
    ax.hist(
        confidence[correct],
        bins=bins,
        alpha=0.7,
        label=f"right ({correct.sum():,})",
        color="#55A868",
    )
    ax.hist(
        confidence[~correct],
        bins=bins,
        alpha=0.8,
        label=f"wrong ({(~correct).sum():,})",
        color="#C44E52",
    )
    ax.set_yscale("log")
    ax.set_xlabel("confidence (highest class probability)")
    ax.set_ylabel("images (log scale)")
    ax.set_title("Confidence of right and wrong out-of-fold predictions")
    ax.legend(loc="upper left")
    return _save(fig, path)


def learning_curves(record, path: Path) -> Path:
    """Training and validation accuracy and loss per epoch, one line per fold."""
    plt = _pyplot()
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    colours = plt.get_cmap("tab10")
    for fold in record.folds:
        epochs = np.arange(1, len(fold.history.get("loss", [])) + 1)
        c = colours(fold.fold % 10)
        for ax, key in ((acc_ax, "accuracy"), (loss_ax, "loss")):
            if key in fold.history:
                ax.plot(epochs, fold.history[key], color=c, linestyle="--", linewidth=1)
            if f"val_{key}" in fold.history:
                ax.plot(
                    epochs,
                    fold.history[f"val_{key}"],
                    color=c,
                    linewidth=1.5,
                    label=f"fold {fold.fold + 1}",
                )
    from matplotlib.ticker import MaxNLocator

    for ax, key in ((acc_ax, "accuracy"), (loss_ax, "loss")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    acc_ax.legend(fontsize=8, title="validation (solid)\ntraining (dashed)", title_fontsize=8)
    fig.suptitle(f"Trial {record.trial_id}: learning curves per fold", fontsize=12)
    return _save(fig, path)


def importance_chart(items, path: Path, trials: int) -> Path:
    from matplotlib.ticker import PercentFormatter

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(items) + 1.2))
    names = [item.name for item in items][::-1]
    values = [item.importance for item in items][::-1]
    colours = ["#4C72B0" if item.correlation >= 0 else "#DD8452" for item in items][::-1]
    bars = ax.barh(names, values, color=colours)
    ax.bar_label(bars, labels=[f"{v:.0%}" for v in values], fontsize=8, padding=2)
    ax.set_xlabel(f"share of the score's variance (random forest over {trials} trials)")
    ax.set_xlim(0, max(values + [0.01]) * 1.2)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_title(
        "Hyperparameter importance\n(blue: higher value is better, orange: lower is better)",
        fontsize=10,
    )
    return _save(fig, path)

"""Error analysis of a search's winner, from its out-of-fold predictions, as files and a record.

``digit-tuner report`` prints what ``analyse`` returns and ``write_report`` draws.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tuner.analysis.plots import (
    augmented_grid,
    class_counts_chart,
    confidence_histograms,
    confusion_png,
    ink_map,
    misclassified_grid,
    sample_grid,
)
from tuner.analysis.stats import ErrorAnalysis, error_analysis
from tuner.data.kaggle import DigitData
from tuner.errors import SearchError
from tuner.storage.atomic import write_json_atomic
from tuner.storage.directory import OOF_FILE, REPORT_FILE
from tuner.storage.manifest import SearchHandle, open_search
from tuner.storage.records import TrialRecord, TrialState

__all__ = ["analyse", "write_report"]


def analyse(
    search: SearchHandle | Path, data: DigitData, trial_id: str | None = None
) -> tuple[TrialRecord, ErrorAnalysis]:
    """Error analysis of one completed trial (default: the best) of a search
    (``tuner.storage.manifest.open_search``, or its directory).

    Raises:
        SearchError: no such completed trial, other training data, unreadable predictions.
    """
    search = search if isinstance(search, SearchHandle) else open_search(search)
    directory = search.directory
    train = search.searched(data.train)  # the out-of-fold rows: the search's images
    records = {r.trial_id: r for r in search.records}
    record = records.get(trial_id) if trial_id else search.best
    if record is None or record.state is not TrialState.COMPLETE:
        which = f"trial {trial_id!r}" if trial_id else "trial"
        raise SearchError(f"{directory}: no completed {which} to analyse")
    oof_path = Path(record.path) / OOF_FILE
    try:
        oof = np.load(oof_path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise SearchError(f"{oof_path}: unreadable out-of-fold predictions ({e})") from None
    return record, error_analysis(record.trial_id, oof, train.labels, train.classes)


def write_report(
    search: SearchHandle | Path,
    analysis: ErrorAnalysis,
    data: DigitData,
    plots: Path,
    augmented: tuple | None = None,
) -> list[Path]:
    """Writes the pictures (the error analysis's, and the searched data's class balance, sample
    digits, inked pixels and, given ``augmented`` (``tuner.pipeline.augmented_samples``), its
    augmented copies) and ``report.json``; returns the pictures' paths."""
    search = search if isinstance(search, SearchHandle) else open_search(search)
    directory = search.directory
    train = search.searched(data.train)

    title = (
        f"Trial {analysis.trial_id}: out-of-fold confusion matrix "
        f"(accuracy {100 * analysis.accuracy:.2f} %)"
    )
    named = np.asarray(train.classes)  # the pictures name the classes by their label values
    paths = [
        confusion_png(analysis.confusion, plots / "confusion_matrix.png", title, train.classes),
        misclassified_grid(
            train.images,
            named[train.labels],
            named[analysis.predicted],
            analysis.confidence,
            analysis.wrong,
            plots / "misclassified.png",
        ),
        confidence_histograms(analysis.confidence, analysis.correct, plots / "confidence.png"),
        # the data the search trained on, for the page's data section
        class_counts_chart(np.bincount(train.labels, minlength=len(named)).tolist(),
                           plots / "class_counts.png", train.classes),
        sample_grid(train.images, train.labels, plots / "samples.png", train.classes),
        ink_map(train.images, plots / "pixels.png"),
    ]  # fmt: skip
    if augmented is not None:
        paths.append(augmented_grid(*augmented, plots / "augmented.png"))
    write_json_atomic(
        Path(directory) / REPORT_FILE,
        {
            "trial_id": analysis.trial_id,
            "oof_accuracy": analysis.accuracy,
            "confusion_matrix": analysis.confusion.tolist(),
            "precision": analysis.precision,
            "recall": analysis.recall,
            "wrong": int(len(analysis.wrong)),
        },
    )
    return paths

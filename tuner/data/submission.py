"""The submission's shape: its header, its ids and their order, from the competition's
``sample_submission.csv`` when it has one (Kaggle scores a file whose header or ids differ as an
error), else from the test file's id column when it has one (Kannada-MNIST's ``id``), else the
Digit Recognizer's ``ImageId,Label`` with ids 1..N in the test file's order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tuner.data.files import DataFile
from tuner.errors import DataError

__all__ = ["DEFAULT_HEADER", "SubmissionLayout", "layout_of", "read_sample", "submission_text"]

DEFAULT_HEADER = ("ImageId", "Label")


@dataclass(frozen=True)
class SubmissionLayout:
    """A submission's two column names, its ids in row order, and the test file's row of each
    (counted from 0)."""

    header: tuple[str, str]
    ids: np.ndarray
    rows: np.ndarray
    source: str = ""  # the sample submission it comes from

    @classmethod
    def default(cls, rows: int) -> SubmissionLayout:
        """``ImageId,Label``: an image's id is its row in the test file, counted from 1."""
        return cls(DEFAULT_HEADER, np.arange(1, rows + 1), np.arange(rows))


def layout_of(rows: int, ids: tuple[str, np.ndarray] | None) -> SubmissionLayout | None:
    """The layout a test file of ``rows`` images gives by itself: with an id column (its name,
    its ids), that name and ``label``, the ids in the file's order; None: the default."""
    if ids is None:
        return None
    name, values = ids
    return SubmissionLayout((name, "label"), np.asarray(values), np.arange(rows))


def read_sample(sample: DataFile, test: SubmissionLayout) -> SubmissionLayout:
    """The layout of ``sample`` (two columns: an id, a label), checked against the test file's
    ids (``test``): each once, in any order.

    Raises:
        DataError: naming the sample file and what is wrong with it.
    """
    with sample.open_text() as text:
        lines = [line.rstrip("\r\n") for line in text if line.strip()]
    if not lines:
        raise DataError(f"{sample}: the file is empty (expected a header id,label)")
    header = [name.strip().strip('"') for name in lines[0].split(",")]
    if len(header) != 2:
        raise DataError(f"{sample}: line 1: expected 2 columns (an id and a label), got {header}")
    try:
        ids = np.array([int(line.split(",")[0]) for line in lines[1:]], dtype=np.int64)
    except ValueError:
        raise DataError(f"{sample}: column {header[0]}: the ids must be integers") from None
    order = np.argsort(test.ids, kind="stable")
    found = np.searchsorted(test.ids, ids, sorter=order)
    found = np.minimum(found, len(order) - 1)
    known = len(ids) == len(test.ids) and np.array_equal(test.ids[order[found]], ids)
    if not known or len(np.unique(ids)) != len(ids):
        first, last = test.ids.min(), test.ids.max()
        raise DataError(
            f"{sample}: its {len(ids)} ids are not the test file's {len(test.ids)} images "
            f"({first}..{last}), each once (is it another competition's?)"
        )
    return SubmissionLayout((header[0], header[1]), ids, test.rows[order[found]], sample.name)


def submission_text(labels: np.ndarray, layout: SubmissionLayout | None = None) -> str:
    """The submission CSV of ``labels`` (one per test image, in the test file's order), in
    ``layout``'s header and row order (default: ``ImageId,Label``, 1..N), checked against it."""
    layout = layout or SubmissionLayout.default(len(labels))
    if len(labels) != len(layout.ids):
        where = f" ({layout.source})" if layout.source else ""
        raise DataError(
            f"{len(labels)} predictions for a submission of {len(layout.ids)} rows{where}"
        )
    rows = [f"{i},{int(labels[r])}" for i, r in zip(layout.ids, layout.rows, strict=True)]
    return "\n".join([",".join(layout.header), *rows]) + "\n"

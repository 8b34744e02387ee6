"""The submission's shape: its header, its ids and their order, from the competition's
``sample_submission.csv`` when it has one (Kaggle scores a file whose header or ids differ as an
error), else the Digit Recognizer's ``ImageId,Label`` with ids 1..N in the test file's order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tuner.data.files import DataFile
from tuner.errors import DataError

__all__ = ["DEFAULT_HEADER", "SubmissionLayout", "read_sample", "submission_text"]

DEFAULT_HEADER = ("ImageId", "Label")


@dataclass(frozen=True)
class SubmissionLayout:
    """A submission's two column names and its ids in row order. An id names a test image by
    its row in the test file, counted from 1 (the competition's ``ImageId``)."""

    header: tuple[str, str]
    ids: np.ndarray
    source: str = ""  # the sample submission it comes from

    @classmethod
    def default(cls, rows: int) -> SubmissionLayout:
        return cls(DEFAULT_HEADER, np.arange(1, rows + 1))


def read_sample(sample: DataFile, test_rows: int) -> SubmissionLayout:
    """The layout of ``sample`` (two columns: an id, a label), checked against the test file:
    its ids must be the test images' 1..``test_rows``, each once, in any order.

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
    if len(ids) != test_rows or not np.array_equal(np.sort(ids), np.arange(1, test_rows + 1)):
        raise DataError(
            f"{sample}: its {len(ids)} ids are not the test file's images 1..{test_rows}, "
            "each once (is it another competition's?)"
        )
    return SubmissionLayout((header[0], header[1]), ids, sample.name)


def submission_text(labels: np.ndarray, layout: SubmissionLayout | None = None) -> str:
    """The submission CSV of ``labels`` (one per test image, in the test file's order), in
    ``layout``'s header and row order (default: ``ImageId,Label``, 1..N), checked against it."""
    layout = layout or SubmissionLayout.default(len(labels))
    if len(labels) != len(layout.ids):
        where = f" ({layout.source})" if layout.source else ""
        raise DataError(
            f"{len(labels)} predictions for a submission of {len(layout.ids)} rows{where}"
        )
    rows = [f"{i},{int(labels[i - 1])}" for i in layout.ids]
    return "\n".join([",".join(layout.header), *rows]) + "\n"

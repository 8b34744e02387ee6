"""Loading and validating the competition CSVs and the embedded default."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from tests.conftest import write_csv
from tuner.data.kaggle import DataError, find_data_files, load_csv, load_data, load_embedded

HEADER = "label," + ",".join(f"pixel{i}" for i in range(784))
TEST_HEADER = ",".join(f"pixel{i}" for i in range(784))


def row(label=3, pixels=None):
    pixels = [0] * 784 if pixels is None else pixels
    return ",".join(map(str, ([] if label is None else [label]) + list(pixels)))


def test_loads_plain_and_gzipped_csv_identically(tmp_path, embedded):
    images, labels = embedded.train.images[:20], embedded.train.labels[:20]
    plain = load_csv(write_csv(tmp_path / "train.csv", images, labels), labelled=True)
    packed = load_csv(write_csv(tmp_path / "t.csv.gz", images, labels), labelled=True)
    for data in (plain, packed):
        assert data.images.dtype == np.uint8 and data.images.shape == (20, 28, 28, 1)
        assert data.labels.dtype == np.uint8
        np.testing.assert_array_equal(data.images, images)
        np.testing.assert_array_equal(data.labels, labels)


def test_real_competition_layout_is_found(tiny_dir):
    train, test = find_data_files(tiny_dir)
    assert train.name == "train.csv.gz" and test.name == "test.csv"
    data = load_data(tiny_dir)
    assert len(data.train) == 300 and len(data.test) == 40
    assert data.test.labels is None and data.test_labels is None


def test_embedded_default_is_real_digits_split_train_test():
    data = load_embedded()
    assert data.train.images.shape == (4000, 28, 28, 1)
    assert data.test.images.shape == (1000, 28, 28, 1)
    assert data.test.labels is None and data.test_labels.shape == (1000,)
    # stratified: every class present in both parts, in equal shares
    assert np.bincount(data.train.labels).tolist() == [400] * 10
    assert np.bincount(data.test_labels).tolist() == [100] * 10
    assert data.train.images.max() == 255


BAD_TRAIN = {
    "empty file": ("", "file is empty"),
    "header only": (HEADER + "\n", "no data rows"),
    "wrong header": (
        HEADER.replace("pixel5,", "pixelX,") + "\n" + row() + "\n",
        "line 1, column 7: expected header 'pixel5', got 'pixelX'",
    ),
    "reordered header": (
        HEADER.replace("pixel1,pixel2", "pixel2,pixel1") + "\n" + row() + "\n",
        "column 3: expected header 'pixel1', got 'pixel2'",
    ),
    "783 pixel columns": (
        HEADER.rsplit(",", 1)[0] + "\n" + row(pixels=[0] * 783) + "\n",
        "expected 785 columns",
    ),
    "785 pixel columns": (
        HEADER + ",pixel784\n" + row(pixels=[0] * 785) + "\n",
        "expected 785 columns",
    ),
    "non-integer value": (
        HEADER + "\n" + row() + "\n" + row(pixels=[0] * 10 + [1.5] + [0] * 773) + "\n",
        "line 3, column pixel10: value 1.5 is not an integer",
    ),
    "text value": (
        HEADER + "\n" + row(pixels=[0] * 783 + ["x"]) + "\n",
        "line 2, column pixel783: value 'x' is not an integer",
    ),
    "pixel above 255": (
        HEADER + "\n" + row(pixels=[0] * 300 + [256] + [0] * 483) + "\n",
        "line 2, column pixel300: pixel value 256 is outside 0..255",
    ),
    "negative pixel": (
        HEADER + "\n" + row() + "\n" + row(pixels=[-1] + [0] * 783) + "\n",
        "line 3, column pixel0: pixel value -1 is outside 0..255",
    ),
    "missing value": (
        HEADER + "\n" + row(pixels=[0] * 5 + [""] + [0] * 778) + "\n",
        "line 2, column pixel5: missing value",
    ),
    "label outside 0-9": (
        HEADER + "\n" + row(label=10) + "\n",
        "line 2, column label: label value 10 is outside 0..9",
    ),
    "too many fields in a row": (HEADER + "\n" + row() + "\n" + row() + ",0\n", "malformed CSV"),
    # a value past int64 was read as another, overflowed value and named so
    "huge value": (
        HEADER + "\n" + row() + "\n" + row(pixels=[0] * 7 + ["99999999999999999999"] + [0] * 776),
        "line 3, column pixel7: value 99999999999999999999 is out of range",
    ),
    "huge unsigned label": (
        HEADER + "\n" + row() + "\n" + row(label="18446744073709551615") + "\n",
        "line 3, column label: value 18446744073709551615 is out of range",
    ),
    "boolean value": (  # pandas reads True as 1
        HEADER + "\n" + row(pixels=[True] + [0] * 783) + "\n" + row(pixels=[False] + [0] * 783),
        "line 2, column pixel0: value ",
    ),
    "one class only": (
        HEADER + "\n" + row(label=3) + "\n" + row(label=3) + "\n",
        "every row has label 3; a training file needs at least two classes",
    ),
    "test file given as train": (
        TEST_HEADER + "\n" + row(label=None) + "\n",
        "expected 'label', got 'pixel0'",
    ),
}


@pytest.mark.parametrize("case", list(BAD_TRAIN))
def test_bad_training_file_names_file_line_and_column(tmp_path, case):
    text, expected = BAD_TRAIN[case]
    path = tmp_path / "train.csv"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        load_csv(path, labelled=True)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expected in message, message
    assert "\n" not in message


def test_a_byte_order_mark_and_trailing_blank_lines_are_fine(tmp_path):
    path = tmp_path / "train.csv"
    text = HEADER + "\n" + row(label=3) + "\n" + row(label=4, pixels=[7] * 784) + "\n\n\n"
    path.write_text("\ufeff" + text, encoding="utf-8")
    data = load_csv(path, labelled=True)
    assert data.labels.tolist() == [3, 4] and int(data.images[1].max()) == 7
    blank_inside = tmp_path / "inside.csv"
    blank_inside.write_text(HEADER + "\n" + row() + "\n\n" + row(label=4) + "\n")
    with pytest.raises(DataError, match="line 3, column label: missing value"):
        load_csv(blank_inside, labelled=True)


def test_a_search_needs_no_test_file(tmp_path, embedded):
    write_csv(tmp_path / "train.csv", embedded.train.images[:20], embedded.train.labels[:20])
    data = load_data(tmp_path, test=False)
    assert len(data.train) == 20 and len(data.test) == 0
    with pytest.raises(DataError, match="no test.csv or test.csv.gz"):
        load_data(tmp_path)


def test_test_file_with_label_column_is_refused(tmp_path):
    path = tmp_path / "test.csv"
    path.write_text(HEADER + "\n" + row() + "\n")
    with pytest.raises(DataError, match="test file must not have a 'label' column"):
        load_csv(path, labelled=False)


def test_corrupt_gzip_is_refused(tmp_path):
    path = tmp_path / "train.csv.gz"
    payload = gzip.compress((HEADER + "\n" + row() + "\n").encode())
    path.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(DataError, match="train.csv.gz"):
        load_csv(path, labelled=True)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="cannot read the file"):
        load_csv(path, labelled=True)


def test_missing_file_directory_and_data_dir(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_csv(tmp_path / "nope.csv", labelled=True)
    (tmp_path / "train.csv").mkdir()
    with pytest.raises(DataError, match="is a directory"):
        load_csv(tmp_path / "train.csv", labelled=True)
    with pytest.raises(DataError, match="no such directory"):
        load_data(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no train.csv or train.csv.gz"):
        load_data(empty)

"""Loading and validating the competition CSVs and the embedded default."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from tests.helpers import BAD_TRAIN, HEADER, row, write_csv
from tuner.data.files import find_data_files
from tuner.data.kaggle import DataError, load_csv, load_data, load_embedded


def test_loads_plain_and_gzipped_csv_identically(tmp_path, embedded):
    images, labels = embedded.train.images[:20], embedded.train.labels[:20]
    plain = load_csv(write_csv(tmp_path / "train.csv", images, labels), labelled=True)
    packed = load_csv(write_csv(tmp_path / "t.csv.gz", images, labels), labelled=True)
    for data in (plain, packed):
        assert data.images.dtype == np.uint8 and data.images.shape == (20, 28, 28, 1)
        assert data.labels.dtype == np.uint8
        np.testing.assert_array_equal(data.images, images)
        # the labels are indices into the classes, the training file's label values
        np.testing.assert_array_equal(np.asarray(data.classes)[data.labels], labels)


def test_real_competition_layout_is_found(tiny_dir):
    files = find_data_files(tiny_dir)
    assert files.train.path.name == "train.csv.gz" and files.test.path.name == "test.csv"
    assert files.sample is None
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
    assert data.classes == (3, 4) and data.labels.tolist() == [0, 1]
    assert int(data.images[1].max()) == 7
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
    with pytest.raises(DataError, match="no such file or directory"):
        load_data(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no train.csv or train.csv.gz"):
        load_data(empty)

"""Kaggle's files as handed over: the downloaded zip read in place, the sample submission's
header and row order, and a Kaggle notebook's /kaggle/input found without --data."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from tests.helpers import rewrite_header, write_csv
from tuner.data import files as data_files
from tuner.data.files import find_data_files, kaggle_input
from tuner.data.kaggle import DataError, load_data
from tuner.data.submission import submission_text

# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager


def competition(folder, embedded, sample_ids=None):
    """A competition folder: 60 labelled digits, 8 test digits, and a sample submission with
    ``sample_ids`` (None: no sample)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "train.csv", embedded.train.images[:60], embedded.train.labels[:60])
    write_csv(folder / "test.csv", embedded.test.images[:8], None)
    if sample_ids is not None:
        rows = "".join(f"{i},0\n" for i in sample_ids)
        (folder / "sample_submission.csv").write_text("ImageId,Label\n" + rows)
    return folder


def zipped(folder, path, prefix=""):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for f in sorted(folder.iterdir()):
            archive.write(f, prefix + f.name)
    return path


@pytest.mark.parametrize("prefix", ["", "digit-recognizer/"])
def test_the_downloaded_zip_loads_in_place_as_its_folder_does(tmp_path, embedded, prefix):
    folder = competition(tmp_path / "c", embedded, sample_ids=range(1, 9))
    archive = zipped(folder, tmp_path / "digit-recognizer.zip", prefix)
    from_zip, from_folder = load_data(archive), load_data(folder)
    np.testing.assert_array_equal(from_zip.train.images, from_folder.train.images)
    np.testing.assert_array_equal(from_zip.train.labels, from_folder.train.labels)
    np.testing.assert_array_equal(from_zip.test.images, from_folder.test.images)
    assert from_zip.train.source == f"{archive}/{prefix}train.csv"
    assert from_zip.submission.source == f"{archive}/{prefix}sample_submission.csv"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "c",
        "digit-recognizer.zip",
    ]  # nothing extracted


def test_a_bad_zip_member_is_named_with_its_line_and_column(tmp_path, embedded):
    folder = competition(tmp_path / "c", embedded)
    text = (folder / "train.csv").read_text().splitlines()
    text[3] = "-2" + text[3][1:]  # the label of data row 3
    (folder / "train.csv").write_text("\n".join(text) + "\n")
    archive = zipped(folder, tmp_path / "x.zip")
    with pytest.raises(DataError, match=r"x\.zip/train\.csv: line 4, column label: label value -2"):
        load_data(archive)


def test_not_a_zip_nor_a_folder_is_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="not a directory or a zip"):
        find_data_files(tmp_path / "notes.txt")


def test_the_sample_submission_sets_the_header_and_the_row_order(tmp_path, embedded):
    folder = competition(tmp_path / "c", embedded, sample_ids=[3, 1, 2, 8, 7, 6, 5, 4])
    data = load_data(folder)
    predicted = np.array([10, 11, 12, 13, 14, 15, 16, 17])  # test row i -> 9 + i
    lines = submission_text(predicted, data.submission).splitlines()
    assert lines[0] == "ImageId,Label"
    assert lines[1:4] == ["3,12", "1,10", "2,11"]  # the sample's order, each id its own row
    assert len(lines) == 9


def test_a_sample_of_other_ids_is_refused_naming_it(tmp_path, embedded):
    folder = competition(tmp_path / "c", embedded, sample_ids=range(1, 12))
    with pytest.raises(DataError, match="sample_submission.csv: its 11 ids are not the test"):
        load_data(folder)


def test_in_a_kaggle_notebook_the_one_input_folder_is_the_data(tmp_path, embedded, monkeypatch):
    root = tmp_path / "kaggle" / "input"
    assert kaggle_input(root) is None  # not a notebook
    (root / "some-dataset").mkdir(parents=True)  # another input, without the files
    folder = competition(root / "digit-recognizer", embedded, sample_ids=range(1, 9))
    assert kaggle_input(root) == folder
    monkeypatch.setattr(data_files, "KAGGLE_INPUT", root)
    data = load_data()  # no --data: the notebook's input
    assert data.source == str(folder) and len(data.train) == 60
    competition(root / "other-competition", embedded)
    with pytest.raises(DataError, match="2 competitions' data .*; pass --data with one"):
        load_data()


def test_run_on_the_downloaded_zip_writes_the_samples_header_and_order(tmp_path, embedded):
    """`digit-tuner run --data digit-recognizer.zip`: the search reads the zip in place and the
    submission follows its sample (rows in the sample's order, each id's own prediction); a
    resume finds the data again from search.json."""
    import json

    import pandas as pd

    from tests.helpers import invoke, run_tiny

    folder = competition(tmp_path / "c", embedded, sample_ids=[8, 1, 2, 3, 4, 5, 6, 7])
    archive = zipped(folder, tmp_path / "digit-recognizer.zip")
    done, _ = run_tiny(archive, tmp_path, "z", "--holdout", "0")
    results = tmp_path / "results"
    assert done.exit_code == 0, done.output
    submission = pd.read_csv(results / "z" / "submission.csv")
    assert list(submission.columns) == ["ImageId", "Label"]
    assert submission["ImageId"].tolist() == [8, 1, 2, 3, 4, 5, 6, 7]
    manifest = json.loads((results / "z" / "search.json").read_text())
    assert manifest["export"]["submission_layout"] == f"{archive}/sample_submission.csv"
    resumed = invoke("resume", "z", "--results-dir", results, "--trials", "1")
    assert resumed.exit_code == 0, resumed.output


def test_a_test_file_with_an_id_column_names_the_submission_by_it(tmp_path, embedded):
    """Kannada-MNIST's format: test.csv starts with an ``id`` column (from 0) and the sample
    submission is ``id,label``: the submission takes those ids, in the sample's order; without a
    sample, the test file's id column and order."""
    folder = competition(tmp_path / "kannada", embedded)
    pixels = embedded.test.images[:8].reshape(8, -1)
    rows = [",".join(map(str, [i, *p])) for i, p in zip(range(8), pixels, strict=True)]
    header = ["id", *(f"pixel{i}" for i in range(784))]
    (folder / "test.csv").write_text(",".join(header) + "\n" + "\n".join(rows) + "\n")
    alone = load_data(folder)
    assert alone.test.ids[0] == "id" and list(alone.test.ids[1]) == list(range(8))
    assert (alone.test.images == embedded.test.images[:8]).all()
    labels = np.arange(8) % 10
    assert submission_text(labels, alone.submission).splitlines()[:3] == ["id,label", "0,0", "1,1"]
    order = [3, 0, 7, 1, 2, 6, 5, 4]
    (folder / "sample_submission.csv").write_text("id,label\n" + "".join(f"{i},0\n" for i in order))
    data = load_data(folder)
    lines = submission_text(labels, data.submission).splitlines()
    assert lines[0] == "id,label" and lines[1:] == [f"{i},{labels[i]}" for i in order]
    (folder / "sample_submission.csv").write_text(
        "id,label\n" + "".join(f"{i},0\n" for i in range(1, 9))
    )
    with pytest.raises(DataError, match=r"its 8 ids are not the test file's 8 images \(0..7\)"):
        load_data(folder)


def test_pixels_counted_from_1_load_as_from_0_and_a_repeated_id_is_named(tmp_path, embedded):
    """Sign Language MNIST and Fashion-MNIST's CSVs name their pixels pixel1..pixel784."""
    folder = competition(tmp_path / "from-1", embedded)
    rewrite_header(folder / "train.csv", ["label", *(f"pixel{i}" for i in range(1, 785))])
    rewrite_header(folder / "test.csv", [f"pixel{i}" for i in range(1, 785)])
    data = load_data(folder)
    assert (data.train.images == embedded.train.images[:60]).all() and data.test.ids is None
    rewrite_header(folder / "test.csv", ["pixel1", *(f"pixel{i}" for i in range(2, 784)), "x"])
    with pytest.raises(DataError, match="column 784: expected header 'pixel784', got 'x'"):
        load_data(folder)
    pixels = embedded.test.images[:3].reshape(3, -1)
    rows = [",".join(map(str, [i, *p])) for i, p in zip((5, 6, 5), pixels, strict=True)]
    header = ["ImageId", *(f"pixel{i}" for i in range(784))]
    (folder / "test.csv").write_text(",".join(header) + "\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match="test.csv: line 4, column ImageId: id 5 repeats"):
        load_data(folder)

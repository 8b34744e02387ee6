"""Kaggle's files as handed over: the downloaded zip read in place, the sample submission's
header and row order, and a Kaggle notebook's /kaggle/input found without --data."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from tests.helpers import write_csv
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
    text[3] = "12" + text[3][1:]  # the label of data row 3
    (folder / "train.csv").write_text("\n".join(text) + "\n")
    archive = zipped(folder, tmp_path / "x.zip")
    with pytest.raises(DataError, match=r"x\.zip/train\.csv: line 4, column label: label value 12"):
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

    from tests.helpers import invoke, tiny_space

    folder = competition(tmp_path / "c", embedded, sample_ids=[8, 1, 2, 3, 4, 5, 6, 7])
    archive = zipped(folder, tmp_path / "digit-recognizer.zip")
    space = tmp_path / "tiny.toml"
    space.write_text(tiny_space(max_trials=1))
    results = tmp_path / "results"
    done = invoke("run", "--data", archive, "--space", space, "--results-dir", results,
                  "--name", "z", "--in-process", "--holdout", "0")  # fmt: skip
    assert done.exit_code == 0, done.output
    submission = pd.read_csv(results / "z" / "submission.csv")
    assert list(submission.columns) == ["ImageId", "Label"]
    assert submission["ImageId"].tolist() == [8, 1, 2, 3, 4, 5, 6, 7]
    manifest = json.loads((results / "z" / "search.json").read_text())
    assert manifest["export"]["submission_layout"] == f"{archive}/sample_submission.csv"
    resumed = invoke("resume", "z", "--results-dir", results, "--trials", "1")
    assert resumed.exit_code == 0, resumed.output

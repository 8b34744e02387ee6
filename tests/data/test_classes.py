"""The 28x28 family: the classes are the training file's distinct labels (2 to 100, in any range),
the model has one output per class, and every submission, table and picture names them by their
label values."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from tests.helpers import invoke, rewrite_header, run_tiny, tiny_space, write_csv
from tuner.data.kaggle import DataError, Dataset, load_csv, load_data
from tuner.errors import SearchError, SpaceError

# tracing a tiny model's graphs costs more than training it (tests/test_shipped.py runs graphs)
pytestmark = pytest.mark.eager

# Sign Language MNIST's labels: 24 letters as 0-24, without 9 (J moves)
SIGNS = (*range(9), *range(10, 25))


def signs(embedded, per_class: int = 12):
    """(images, label values): 24 classes made from MNIST digits, labelled as Sign Language
    MNIST's are: digits 0-8 as themselves, mirrored digits 0-9 as 10-19, transposed digits 0-4
    as 20-24."""
    images, labels = embedded.train.images, embedded.train.labels
    out_images, out_labels = [], []
    for label in SIGNS:
        digit = label if label < 10 else (label - 10 if label < 20 else label - 20)
        picks = images[np.flatnonzero(labels == digit)[:per_class]]
        if 10 <= label < 20:
            picks = picks[:, :, ::-1]
        elif label >= 20:
            picks = picks.transpose(0, 2, 1, 3)
        out_images.append(picks)
        out_labels += [label] * len(picks)
    return np.concatenate(out_images), np.array(out_labels)


def write_signs(folder, embedded, tests: int = 10):
    """A Sign-Language-style competition: pixels named pixel1..pixel784, a test file whose first
    column is an ``id``, and a sample submission ``id,label`` in another order."""
    folder.mkdir(parents=True)
    images, labels = signs(embedded)
    write_csv(folder / "train.csv", images, labels)
    rewrite_header(folder / "train.csv", ["label", *(f"pixel{i}" for i in range(1, 785))])
    pixels = embedded.test.images[:tests].reshape(tests, -1)
    header = ["id", *(f"pixel{i}" for i in range(1, 785))]
    rows = [",".join(map(str, [100 + i, *p])) for i, p in enumerate(pixels)]
    (folder / "test.csv").write_text(",".join(header) + "\n" + "\n".join(rows) + "\n")
    order = [100 + i for i in reversed(range(tests))]
    (folder / "sample_submission.csv").write_text("id,label\n" + "".join(f"{i},0\n" for i in order))
    return order


def test_the_classes_are_the_labels_values_and_the_labels_their_indices(tmp_path, embedded):
    images, labels = signs(embedded)
    train = load_csv(write_csv(tmp_path / "train.csv", images, labels), labelled=True)
    assert train.classes == SIGNS
    assert (np.asarray(train.classes)[train.labels] == labels).all()
    assert train.labels.max() == 23
    # the same pixels with the labels shifted are other data to a resumed search
    shifted = load_csv(write_csv(tmp_path / "shifted.csv", images, labels + 1), labelled=True)
    assert (shifted.labels == train.labels).all() and shifted.fingerprint() != train.fingerprint()
    # digits keep the fingerprint every earlier search recorded (the labels are their values)
    x, y = embedded.train.images[:100], embedded.train.labels[:100]
    digits = load_csv(write_csv(tmp_path / "d.csv", x, y), labelled=True)
    assert digits.classes == tuple(range(10)) and (digits.labels == y).all()
    assert digits.fingerprint() == Dataset(x, y, "digits").fingerprint()


def test_more_than_100_classes_is_one_line(tmp_path, embedded):
    images = np.repeat(embedded.train.images[:1], 101, axis=0)
    path = write_csv(tmp_path / "train.csv", images, np.arange(101) * 3)
    with pytest.raises(DataError, match=r"train\.csv: column label: 101 distinct values; at "
                       r"most 100 classes are taken, .* \(is it an id column\?\)"):  # fmt: skip
        load_csv(path, labelled=True)


def test_a_label_with_fewer_images_than_folds_is_refused_naming_it(tmp_path, embedded):
    """A stray ``10`` among digits is a class of one image: refused in one line, nothing
    written."""
    data = tmp_path / "data"
    data.mkdir()
    labels = embedded.train.labels[:80].copy()
    labels[17] = 10
    write_csv(data / "train.csv", embedded.train.images[:80], labels)
    write_csv(data / "test.csv", embedded.test.images[:4], None)
    space = tmp_path / "tiny.toml"
    space.write_text(tiny_space(max_trials=1))
    results = tmp_path / "results"
    result = invoke("run", "--data", data, "--space", space, "--results-dir", results)
    assert result.exit_code == 2, result.output
    assert result.output.strip().count("\n") == 0, result.output
    assert "train.csv: label 10 has 1 image; every class needs at least 2 (one in each of the " \
        "2 folds): fix or drop its rows" in result.output  # fmt: skip
    assert not results.exists()


def ten_scores(hp):
    import keras

    return keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(10)])


def test_a_hypermodel_must_return_one_score_per_class(tmp_path, embedded):
    from tuner.models.hypermodels import build_wrapped, load_hypermodel
    from tuner.search.plan import plan_search
    from tuner.settings import SearchConfig

    assert build_wrapped(ten_scores, {}, classes=10).output_shape == (None, 10)
    with pytest.raises(SpaceError, match=r"must return 3 class scores .* got output shape \(10,\)"):
        build_wrapped(ten_scores, {}, classes=3)
    # checked against the data before a search starts, in one line
    keep = np.isin(embedded.train.labels, (1, 4, 7))
    x, y = embedded.train.images[keep][:60], embedded.train.labels[keep][:60]
    train = load_csv(write_csv(tmp_path / "train.csv", x, y), labelled=True)
    config = SearchConfig(name="h", results_dir=tmp_path, isolate=False)
    with pytest.raises(SearchError, match=r"hypermodel ten_scores: its model returns 10 class "
                       r"scores; .*train.csv has 3 classes \(labels 1..7\)$"):  # fmt: skip
        plan_search(train, load_hypermodel(ten_scores), config)


def test_a_24_class_competition_runs_end_to_end_in_its_own_format(tmp_path, embedded):
    """Sign-Language-style data (labels 0-24 without 9, pixel1..pixel784) with a Kannada-style
    test file (an ``id`` column) and its sample submission: the search, the export, `predict`
    and the report all follow the 24 classes and write the labels' own values."""
    folder = tmp_path / "signs"
    order = write_signs(folder, embedded)
    done, search = run_tiny(folder, tmp_path, "s", "--holdout", "0")
    results = search.parent
    assert done.exit_code == 0, done.output
    submission = pd.read_csv(search / "submission.csv")
    assert list(submission.columns) == ["id", "label"] and submission["id"].tolist() == order
    assert set(submission["label"]) <= set(SIGNS)
    manifest = json.loads((search / "search.json").read_text())
    assert manifest["data"]["classes"] == list(SIGNS)

    predicted = tmp_path / "predicted.csv"
    again = invoke("predict", search / "best.keras", "--data", folder / "test.csv",
                   "--out", predicted)  # fmt: skip
    assert again.exit_code == 0, again.output
    by_id = dict(zip(submission["id"], submission["label"], strict=True))
    alone = pd.read_csv(predicted)
    assert list(alone.columns) == ["id", "label"]
    assert [by_id[i] for i in alone["id"]] == alone["label"].tolist()  # the same labels
    away = tmp_path / "away"  # the model alone: its 24 outputs' labels are in search.json only
    away.mkdir()
    shutil.copy(search / "best.keras", away / "best.keras")
    refused = invoke("predict", away / "best.keras", "--data", folder / "test.csv",
                     "--out", tmp_path / "guessed.csv")  # fmt: skip
    assert refused.exit_code == 2 and "24 outputs and no search.json beside it" in refused.output
    assert not (tmp_path / "guessed.csv").exists()
    shutil.copy(search / "search.json", away / "search.json")
    beside = invoke("predict", away / "best.keras", "--data", folder / "test.csv",
                    "--out", tmp_path / "beside.csv")  # fmt: skip
    assert beside.exit_code == 0 and (tmp_path / "beside.csv").read_text() == predicted.read_text()

    report = invoke("report", "s", "--results-dir", results)
    assert report.exit_code == 0, report.output
    analysis = json.loads((search / "report.json").read_text())
    assert np.array(analysis["confusion_matrix"]).shape == (24, 24)
    assert (search / "plots" / "confusion_matrix.png").is_file()


def test_three_classes_with_a_holdout_export_a_three_output_model(tmp_path, embedded):
    import keras

    folder = tmp_path / "three"
    folder.mkdir()
    keep = np.isin(embedded.train.labels, (1, 4, 7))
    images, labels = embedded.train.images[keep][:150], embedded.train.labels[keep][:150]
    write_csv(folder / "train.csv", images, labels * 10)  # labels 10, 40, 70
    write_csv(folder / "test.csv", embedded.test.images[:12], None)
    done, search = run_tiny(folder, tmp_path, "t", "--holdout", "0.2")
    assert done.exit_code == 0, done.output
    model = keras.models.load_model(search / "best.keras", compile=False)
    assert model.output_shape == (None, 3)
    submission = pd.read_csv(search / "submission.csv")
    assert list(submission.columns) == ["ImageId", "Label"] and len(submission) == 12
    assert set(submission["Label"]) <= {10, 40, 70}
    assert load_data(folder).classes == (10, 40, 70)

"""Trial summaries, importance, EDA, error analysis and TensorBoard logs, on tiny data and
hand-made search records (no training where none is needed)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.helpers import invoke
from tuner.analysis.stats import confusion_matrix, eda, error_analysis, importance
from tuner.storage.records import FoldResult, write_cv

# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager

runner = CliRunner()


VARYING = ["conv_blocks", "learning_rate", "dense_units"]


def make_search(root: Path, tiny_dir: Path) -> Path:
    """A search directory written by hand: 5 trials (4 complete, 1 failed), OOF predictions."""
    from tuner.data.kaggle import load_data
    from tuner.space.spaces import V5
    from tuner.storage.atomic import write_json_atomic

    data = load_data(tiny_dir, test=False)
    labels = data.train.labels
    directory = root / "fake"
    rng = np.random.default_rng(0)
    lrs = [1e-3, 2e-3, 4e-3, 8e-3, 1e-2]
    for i, lr in enumerate(lrs):
        trial_dir = directory / "tuner" / f"trial_{i}"
        trial_dir.mkdir(parents=True)
        values = {
            **V5,
            "conv_blocks": 1 + i % 2,
            "learning_rate": lr,
            "dense_units": [16, 32][i % 2],
            "epochs": 2,
        }
        failed = i == 4
        (trial_dir / "trial.json").write_text(
            json.dumps(
                {
                    "trial_id": str(i),
                    "hyperparameters": {"space": [], "values": values},
                    "status": "FAILED" if failed else "COMPLETED",
                    "score": None,
                    "message": "Traceback ...\nRuntimeError: out of memory" if failed else None,
                }
            )
        )
        if failed:
            continue
        accuracy = 0.99 - 3 * lr  # a planted effect: lower learning rates score better
        folds = [
            FoldResult(
                fold=k,
                val_accuracy=accuracy + (0.002 if k else -0.002),
                val_loss=0.1,
                epochs=2,
                train_seconds=1.0,
                train_size=150,
                val_size=150,
                history={
                    "accuracy": [0.8, 0.9],
                    "loss": [0.5, 0.3],
                    "val_accuracy": [0.85, accuracy],
                    "val_loss": [0.4, 0.2],
                },
            )
            for k in range(2)
        ]
        write_cv(trial_dir, folds=folds, params=1000 + i, seconds=2.0)
        probabilities = rng.dirichlet(np.ones(10) * 0.3, size=len(labels)).astype(np.float32)
        right = rng.random(len(labels)) < accuracy
        probabilities[right, labels[right]] += 2.0  # make the true class win on most images
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        np.save(trial_dir / "oof.npy", probabilities.astype(np.float16), allow_pickle=False)
    write_json_atomic(
        directory / "search.json",
        {
            "name": "fake",
            "config": {"seed": 0, "folds": 2, "max_trials": 5, "max_consecutive_failures": 3},
            "data": {
                "source": str(tiny_dir / "train.csv.gz"),
                "train_size": len(labels),
                "fingerprint": data.train.fingerprint(),
            },
            "space": {"name": "fake", "path": "fake.toml", "text": "", "varying": VARYING},
        },
    )
    return directory


@pytest.fixture
def fake_search(tmp_path, tiny_dir, monkeypatch):
    """A hand-made search; output rendered as on an 80-column terminal."""
    import tuner.cli.core as cli

    monkeypatch.setattr(cli.console, "width", 80)
    return make_search(tmp_path, tiny_dir)


def test_confusion_matrix_and_per_class_scores_equal_scikit_learns():
    from sklearn import metrics

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 500)
    probabilities = rng.random((500, 10))
    probabilities[np.arange(500), labels] += rng.random(500) * 1.5
    predicted = probabilities.argmax(axis=1)
    np.testing.assert_array_equal(
        confusion_matrix(labels, predicted),
        metrics.confusion_matrix(labels, predicted, labels=range(10)),
    )
    analysis = error_analysis("0", probabilities, labels)
    np.testing.assert_allclose(
        analysis.precision,
        metrics.precision_score(labels, predicted, average=None, labels=range(10), zero_division=0),
    )
    np.testing.assert_allclose(
        analysis.recall,
        metrics.recall_score(labels, predicted, average=None, labels=range(10), zero_division=0),
    )
    assert analysis.accuracy == pytest.approx(metrics.accuracy_score(labels, predicted))
    wrong_conf = analysis.confidence[analysis.wrong]
    assert np.all(np.diff(wrong_conf) <= 0)  # most confident mistakes first
    true, pred, count = analysis.top_confusions(1)[0]
    assert count == confusion_matrix(labels, predicted)[true, pred] and true != pred


def test_importance_finds_the_planted_effect(fake_search):
    from tuner.storage.records import load_records

    items = importance(load_records(fake_search / "tuner"), VARYING)
    assert items[0].name == "learning_rate"
    assert items[0].correlation == pytest.approx(-1.0)  # lower is better, monotonically
    assert sum(i.importance for i in items) == pytest.approx(1.0)
    assert items[0].best_value == 1e-3


def test_importance_of_a_hypermodels_text_choices_and_conditional_names():
    """A user's build(hp) may draw strings (hp.Choice("activation", ...)) and declare a name
    only in some trials (under a condition)."""
    from tuner.storage.records import FoldResult, TrialRecord, TrialState

    def record(i, activation, accuracy, units=None):
        values = {"activation": activation, **({"units": units} if units else {})}
        folds = (FoldResult(0, accuracy, 0.1, 1, 1.0, 10, 10),)
        return TrialRecord(str(i), TrialState.COMPLETE, values, folds)

    records = [record(0, "relu", 0.97, 64), record(1, "gelu", 0.91), record(2, "relu", 0.96, 32),
               record(3, "gelu", 0.90, 64), record(4, "relu", 0.98)]  # fmt: skip
    items = {i.name: i for i in importance(records, ["activation", "units"])}
    assert items["activation"].importance > items["units"].importance
    assert items["activation"].best_value == "relu"


def test_eda_counts_and_always_zero_pixels(embedded):
    from tuner.data.kaggle import Dataset, DigitData

    images = np.zeros((20, 28, 28, 1), np.uint8)
    images[:, 5:20, 5:20, 0] = 100
    images[0, 0, 0, 0] = 7  # one corner pixel used once in training
    test = np.zeros((4, 28, 28, 1), np.uint8)
    test[:, 5:20, 5:20, 0] = 50
    labels = np.array([0] * 11 + [1] * 9, np.uint8)
    summary = eda(DigitData(Dataset(images, labels, "t"), Dataset(test, None, "u"), "t"))
    assert summary.class_counts == [11, 9] + [0] * 8
    assert summary.always_zero_train == 784 - 225 - 1
    assert summary.always_zero_test == 784 - 225
    assert summary.always_zero_both == 784 - 225 - 1
    assert summary.ink_fraction == pytest.approx((225 * 20 + 1) / (784 * 20))
    real = eda(embedded)
    assert sum(real.class_counts) == 4000 and real.balance == 1.0


def test_trials_command_formats_and_filters(fake_search):
    results = fake_search.parent
    table = invoke("trials", "--results-dir", results)
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0].startswith("fake: 5 trials")
    first_row = next(line for line in lines if line.strip().startswith("0*"))
    assert "98.70±0.20" in first_row
    assert "failed" in table.output

    rows = list(
        csv.DictReader(
            io.StringIO(invoke("trials", "--results-dir", results, "--format", "csv").output)
        )
    )
    assert [r["trial_id"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert rows[-1]["state"] == "FAILED" and rows[-1]["reason"] == "RuntimeError: out of memory"
    assert float(rows[0]["learning_rate"]) == 1e-3

    top = json.loads(
        invoke("trials", "--results-dir", results, "--format", "json", "--top", "2").output
    )
    assert [r["trial_id"] for r in top] == ["0", "1"]
    failed = json.loads(
        invoke("trials", "--results-dir", results, "--format", "json", "--status", "failed").output
    )
    assert [r["trial_id"] for r in failed] == ["4"]


def test_trial_command_shows_everything(fake_search):
    result = invoke("trial", "1", "--results-dir", fake_search.parent)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "trial 1: done, CV accuracy 98.40±0.20 %" in result.output
    assert "learning_rate *" in result.output and "0.002" in result.output
    assert "Total params" not in result.output  # the model is built only when asked
    summary = invoke("trial", "1", "--results-dir", fake_search.parent, "--summary")
    assert summary.exit_code == 0 and "Total params" in summary.output
    assert (fake_search / "plots" / "trial_1_curves.png").stat().st_size > 10_000
    failed = invoke("trial", "4", "--results-dir", fake_search.parent)
    assert "failed" in failed.output and "RuntimeError: out of memory" in failed.output
    missing = invoke("trial", "9", "--results-dir", fake_search.parent)
    assert missing.exit_code == 2 and "no trial '9'" in missing.output


def test_importance_command_prints_and_plots(fake_search):
    result = invoke("importance", "--results-dir", fake_search.parent)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "fake: 4 completed trials" in result.output
    rows = [line for line in result.output.splitlines() if line.startswith(tuple(VARYING))]
    assert rows[0].startswith("learning_rate") and "lower" in rows[0]
    assert (fake_search / "plots" / "importance.png").stat().st_size > 10_000


def test_report_command_uses_out_of_fold_predictions(fake_search, tiny_dir):
    from sklearn import metrics

    from tuner.data.kaggle import load_data

    result = invoke("report", "--results-dir", fake_search.parent)
    assert result.exit_code == 0, result.output
    labels = load_data(tiny_dir, test=False).train.labels
    oof = np.load(fake_search / "tuner" / "trial_0" / "oof.npy").astype(np.float32)
    expected = metrics.confusion_matrix(labels, oof.argmax(axis=1), labels=range(10))
    saved = json.loads((fake_search / "report.json").read_text())
    assert saved["trial_id"] == "0"  # the best trial
    assert np.array_equal(np.array(saved["confusion_matrix"]), expected)
    assert f"out-of-fold accuracy {100 * np.mean(oof.argmax(1) == labels):.2f} %" in result.output
    for name in ("confusion_matrix.png", "misclassified.png", "confidence.png"):
        assert (fake_search / "plots" / name).stat().st_size > 10_000
    assert max(len(line) for line in result.output.splitlines()) <= 80


def test_eda_command(tmp_path, tiny_dir):
    result = invoke("eda", "--data", tiny_dir, "--out", tmp_path / "eda")
    assert result.exit_code == 0, result.output
    assert "training images 300, test images 40" in result.output
    assert "always-zero pixels" in result.output
    for name in ("class_counts.png", "samples.png"):
        assert (tmp_path / "eda" / name).stat().st_size > 10_000


def test_tensorboard_logs_read_back(tmp_path, tiny_train, tiny_space_path):
    from tuner.analysis.tensorboard_logs import read_hparams as plugin_data
    from tuner.analysis.tensorboard_logs import read_scalars
    from tuner.search.driver import run_search
    from tuner.search.plan import SearchConfig
    from tuner.space.spaces import load_space

    result = run_search(
        tiny_train,
        load_space(tiny_space_path),
        SearchConfig(name="tb", results_dir=tmp_path, isolate=False),
    )
    logdir = tmp_path / "tb" / "tensorboard"

    (experiment,) = plugin_data(logdir)
    declared = {h.name for h in experiment.experiment.hparam_infos}
    assert declared == {"conv_blocks", "dense_units"}
    assert {m.name.tag for m in experiment.experiment.metric_infos} == {
        "cv/val_accuracy",
        "cv/val_accuracy_std",
    }
    for record in result.records:
        trial_dir = logdir / f"trial_{record.trial_id}"
        (session,) = plugin_data(trial_dir)
        hparams = session.session_start_info.hparams
        assert hparams["conv_blocks"].number_value == record.hyperparameters["conv_blocks"]
        scalars = read_scalars(trial_dir)
        assert scalars["cv/val_accuracy"][0][1] == pytest.approx(record.mean, abs=1e-6)
        curve = read_scalars(trial_dir / "fold_0")["epoch/val_accuracy"]
        assert [step for step, _ in curve] == [1]
        assert curve[0][1] == pytest.approx(record.folds[0].history["val_accuracy"][0], abs=1e-6)


def test_importance_on_a_pruned_search_uses_every_trials_first_fold(fake_search):
    """With 1 trial completed and 3 pruned after their first fold, importance used to refuse."""
    from tuner.storage.records import load_records

    for i in (1, 2, 3):
        trial_dir = fake_search / "tuner" / f"trial_{i}"
        record = next(r for r in load_records(fake_search / "tuner") if r.trial_id == str(i))
        saved = json.loads((trial_dir / "trial.json").read_text())
        (trial_dir / "trial.json").write_text(json.dumps({**saved, "status": "STOPPED"}))
        write_cv(trial_dir, folds=list(record.folds[:1]), params=1000, seconds=1.0,
                 pruned="pruned after fold 1 of 2: mean below the median")  # fmt: skip
    states = [r.state.value for r in load_records(fake_search / "tuner")]
    assert states == ["COMPLETE", "PRUNED", "PRUNED", "PRUNED", "FAILED"]
    shown = invoke("trials", "fake", "--results-dir", fake_search.parent)
    assert shown.exit_code == 0, shown.output
    first_fold = next(r for r in load_records(fake_search / "tuner") if r.trial_id == "1").folds[0]
    assert f"pruned 1/2 {100 * first_fold.val_accuracy:.2f}" in shown.output  # where it stopped
    assert "pruned k/K: stopped in or after fold k of K" in shown.output
    result = invoke("importance", "fake", "--results-dir", fake_search.parent)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # rich wraps at 80 columns
    assert "4 trials by the accuracy of their first fold (pruned ones included)" in text
    assert result.output.index("learning_rate") < result.output.index("dense_units")
    assert (fake_search / "plots" / "importance.png").is_file()


def test_importance_ranks_a_screened_searchs_screens(tmp_path):
    """The README's first command screens first: with one completed trial, importance ranks the
    screens, all scored at the same epoch of fold 1, and says so."""
    import shutil

    from tests.helpers import FIXTURES

    shutil.copytree(FIXTURES / "legacy-search", tmp_path / "legacy")
    result = invoke("importance", "legacy", "--results-dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert "3 screens by their accuracy at epoch 1 of fold 1" in result.output
    assert (
        "conv_blocks" in result.output
        and (tmp_path / "legacy" / "plots" / "importance.png").exists()
    )


def test_importance_with_too_few_trials_says_what_it_needs_and_is_no_error(tmp_path):
    import shutil

    from tests.helpers import FIXTURES

    shutil.copytree(FIXTURES / "legacy-search", tmp_path / "legacy")
    for trial in ("trial_0", "trial_1"):  # two screens fewer
        shutil.rmtree(tmp_path / "legacy" / "tuner" / trial)
    result = invoke("importance", "legacy", "--results-dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert "importance needs 3 trials scored alike" in result.output
    assert "1 completed, 1 screened" in result.output

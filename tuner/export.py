"""Export: retrain the search's winner on all training data, save it, write the Kaggle submission.

Only a COMPLETE trial can win; a search with none refuses to export. The retrain uses the winner's
hyperparameters (epochs, batch size, augmentation included) on every training image, seeded with the
search's seed. ``search.json`` gains a ``best`` section (hyperparameters, per-fold scores) and an
``export`` section (files, retrain time, and the test accuracy where the labels are known, as for
the embedded default).
"""

from __future__ import annotations

import datetime as dt
import gc
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuner.data import DigitData
from tuner.errors import SearchError
from tuner.io import atomic_path, write_json_atomic, write_text_atomic
from tuner.progress import Reporter
from tuner.records import TrialRecord, TrialState, best_record, load_records
from tuner.search import MANIFEST, TUNER_DIR, check_same_data, package_versions, read_manifest

__all__ = ["ExportResult", "export_best", "write_submission", "MODEL_FILE", "SUBMISSION_FILE"]

MODEL_FILE = "best.keras"
SUBMISSION_FILE = "submission.csv"


@dataclass(frozen=True)
class ExportResult:
    directory: Path
    best: TrialRecord
    model_path: Path
    submission_path: Path
    rows: int
    retrain_seconds: float
    test_accuracy: float | None  # only where the test labels are known (the embedded default)


def write_submission(path: str | Path, labels: np.ndarray) -> None:
    """Writes ``ImageId,Label`` rows (ImageId from 1), atomically."""
    lines = ["ImageId,Label"] + [f"{i},{int(label)}" for i, label in enumerate(labels, start=1)]
    write_text_atomic(path, "\n".join(lines) + "\n")


def _winner(directory: Path) -> TrialRecord:
    records = load_records(directory / TUNER_DIR)
    best = best_record(records)
    if best is not None:
        return best
    failed = [r for r in records if r.state is TrialState.FAILED]
    detail = f"; last failure: {failed[-1].reason}" if failed else ""
    raise SearchError(
        f"{directory}: no completed trial to export ({len(records)} trial(s), "
        f"{len(failed)} failed{detail})"
    )


def export_best(
    directory: str | Path, data: DigitData, reporter: Reporter | None = None
) -> ExportResult:
    """Retrains the best completed trial on all of ``data.train`` and writes the submission.

    Args:
        directory: the search directory (``results/<name>``).
        data: the same training data the search used, and the test data to predict.
        reporter: receives progress events.

    Raises:
        SearchError: no completed trial, or training data other than the search's.
    """
    import keras

    from tuner.model import build_model, resolve_values
    from tuner.progress import epoch_callback

    reporter = reporter or Reporter()
    directory = Path(directory)
    manifest = read_manifest(directory)
    best = _winner(directory)
    check_same_data(directory, manifest, data.train)
    if len(data.test) == 0:
        raise SearchError(f"{data.test.source}: no test images to predict")

    seed = int(manifest["config"]["seed"])
    values = resolve_values(best.hyperparameters)
    # With early stopping, each fold found its best epoch: retrain for their median.
    epochs = best.retrain_epochs or int(values["epochs"])
    values["epochs"] = epochs
    batch_size = int(values["batch_size"])
    keras.backend.clear_session()
    gc.collect()
    keras.utils.set_random_seed(seed)
    model = build_model(values, seed=seed, train_size=len(data.train))
    reporter.retrain_begin(trial_id=best.trial_id, epochs=epochs, images=len(data.train))
    started = time.perf_counter()
    model.fit(
        data.train.images,
        data.train.labels,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=0,
        callbacks=[keras.callbacks.TerminateOnNaN(), epoch_callback(reporter, epochs)],
    )
    seconds = time.perf_counter() - started
    reporter.retrain_end(seconds=seconds)

    probabilities = model.predict(data.test.images, batch_size=1024, verbose=0)
    if not np.isfinite(probabilities).all():
        raise SearchError(
            f"{directory}: the retrained model of trial {best.trial_id} predicts NaN "
            "(training diverged); nothing written"
        )
    predicted = np.argmax(probabilities, axis=1)
    model_path = directory / MODEL_FILE
    with atomic_path(model_path) as tmp:
        model.save(tmp)
    submission_path = directory / SUBMISSION_FILE
    write_submission(submission_path, predicted)

    test_accuracy = None
    if data.test_labels is not None:
        test_accuracy = float(np.mean(predicted == data.test_labels))
    manifest["best"] = {
        "trial_id": best.trial_id,
        "hyperparameters": best.hyperparameters,
        "cv_mean": best.mean,
        "cv_std": best.std,
        "oof_accuracy": best.oof_accuracy,
        "folds": [
            {
                "fold": f.fold,
                "val_accuracy": f.val_accuracy,
                "val_loss": f.val_loss,
                "epochs": f.epochs,
                "best_epoch": f.best_epoch,
                "train_seconds": f.train_seconds,
            }
            for f in best.folds
        ],
        "params": best.params,
    }
    manifest["export"] = {
        "exported": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "model": MODEL_FILE,
        "submission": SUBMISSION_FILE,
        "test_source": data.test.source,
        "test_rows": int(len(predicted)),
        "retrain_images": len(data.train),
        "retrain_epochs": epochs,
        "retrain_seconds": seconds,
        "test_accuracy": test_accuracy,
        "backend": keras.backend.backend(),
        "versions": package_versions(),
    }
    write_json_atomic(directory / MANIFEST, manifest)
    keras.backend.clear_session()
    return ExportResult(
        directory=directory,
        best=best,
        model_path=model_path,
        submission_path=submission_path,
        rows=int(len(predicted)),
        retrain_seconds=seconds,
        test_accuracy=test_accuracy,
    )

"""Export: the search's winner as one model (or an ensemble), saved, and the Kaggle submission.

Only a COMPLETE trial can win; a search with none refuses to export. What is exported:

- ``none`` (default): the winner retrained on all training data (less a holdout, if the search kept
  one) with its hyperparameters (epochs, batch size, augmentation included), seeded with the
  search's seed;
- ``folds``: the average of the winner's K fold models, as the search trained them (no retrain);
- ``top-K``: the K best completed trials, each retrained on all training data, averaged.

Test-time augmentation (TTA) averages the predictions over the image and small shifts of it. With a
holdout, every candidate (the single model, the ensemble, each with and without TTA) is scored on
it before the submission is written. ``search.json`` gains a ``best`` section (hyperparameters,
per-fold scores) and an ``export`` section (files, recipe, holdout scores, retrain time, and the
test accuracy where the labels are known, as for the embedded default).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuner import faults, store
from tuner.data import Dataset, DigitData
from tuner.errors import SearchError, SearchFailure
from tuner.io import json_text, write_text_atomic
from tuner.manifest import SearchHandle, open_search, package_versions, space_of_manifest
from tuner.progress import Reporter, shown
from tuner.records import TrialRecord, TrialState, ranked
from tuner.space import EstimateCorrection, SearchSpace
from tuner.store import MANIFEST, MODEL_FILE, SUBMISSION_FILE, WEIGHTS_FILE

__all__ = [
    "ExportResult",
    "Estimate",
    "candidate_name",
    "check_recipe",
    "estimate",
    "export_best",
    "parse_ensemble",
    "inference_model",
    "predict_file",
    "predict_tta",
    "tta_shifts",
    "write_submission",
    "TTA_DEFAULT",
]


@dataclass(frozen=True)
class ExportResult:
    directory: Path
    best: TrialRecord
    model_path: Path
    submission_path: Path
    rows: int
    retrain_seconds: float
    test_accuracy: float | None  # only where the test labels are known (the embedded default)
    ensemble: str = "none"
    tta: int = 1  # predictions averaged per image (1: no TTA)
    holdout: dict[str, float] | None = None  # candidate -> holdout accuracy
    estimate: Estimate | None = None  # what the submission is expected to score


@dataclass(frozen=True)
class Estimate:
    """The accuracy the exported recipe is expected to score on new images, and how it was had."""

    accuracy: float
    ci95: float  # half-width of a 95 % interval (binomial sampling error of ``images``)
    images: int
    method: str  # "holdout" or "out-of-fold"
    note: str  # how to read it

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def candidate_name(ensemble: str, tta: int) -> str:
    """The holdout table's name of a recipe: ``single``, ``folds+tta5``, ``top-3``, ..."""
    name = "single" if ensemble == "none" else ensemble
    return name + (f"+tta{tta}" if tta > 1 else "")


def estimate(
    best: TrialRecord,
    scores: dict[str, float] | None,
    chosen: str,
    holdout_size: int,
    correction: EstimateCorrection | None = None,
    why_not: str | None = None,
) -> Estimate:
    """The exported recipe's expected accuracy, with a 95 % interval:

    - with a holdout, its score there (images none of its models saw), binomial error;
    - otherwise the best trial's out-of-fold accuracy plus ``correction``, the gain measured for
      this profile (fold models saw (K-1)/K of the searched images for the search's epochs; the
      exported model sees all of them for the final epochs). The interval adds the spread of the
      measured gains (as a prediction for one more seed: sd * sqrt(1 + 1/n)) to the out-of-fold
      binomial error;
    - with no correction that applies, the out-of-fold accuracy itself, a lower estimate
      (``why_not`` says why a profile's correction did not apply).
    """
    if scores and chosen in scores and holdout_size:
        accuracy = scores[chosen]
        ci95 = _binomial_ci95(accuracy, holdout_size)
        note = "the exported recipe on the search's holdout (images none of its models saw)"
        return Estimate(accuracy, ci95, holdout_size, "holdout", note)
    oof = best.oof_accuracy or 0.0
    images = sum(f.val_size for f in best.folds)
    if correction is not None and why_not is None:
        n, gain, sd = len(correction.gains), correction.mean / 100, correction.sd / 100
        accuracy = min(oof + gain, 1.0)
        ci95 = math.sqrt(_binomial_ci95(oof, images) ** 2 + (1.96 * sd) ** 2 * (1 + 1 / n))
        note = (
            f"the best trial's out-of-fold accuracy {100 * oof:.2f} % plus {100 * gain:+.2f}, the "
            f"gain this profile's export showed over it on a holdout ({n} measured seeds, sd "
            f"{100 * sd:.2f}; the space's [estimate] table)"
        )
        return Estimate(accuracy, ci95, images, "out-of-fold, corrected", note)
    note = (
        "the best trial's out-of-fold predictions: fold models trained on part of the data; "
        "the exported model, trained on all of it, is expected to score about as much or "
        "more (keep a holdout, --holdout 0.1, to measure the recipe itself)"
    )
    if why_not:
        note += f"; the profile's measured gain was not added: {why_not}"
    return Estimate(oof, _binomial_ci95(oof, images), images, "out-of-fold", note)


def correction_applies(
    space: SearchSpace, config: dict, recipe: str, retrain_images: int
) -> str | None:
    """Why the measured gain of ``space`` (its [estimate] table) does not apply to this export
    (None: it does, or there is none). It was measured for a single model retrained with the
    profile's own [search] settings, on about ``train_images`` images."""
    correction = space.estimate
    if correction is None:
        return None
    search = space.search
    for key, ours in (
        ("folds", search.folds),
        ("search_images", search.search_images),
        ("final_epochs", search.final_epochs),
    ):
        if config.get(key) != ours:
            return f"it was measured with {key} {ours}, this search used {config.get(key)}"
    if recipe != "single":
        return f"it was measured for a single model, this export is {recipe}"
    if not 0.8 * correction.train_images <= retrain_images <= 1.25 * correction.train_images:
        return (
            f"it was measured for a retrain on {correction.train_images:,} images, "
            f"this one used {retrain_images:,}"
        )
    return None


def _binomial_ci95(accuracy: float, images: int) -> float:
    return 1.96 * math.sqrt(max(accuracy * (1 - accuracy), 0.0) / max(images, 1))


def predict_file(model_path: str | Path, test_csv: str | Path, out: str | Path) -> int:
    """Writes a Kaggle submission for ``test_csv`` (pixel0..pixel783, plain or gzipped) with any
    exported model (``best.keras``); returns the number of rows.

    Raises:
        DataError: a bad test file.
        SearchError: a model file that Keras cannot load, or predictions that are not finite.
    """
    import keras

    from tuner.data import load_csv

    test = load_csv(test_csv, labelled=False)
    try:
        model = keras.models.load_model(model_path, compile=False)
    except (OSError, ValueError, TypeError) as e:
        raise SearchError(
            f"{model_path}: cannot load the model ({' '.join(str(e).split())[:200]})"
        ) from None
    probabilities = model.predict(test.images, batch_size=1024, verbose=0)
    if not np.isfinite(probabilities).all():
        raise SearchError(f"{model_path}: the model predicts non-finite probabilities")
    write_submission(out, np.argmax(probabilities, axis=1))
    return len(test)


def write_submission(path: str | Path, labels: np.ndarray) -> None:
    """Writes ``ImageId,Label`` rows (ImageId from 1), atomically."""
    lines = ["ImageId,Label"] + [f"{i},{int(label)}" for i, label in enumerate(labels, start=1)]
    write_text_atomic(path, "\n".join(lines) + "\n")


def _winner(search: SearchHandle) -> TrialRecord:
    if search.best is not None:
        return search.best
    failed = [r for r in search.records if r.state is TrialState.FAILED]
    detail = f"; last failure: {failed[-1].reason}" if failed else ""
    raise SearchError(
        f"{search.directory}: no completed trial to export ({len(search.records)} trial(s), "
        f"{len(failed)} failed{detail})"
    )


TTA_DEFAULT = 5  # what "auto" tries on the holdout: the image and its 1-pixel shifts


def parse_ensemble(text: str) -> tuple[str, int]:
    """``none``, ``folds`` or ``top-K`` -> (kind, K)."""
    if text in ("none", "folds"):
        return text, 0
    if text.startswith("top-") and text[4:].isdigit() and int(text[4:]) >= 2:
        return "top", int(text[4:])
    raise SearchError(f"ensemble must be none, folds or top-K with K >= 2, got {text!r}")


def check_recipe(ensemble: str, tta: int | None) -> None:
    """Raises unless ``ensemble`` and ``tta`` name a recipe export can build (checked before a
    search starts, so that a typo costs no training)."""
    parse_ensemble(ensemble)
    if tta is not None:
        tta_shifts(tta)


def tta_shifts(n: int) -> list[tuple[int, int]]:
    """The (dy, dx) pixel shifts of N-fold TTA: 1 (none), 5 (the 4 neighbours) or 9 (all 8)."""
    if n not in (1, 5, 9):
        raise SearchError(f"tta must be 1, 5 or 9 (the image and its 1-pixel shifts), got {n}")
    shifts = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)]
    return shifts[:n]


def _shift(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Images moved by (dy, dx) pixels, the uncovered border filled with 0 (background)."""
    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def predict_tta(models: list, images: np.ndarray, tta: int = 1) -> np.ndarray:
    """Class probabilities averaged over ``models`` and the ``tta`` shifts of each image."""
    total = np.zeros((len(images), 10), dtype=np.float64)
    for model in models:
        for dy, dx in tta_shifts(tta):
            total += model.predict(_shift(images, dy, dx), batch_size=1024, verbose=0)
    return (total / (len(models) * tta)).astype(np.float32)


def _retrain(
    record: TrialRecord, train, seed: int, reporter: Reporter, space=None, epochs: int | None = None
):
    """One trial's model, retrained on ``train`` (``tuner.trainer.fit_model``, the same path as
    the search's folds) for ``epochs`` (None: the trial's own); returns (model, epochs,
    seconds)."""
    from tuner.model import resolve_values
    from tuner.progress import epoch_callback
    from tuner.trainer import fit_model

    values = resolve_values(record.hyperparameters, space)
    # With early stopping, each fold found its best epoch: retrain for their median.
    values["epochs"] = epochs = epochs or record.retrain_epochs or int(values["epochs"])
    reporter.retrain_begin(trial_id=record.trial_id, epochs=epochs, images=len(train))
    model, _, seconds, _ = fit_model(
        values,
        train.images,
        train.labels,
        seed=seed,
        space=space,
        callbacks=[epoch_callback(reporter, epochs)],
    )
    reporter.retrain_end(seconds=seconds)
    faults.point("retrain_end")
    return model, epochs, seconds


def _fold_models(record: TrialRecord, seed: int, space=None) -> list:
    """The K fold models a trial trained during the search (kept for the best trial)."""
    from tuner.model import build, resolve_values
    from tuner.trainer import load_fold_weights

    models = []
    for fold in record.folds:
        path = Path(record.path) / WEIGHTS_FILE.format(fold=fold.fold)
        if not path.is_file():
            raise SearchError(
                f"{path}: missing; a search keeps the fold models of its best trial only "
                "(searches made before this version keep none): use --ensemble none or top-K"
            )
        values = resolve_values(record.hyperparameters, space)
        model = build(values, space=space, seed=seed, train_size=fold.train_size)
        load_fold_weights(model, path)
        models.append(model)
    return models


def _without_augmentation(model, name: str):
    """The same network (its layers and weights, shared) without the augmentation layer, which
    is the identity at inference: what is left is stock Keras layers only."""
    import keras

    from tuner.augment import DigitAugmentation

    inputs = keras.Input(shape=model.input_shape[1:], name="pixels")
    x = inputs
    for layer in model.layers[1:]:  # a chain: Input, [augment], rescale, ...
        if not isinstance(layer, DigitAugmentation):
            x = layer(x)
    return keras.Model(inputs, x, name=name)


def inference_model(models: list, tta: int = 1):
    """One plain-Keras model that predicts what the recipe predicts: the mean of ``models``'
    probabilities over each image and its ``tta`` 1-pixel shifts (zero-padded, as
    ``predict_tta``). Built from stock layers (ZeroPadding2D, Cropping2D, Average), so
    ``keras.models.load_model`` reads it without digit-tuner installed."""
    import keras

    nets = [_without_augmentation(m, f"member_{i}") for i, m in enumerate(models)]
    inputs = keras.Input(shape=models[0].input_shape[1:], name="pixels")
    outputs = []
    for k, (dy, dx) in enumerate(tta_shifts(tta)):
        x = inputs
        if (dy, dx) != (0, 0):  # out[i] = in[i - dy]: pad one pixel, crop one off the far side
            x = keras.layers.ZeroPadding2D(1, name=f"pad_{k}")(inputs)
            x = keras.layers.Cropping2D(((1 - dy, 1 + dy), (1 - dx, 1 + dx)), name=f"shift_{k}")(x)
        outputs += [net(x) for net in nets]
    out = outputs[0] if len(outputs) == 1 else keras.layers.Average(name="probabilities")(outputs)
    # Saved uncompiled: predicting needs no loss or optimizer (compile it to fine-tune it).
    return keras.Model(inputs, out, name="digit_tuner_export")


def export_best(
    directory: str | Path,
    data: DigitData,
    reporter: Reporter | None = None,
    *,
    mixed_precision: bool | None = None,
    ensemble: str = "none",
    tta: int | None = None,
    progress: bool = False,
) -> ExportResult:
    """Exports the best completed trial (or an ensemble) and writes the submission.

    Args:
        directory: the search directory (``results/<name>``).
        data: the same training data the search used, and the test data to predict.
        reporter: receives progress events.
        progress: show progress when no reporter is given.
        mixed_precision: float16 compute (True), float32 (False), or on where a GPU is (None).
        ensemble: ``none``, ``folds`` or ``top-K`` (see the module docstring).
        tta: predictions averaged per image (1, 5 or 9). None ("auto"): 5 if it scores higher
            than 1 on the search's holdout, else 1 (and 1 when there is no holdout).

    Raises:
        SearchError: no completed trial (or fewer than K), fold models missing, other training
            data, a bad ``ensemble`` or ``tta``.
    """
    directory = Path(directory)
    check_recipe(ensemble, tta)
    if not store.is_search_directory(directory):
        raise SearchError(f"{directory}: no search here (no {MANIFEST})")
    with shown(reporter, progress) as reporter, store.hold(directory):
        return _export(directory, data, reporter, mixed_precision, ensemble, tta)


@dataclass(frozen=True)
class _Choice:
    """What an export is made of, chosen and checked before anything trains."""

    manifest: dict
    best: TrialRecord
    members: list[TrialRecord]  # retrained (none, top-K) or whose fold models are averaged
    kind: str  # none, folds or top
    profile: SearchSpace  # the space the search ran with (its hypermodel's, if it had one)
    train: Dataset  # the training data less the holdout
    holdout: Dataset | None
    seed: int

    @property
    def space(self) -> SearchSpace | None:
        """The hypermodel's space; None: the built-in CNN."""
        return self.profile if self.profile.model is not None else None


def _choose(directory: Path, data: DigitData, ensemble: str) -> _Choice:
    """The winner (and the ensemble's members), checked against the data; nothing trained."""
    kind, k = parse_ensemble(ensemble)
    search = open_search(directory)  # the manifest and the records, read once
    best = _winner(search)
    train, holdout = search.parts(data.train)  # checks it is the search's data
    profile = space_of_manifest(search.manifest, directory)  # a hypermodel's: loaded once
    if len(data.test) == 0:
        raise SearchError(f"{data.test.source}: no test images to predict")
    complete = ranked(search.records)
    if kind == "top" and len(complete) < k:
        raise SearchError(
            f"{directory}: --ensemble top-{k} needs {k} completed trials, the search has "
            f"{len(complete)}"
        )
    members = complete[:k] if kind == "top" else [best]
    return _Choice(search.manifest, best, members, kind, profile, train, holdout, search.seed)


@dataclass
class _Built:
    models: list  # Keras models whose probabilities are averaged
    tta: int
    scores: dict[str, float] | None  # candidate -> holdout accuracy
    seconds: float = 0.0  # retraining
    epochs: int | None = None  # of the retrain


def _build(choice: _Choice, ensemble: str, tta: int | None, reporter: Reporter) -> _Built:
    """Trains (or loads) the members, scores every candidate on the holdout, picks TTA."""
    if choice.kind == "folds":
        built = _Built(_fold_models(choice.best, choice.seed, choice.space), 1, None)
        single = None
    else:
        built = _Built([], 1, None)
        final_epochs = choice.manifest.get("config", {}).get("final_epochs")
        for record in choice.members:
            model, trained, took = _retrain(
                record, choice.train, choice.seed, reporter, choice.space, final_epochs
            )
            built.models.append(model)
            built.seconds += took
            built.epochs = built.epochs or trained
        single = built.models[:1]
    holdout = choice.holdout
    if holdout is not None:
        scores: dict[str, float] = {}

        def score(name, models, n):
            predicted = np.argmax(predict_tta(models, holdout.images, n), axis=1)
            scores[name] = float(np.mean(predicted == holdout.labels))

        if single is not None and choice.kind != "none":
            score("single", single, 1)
            score(f"single+tta{TTA_DEFAULT}", single, TTA_DEFAULT)
        if choice.kind == "folds":
            for i, member in enumerate(built.models):
                score(f"fold {i + 1}", [member], 1)
        name = "single" if choice.kind == "none" else ensemble
        score(name, built.models, 1)
        for n in sorted({TTA_DEFAULT, tta or 1} - {1}):
            score(f"{name}+tta{n}", built.models, n)
        if tta is None:
            tta = TTA_DEFAULT if scores[f"{name}+tta{TTA_DEFAULT}"] > scores[name] else 1
        built.scores = scores
    built.tta = tta or 1
    return built


def _export(directory, data, reporter, mixed_precision, ensemble, tta) -> ExportResult:
    from tuner.backend import precision

    choice = _choose(directory, data, ensemble)
    with precision(mixed_precision) as mixed:
        built = _build(choice, ensemble, tta, reporter)
        return _write(directory, data, choice, built, ensemble, mixed)


def _write(directory, data, choice: _Choice, built: _Built, ensemble, mixed) -> ExportResult:
    """Predicts the test set with the plain-Keras model, then writes it, the submission and the
    manifest as one unit."""
    import keras

    best, manifest, tta, scores = choice.best, choice.manifest, built.tta, built.scores
    holdout, train = choice.holdout, choice.train
    members = built.models
    recipe = candidate_name(ensemble, tta)
    retrain_images = 0 if choice.kind == "folds" else len(train)
    why_not = correction_applies(choice.profile, manifest.get("config", {}), recipe, retrain_images)
    expected = estimate(
        best,
        scores,
        recipe,
        0 if holdout is None else len(holdout),
        choice.profile.estimate,
        why_not,
    )
    # The submission is what the exported model predicts, so that the model file reproduces it.
    exported = inference_model(members, tta)
    probabilities = exported.predict(data.test.images, batch_size=1024, verbose=0)
    if not np.isfinite(probabilities).all():
        raise SearchFailure(
            f"{directory}: the exported model of trial {best.trial_id} predicts NaN "
            "(training diverged); nothing written"
        )
    predicted = np.argmax(probabilities, axis=1)
    model_path = directory / MODEL_FILE
    submission_path = directory / SUBMISSION_FILE

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
        "ensemble": ensemble,
        "members": [r.trial_id for r in choice.members],
        "tta": tta,
        "holdout_accuracy": scores,
        "holdout_size": 0 if holdout is None else len(holdout),
        "test_source": data.test.source,
        "test_rows": int(len(predicted)),
        "retrain_images": retrain_images,
        "retrain_epochs": built.epochs,
        "retrain_seconds": built.seconds,
        "mixed_precision": mixed,
        "test_accuracy": test_accuracy,
        "estimate": expected.to_dict(),
        "backend": keras.backend.backend(),
        "versions": package_versions(),
    }
    # The model, the submission and the manifest are replaced as one unit (tuner.store).
    store.commit_files(
        directory,
        {
            MODEL_FILE: lambda path: exported.save(path),
            SUBMISSION_FILE: lambda path: write_submission(path, predicted),
            MANIFEST: lambda path: path.write_text(json_text(manifest), encoding="utf-8"),
        },
    )
    keras.backend.clear_session()
    return ExportResult(
        directory=directory,
        best=best,
        model_path=model_path,
        submission_path=submission_path,
        rows=int(len(predicted)),
        retrain_seconds=built.seconds,
        test_accuracy=test_accuracy,
        ensemble=ensemble,
        tta=tta,
        holdout=scores,
        estimate=expected,
    )

"""Export: the search's winner as one model (or an ensemble), saved, and the Kaggle submission.

Only a COMPLETE trial can win; a search with none refuses to export. What is exported:

- ``none`` (default): the winner retrained with its hyperparameters (epochs, batch size,
  augmentation included), seeded with the search's seed; with ``final_models`` N > 1, N models,
  each with its own seed, averaged. With a holdout, half of them (rounded up) train without it
  and are measured there, the others on every image (``tuner.data.splits.final_fits``): the
  submission sees every labelled image, and the holdout still measures the recipe (a lower
  bound for the whole average, which has more models). With ``final_trials`` T > 1 the models
  take the T best completed trials' configurations in turn (the winner's first), so with T = 2
  the measured ones are the winner's and those on every image the runner-up's: two strong
  configurations averaged make fewer errors than two seeds of one, which get the same images
  wrong (results/benchmarks.md, "Two configurations averaged against two seeds of one"). A
  model on every image of the measured model's own configuration goes on from its weights (a
  warm restart) and replaces it in the submission where the two together stay within the final
  epochs (``_start``);
- ``folds``: the average of the winner's K fold models, as the search trained them (no retrain);
- ``top-K``: the K best completed trials, each retrained on the training data less the holdout,
  averaged.

Test-time augmentation (TTA) averages the predictions over the image and small shifts of it. With a
holdout, every candidate (the single model, the ensemble, each with and without TTA) is scored on
it before the submission is written. ``search.json`` gains a ``best`` section (hyperparameters,
per-fold scores) and an ``export`` section (files, recipe, holdout scores, retrain time, and the
test accuracy where the labels are known, as for the embedded default).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuner.backend import (
    SCORING_BATCH_SIZE,
    fresh_session,
    keras,
    precision,
    precision_name,
)

import numpy as np

import tuner.storage.directory as store
from tuner import faults
from tuner.analysis.page import refresh_page
from tuner.data.kaggle import Dataset, DigitData
from tuner.data.splits import ALWAYS_TRAINED, final_fits, replaced_fits
from tuner.errors import SearchError, SearchFailure, machine_faults
from tuner.export.estimate import Estimate, correction_applies, estimate
from tuner.export.inference import in_float32, inference_model, predict_tta
from tuner.export.recipes import (
    TTA_DEFAULT,
    candidate_name,
    check_recipe,
    parse_ensemble,
    write_submission,
)
from tuner.models.hypermodels import space_of_manifest
from tuner.search.budget import final_epochs_in_time
from tuner.space.spaces import SearchSpace
from tuner.storage.directory import MANIFEST, MODEL_FILE, SUBMISSION_FILE
from tuner.storage.manifest import SearchHandle, manifest_text, open_search, package_versions
from tuner.storage.records import TrialRecord, TrialState, ranked
from tuner.training.callbacks import Deadline, EpochEvents
from tuner.training.fit import Recipe, Speed, fit_model, fold_models, training_speed
from tuner.ui.events import Reporter
from tuner.ui.reporters import shown

__all__ = ["ExportResult", "export_best"]


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
    measured: str | None = None  # the holdout's name of the recipe's models that never saw it
    fits: tuple[dict, ...] = ()  # each retrained model: trial, seed, images, measured
    budget_notes: tuple[str, ...] = ()  # what the run budget cut (epochs, models)


def _winner(search: SearchHandle) -> TrialRecord:
    if search.best is not None:
        return search.best
    failed = [r for r in search.records if r.state is TrialState.FAILED]
    detail = f"; last failure: {failed[-1].reason}" if failed else ""
    raise SearchError(
        f"{search.directory}: no completed trial to export ({len(search.records)} trial(s), "
        f"{len(failed)} failed{detail})"
    )


def _retrain(
    recipe: Recipe, trial_id: str, train, seed: int, reporter: Reporter, stop: Deadline | None,
    start: list | None = None,
):  # fmt: skip
    """Trial ``trial_id``'s model, retrained on ``train`` (``tuner.training.fit.fit_model``, the
    same path as the search's folds; from ``start``'s weights where given) for
    ``recipe.epochs``, or fewer where ``stop`` (the run budget's end) ends it: its last epochs
    are at the cosine schedule's smallest rates; returns (model, epochs trained, seconds, its
    training curves: loss and accuracy per epoch)."""
    reporter.retrain_begin(trial_id=trial_id, epochs=recipe.epochs, images=len(train))
    callbacks = [EpochEvents(reporter, recipe.epochs), *([stop] if stop is not None else [])]
    model, history, seconds, _ = fit_model(
        recipe, train.images, train.labels, seed=seed, callbacks=callbacks, start=start
    )
    reporter.retrain_end(seconds=seconds)
    faults.point("retrain_end")
    epochs = recipe.epochs
    if stop is not None and stop.stopped_after is not None:
        epochs = stop.stopped_after
    curves = {k: [round(v, 5) for v in history.get(k, [])] for k in ("loss", "accuracy")}
    return model, epochs, seconds, curves


def export_best(
    directory: str | Path,
    data: DigitData,
    reporter: Reporter | None = None,
    *,
    mixed_precision: bool | None = None,
    ensemble: str = "none",
    tta: int | None = None,
    progress: bool = False,
    run_started: float | None = None,
) -> ExportResult:
    """Exports the best completed trial (or an ensemble) and writes the submission.

    Args:
        directory: the search directory (``results/<name>``).
        data: the same training data the search used, and the test data to predict.
        reporter: receives progress events.
        progress: show progress when no reporter is given.
        mixed_precision: mixed precision (True; ``backend.precision_name``), float32
            (False), or by the hardware (None: ``backend.mixed_precision_default``).
        ensemble: ``none``, ``folds`` or ``top-K`` (see the module docstring).
        tta: predictions averaged per image (1, 5 or 9). None ("auto"): 5 if it scores higher
            than 1 on the search's holdout, else 1 (and 1 when there is no holdout).
        run_started: ``time.monotonic()`` when the run (search and export) began: with the
            search's run budget, the export trains only the final models that end within it
            (and always the first two: with a holdout, one measured and one on every image).

    Raises:
        SearchError: no completed trial (or fewer than K), fold models missing, other training
            data, a bad ``ensemble`` or ``tta``.
    """
    directory = Path(directory)
    check_recipe(ensemble, tta)
    if not store.is_search_directory(directory):
        raise SearchError(f"{directory}: no search here (no {MANIFEST})")
    with shown(reporter, progress) as reporter, store.hold(directory), machine_faults():
        choice = _choose(directory, data, ensemble, run_started)
        with precision(mixed_precision) as mixed:  # training only: the export predicts in float32
            built = _build(choice, ensemble, tta, reporter)
        return _write(directory, data, choice, built, ensemble, mixed)


@dataclass(frozen=True)
class _Choice:
    """What an export is made of, chosen and checked before anything trains."""

    manifest: dict
    best: TrialRecord
    # retrained (top-K; none: the final models' configurations, taken in turn) or whose fold
    # models are averaged (folds)
    members: list[TrialRecord]
    kind: str  # none, folds or top
    profile: SearchSpace  # the space the search ran with (its hypermodel's, if it had one)
    train: Dataset  # the training data less the holdout
    holdout: Dataset | None
    seed: int
    everything: Dataset  # every labelled image: what the unmeasured final models train on
    final_models: int = 1  # of the winner (ensemble none)
    deadline: float | None = None  # time.monotonic() by which the run budget ends

    @property
    def space(self) -> SearchSpace | None:
        """The hypermodel's space; None: the built-in CNN."""
        return self.profile if self.profile.model is not None else None

    @property
    def fits(self) -> list[Dataset]:
        """What each retrained model trains on, in the order they train (with a holdout, measured
        and on every image in turn: ``tuner.data.splits.final_fits``); top-K: one per member,
        without the holdout."""
        if self.kind == "folds":
            return []
        if self.kind == "top":
            return [self.train] * len(self.members)
        sizes = final_fits(self.final_models, len(self.train), self.holdout_size)
        return [self.train if n == len(self.train) else self.everything for n in sizes]

    @property
    def configurations(self) -> list[TrialRecord]:
        """Whose configuration each of ``fits`` trains: top-K, its members; none, the winner's
        for the models the holdout measures (it measures the winner's recipe) and the members in
        turn for the others (with a holdout the runners-up, if any: the winner has its own)."""
        if self.kind == "top":
            return self.members
        held = self.holdout is not None
        turns = itertools.cycle(self.members[1:] if held and self.members[1:] else self.members)
        return [self.best if self.measures(train) else next(turns) for train in self.fits]

    def measures(self, train: Dataset) -> bool:
        """Whether the holdout measures a final model trained on ``train`` (one of ``fits``)."""
        return self.holdout is not None and train is self.train

    def continues(self, i: int) -> bool:
        """Whether the ``i``-th final model may start from the one before it (a warm restart:
        its weights, a fresh optimizer and schedule) and replace it in the submission: a model
        on every image of the configuration of the measured one just before it. Two seeds of
        one configuration get the same images wrong (results/benchmarks.md, "Two
        configurations averaged against two seeds of one"); chained, the measured model's
        epochs count again (``_start`` says when)."""
        if self.kind != "none" or i == 0:
            return False
        fits, configurations = self.fits, self.configurations
        return (
            not self.measures(fits[i])
            and self.measures(fits[i - 1])
            and configurations[i].trial_id == configurations[i - 1].trial_id
        )

    @property
    def retrain_images(self) -> int:
        """The most images an exported model trained on (0: the folds ensemble retrains
        nothing)."""
        return max((len(d) for d in self.fits), default=0)

    @property
    def budgeted(self) -> bool:
        """Whether the run budget sets the final models' epochs and count (the winner's models,
        in a run with a run budget)."""
        return self.deadline is not None and self.kind == "none"

    def recipe(self, record: TrialRecord, epochs: int | None = None) -> Recipe:
        """``record``'s model as the export trains it, for ``epochs`` (None: the trial's own;
        with early stopping, the median of its folds' best)."""
        recipe = Recipe.of(record.hyperparameters, self.space, len(self.everything.classes))
        return recipe.for_epochs(epochs or record.retrain_epochs or recipe.epochs)

    @property
    def own_epochs(self) -> int:
        """The winner's epochs (with early stopping, the median of its folds' best)."""
        return self.recipe(self.best).epochs

    @property
    def most_epochs(self) -> int:
        """The final models' epochs: ``final_epochs``, else the winner's own (under a run budget,
        the most)."""
        return self.manifest.get("config", {}).get("final_epochs") or self.own_epochs

    @property
    def holdout_size(self) -> int:
        return 0 if self.holdout is None else len(self.holdout)


def _choose(directory: Path, data: DigitData, ensemble: str, run_started=None) -> _Choice:
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
    config = search.manifest.get("config", {})
    # the winner is the first of ``complete``; fewer completed trials than asked: those there are
    trials = {"top": k, "none": config.get("final_trials") or 1}.get(kind, 1)
    members = complete[:trials]
    budget = config.get("run_budget_minutes")
    deadline = run_started + 60 * budget if run_started is not None and budget else None
    return _Choice(
        search.manifest, best, members, kind, profile, train, holdout, search.seed,
        everything=data.train, final_models=config.get("final_models") or 1, deadline=deadline,
    )  # fmt: skip


@dataclass
class _Built:
    models: list  # Keras models whose probabilities are averaged
    tta: int
    scores: dict[str, float] | None  # candidate -> holdout accuracy
    seconds: float = 0.0  # retraining
    epochs: int | None = None  # of the retrain
    measured: str = "single"  # the holdout's name for the models that never saw it
    # each retrained model: seed, images, epochs, whether it was measured, its training curves
    fits: list[dict] = field(default_factory=list)
    cut: str | None = None  # why fewer final models were trained than asked
    shortened: str | None = None  # why they trained fewer epochs than asked
    # what each final model spends before its epochs run at speed (building, tracing), as
    # measured with the first's plan (``training_speed``)
    startup: float = 0.0

    @property
    def submitted(self) -> list:
        """The models the submission averages: all but those a later one continued
        (``_Choice.continues``)."""
        replaced = replaced_fits(self.fits)
        return [m for j, m in enumerate(self.models) if j not in replaced]


def member_seed(seed: int, member: int) -> int:
    """The seed of the export's ``member``-th model of the winner (the first: the search's)."""
    return seed if member == 0 else (seed * 1_000_003 + 7_919 * member) % (2**31 - 1)


def _train_members(choice: _Choice, reporter: Reporter) -> _Built:
    """Retrains the export's models (``_Choice.fits``, measured and on every image in turn);
    under a run budget, for the epochs and as many models as it has time for (``_epochs_for``)."""
    built = _Built([], 1, None)
    asked = choice.manifest.get("config", {}).get("final_epochs")
    for i, (record, train) in enumerate(zip(choice.configurations, choice.fits, strict=True)):
        epochs = _epochs_for(choice, built, train, i) if choice.budgeted else asked
        if choice.budgeted and epochs is None:
            built.cut = f"the run budget left time for {i} of {len(choice.fits)} final models"
            break
        seed = choice.seed if choice.kind == "top" else member_seed(choice.seed, i)
        fewest = min(choice.own_epochs, choice.most_epochs)
        stop = Deadline(choice.deadline, ahead=True, at_least=fewest) if choice.budgeted else None
        recipe = choice.recipe(record, epochs)
        start = _start(choice, built, i, recipe.epochs)
        model, trained, took, curves = _retrain(
            recipe, record.trial_id, train, seed, reporter, stop, start
        )
        built.models.append(model)
        built.seconds += took
        built.epochs = built.epochs or trained
        measured = choice.measures(train)
        built.fits.append({"trial_id": record.trial_id, "seed": seed, "images": len(train),
                           "epochs": trained, "measured": measured, "history": curves,
                           "continues": i - 1 if start is not None else None})  # fmt: skip
    if choice.budgeted and min(f["epochs"] for f in built.fits) < choice.most_epochs:
        trained = ", ".join(str(f["epochs"]) for f in built.fits)
        built.shortened = (
            f"epochs the run budget had time for: {trained} (of up to {choice.most_epochs})"
        )
    return built


def _start(choice: _Choice, built: _Built, i: int, epochs: int) -> list | None:
    """The weights the ``i``-th final model of ``epochs`` epochs starts from: the model's before
    it where it may go on from it (``_Choice.continues``) and the two together stay within the
    final epochs (None: fresh weights). Within them a chain is one model's epochs where they
    still count: on 4,000 images 13+10 epochs chained made 616 errors of 49,000 where the two
    averaged made 664 (results/benchmarks.md, "A warm restart for the model on every image").
    Past them, on the full data, epochs buy nothing and a chain of 22+24 made 21 errors of a
    split's 4,200 where the two averaged (26 and 26) made 14 (same section)."""
    if not choice.continues(i) or built.fits[i - 1]["epochs"] + epochs > choice.most_epochs:
        return None
    return built.models[i - 1].get_weights()


def _epochs_for(choice: _Choice, built: _Built, train: Dataset, i: int) -> int | None:
    """Under a run budget, the ``i``-th final model's epochs: as many as end within it, up to
    ``final_epochs`` (``tuner.search.budget.final_epochs_in_time``), never fewer than the
    winner's own; None: no time for this model. The first is planned with the second (the two
    always trained) at the speed the winner trains at now and with each one's start-up
    (``_speed_now``), so that the two get about the same epochs; the second takes the time left
    at the speed the first trained, so a misjudged first plan costs no minute; a further model
    trains the same epochs, only if it ends in time. A second model of another configuration
    (``final_trials``) is planned at its own speed, measured before it. The start-up matters on
    small data: on the embedded 4,000 digits it is 7-8 s of a model's 30-50
    (results/benchmarks.md, "The embedded run's minutes")."""
    left = choice.deadline - time.monotonic()
    most, fewest = choice.most_epochs, min(choice.own_epochs, choice.most_epochs)
    if i == 0:
        images = sum(len(d) for d in choice.fits[:ALWAYS_TRAINED])
        speed = _speed_now(choice)  # no margin: model 2 corrects it
        built.startup = speed.startup_seconds
        epochs_left = left - ALWAYS_TRAINED * built.startup
        return final_epochs_in_time(
            epochs_left, 1.0 / speed.images_per_second, images, most, fewest
        )
    record = choice.configurations[i]
    if i < ALWAYS_TRAINED and record.trial_id != choice.configurations[0].trial_id:
        # another configuration (``final_trials``) trains at its own speed: up to 1.3 times the
        # winner's either way (results/benchmarks.md, "The runner-up's configuration for the
        # models on every image"), so measured now, like the first's
        speed = _speed_now(choice, i)
        left = choice.deadline - time.monotonic() - speed.startup_seconds
        return final_epochs_in_time(left, 1.0 / speed.images_per_second, len(train), most, fewest)
    # the first's epochs at speed: its fit less the start-up (never less than half of it)
    at_speed = max(built.seconds - built.startup * len(built.fits), built.seconds / 2)
    rate = at_speed / sum(f["images"] * f["epochs"] for f in built.fits)
    left -= built.startup
    if i < ALWAYS_TRAINED:
        return final_epochs_in_time(left, rate, len(train), most, fewest)
    epochs = built.fits[-1]["epochs"]
    return epochs if rate * len(train) * epochs <= left else None


def _speed_now(choice: _Choice, i: int = 0) -> Speed:
    """How fast the ``i``-th final model's configuration trains now, on its images, and what a
    model of it spends before its epochs run at speed (``tuner.training.fit.training_speed``: the
    trials' pipeline, 40 batches after 40 that build and trace; a few seconds). Not its folds'
    speed: these 2 cores switch between two speeds minutes apart, and the final models ran 0.55
    to 0.93 times as long an image-epoch as their winner's folds had (results/benchmarks.md,
    "The `quick` profile over held-out 10 % splits", column "final / fold speed")."""
    train = choice.fits[i]
    recipe = choice.recipe(choice.configurations[i])
    return training_speed(recipe, train.images, train.labels, steps=40)


def _build(choice: _Choice, ensemble: str, tta: int | None, reporter: Reporter) -> _Built:
    """Trains (or loads) the members, scores every candidate on the holdout, picks TTA."""
    if choice.kind == "folds":
        classes = len(choice.everything.classes)
        built = _Built(fold_models(choice.best, choice.seed, choice.space, classes), 1, None)
    else:
        built = _train_members(choice, reporter)
    in_float32(built.models)  # the holdout scores what the exported model will predict
    measured = [m for m, f in zip(built.models, built.fits, strict=False) if f["measured"]]
    if choice.kind == "folds":
        measured = built.models
    built.measured = _measured_name(choice.kind, ensemble, len(measured))
    if choice.holdout is not None:
        built.scores, tta = _holdout_scores(choice, built, measured, tta)
    built.tta = tta or 1
    return built


def _measured_name(kind: str, ensemble: str, measured: int) -> str:
    """The holdout table's name of the models that never saw it: ``single``, ``2 seeds``,
    ``folds``, ``top-3``."""
    if kind != "none":
        return ensemble
    return "single" if measured <= 1 else f"{measured} seeds"


def _holdout_scores(choice: _Choice, built: _Built, measured: list, tta: int | None):
    """Every candidate's accuracy on the holdout (the models that never saw it, alone and
    averaged, with and without TTA) and the TTA chosen (None: the better of 1 and 5)."""
    holdout, scores = choice.holdout, {}

    def score(name, models, n):
        predicted = np.argmax(predict_tta(models, holdout.images, n), axis=1)
        scores[name] = float(np.mean(predicted == holdout.labels))

    if len(measured) > 1 and choice.kind != "folds":
        score("single", measured[:1], 1)
        score(f"single+tta{TTA_DEFAULT}", measured[:1], TTA_DEFAULT)
    if choice.kind == "folds":
        for i, member in enumerate(built.models):
            score(f"fold {i + 1}", [member], 1)
    name = built.measured
    score(name, measured, 1)
    for n in sorted({TTA_DEFAULT, tta or 1} - {1}):
        score(f"{name}+tta{n}", measured, n)
    if tta is None:
        tta = TTA_DEFAULT if scores[f"{name}+tta{TTA_DEFAULT}"] > scores[name] else 1
    return scores, tta


def _write(directory, data, choice: _Choice, built: _Built, ensemble, mixed) -> ExportResult:
    """Predicts the test set with the plain-Keras model, then writes it, the submission and the
    manifest as one unit."""
    best, manifest, tta = choice.best, choice.manifest, built.tta
    expected = _expected(choice, built, ensemble)
    # The submission is what the exported model predicts, so that the model file reproduces it.
    exported = inference_model(built.submitted, tta)
    probabilities = exported.predict(data.test.images, batch_size=SCORING_BATCH_SIZE, verbose=0)
    if not np.isfinite(probabilities).all():
        raise SearchFailure(
            f"{directory}: the exported model of trial {best.trial_id} predicts NaN "
            "(training diverged); nothing written"
        )
    # the classes' label values, as the training file names them
    predicted = np.asarray(data.classes)[np.argmax(probabilities, axis=1)]
    test_accuracy = None
    if data.test_labels is not None:
        test_accuracy = float(np.mean(predicted == data.test_labels))
    manifest["best"] = _best_section(best)
    manifest["export"] = _export_section(
        choice, built, ensemble, mixed, expected, data, predicted, test_accuracy
    )
    # The model, the submission and the manifest are replaced as one unit (tuner.storage.directory).
    store.commit_files(
        directory,
        {
            MODEL_FILE: lambda path: exported.save(path),
            SUBMISSION_FILE: lambda path: write_submission(path, predicted, data.submission),
            MANIFEST: lambda path: path.write_text(manifest_text(manifest), encoding="utf-8"),
        },
    )
    refresh_page(directory, live=False)  # the page shows the export too
    fresh_session()
    model_path, submission_path = directory / MODEL_FILE, directory / SUBMISSION_FILE
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
        holdout=built.scores,
        estimate=expected,
        measured=candidate_name(built.measured, tta),
        fits=tuple(built.fits),
        budget_notes=tuple(note for note in (built.shortened, built.cut) if note),
    )


def _expected(choice: _Choice, built: _Built, ensemble: str) -> Estimate:
    """What the exported recipe is expected to score (``tuner.export.estimate``)."""
    recipe = candidate_name(ensemble, built.tta)
    config = choice.manifest.get("config", {})
    why_not = correction_applies(choice.profile, config, recipe, choice.retrain_images)
    averaged = len(built.submitted)
    if averaged > 1 and ensemble == "none":
        why_not = f"it was measured for a single model, this export averages {averaged}"
    correction = choice.profile.estimate
    measured = candidate_name(built.measured, built.tta)
    expected = estimate(
        choice.best, built.scores, measured, choice.holdout_size, correction, why_not
    )
    if expected.method == "holdout" and any(not f["measured"] for f in built.fits):
        expected = dataclasses.replace(expected, note=_unmeasured_note(choice, built))
    return expected


def _unmeasured_note(choice: _Choice, built: _Built) -> str:
    """How a holdout estimate reads when the submission has models the holdout did not
    measure (trained on every image, from scratch or going on from a measured one)."""
    unmeasured = [f for f in built.fits if not f["measured"]]
    continued = [f for f in unmeasured if f.get("continues") is not None]
    note = f"{built.measured} trained without the holdout, on it; "
    if continued:
        more = ", ".join(str(f["epochs"]) for f in continued)
        note += (
            f"the export's model(s) on every image went on from the measured one(s) for {more} "
            "more epochs"
        )
    fresh = [f["trial_id"] for f in unmeasured if f.get("continues") is None]
    if fresh:
        others = list(dict.fromkeys(t for t in fresh if t != choice.best.trial_id))
        whose = f" (trial {others[0]}'s configuration)" if len(others) == 1 else ""
        if len(others) > 1:
            whose = f" (the configurations of trials {', '.join(others)})"
        note += "; it also" if continued else "the export"
        note += f" averages in {len(fresh)} more model(s) trained on every image{whose}"
    return note + ", so it should score at least this"


def _export_section(
    choice, built, ensemble, mixed, expected, data, predicted, test_accuracy
) -> dict[str, Any]:
    """``search.json``'s ``export`` section: the files, the recipe, its scores and estimate (the
    test accuracy only where the test labels are known: the embedded digits)."""
    return {
        "exported": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "model": MODEL_FILE,
        "submission": SUBMISSION_FILE,
        "ensemble": ensemble,
        "members": [r.trial_id for r in choice.members],
        "tta": built.tta,
        "holdout_accuracy": built.scores,
        "holdout_size": choice.holdout_size,
        "test_source": data.test.source,
        "test_rows": int(len(predicted)),
        # the sample submission whose header and row order the submission follows (None: none)
        "submission_layout": data.submission.source if data.submission else None,
        "retrain_images": choice.retrain_images,
        "final_models": built.fits,
        "final_models_cut": built.cut,
        "final_epochs_cut": built.shortened,
        "retrain_epochs": built.epochs,
        "retrain_seconds": built.seconds,
        "mixed_precision": mixed,
        "precision": precision_name(mixed),
        "test_accuracy": test_accuracy,
        "estimate": expected.to_dict(),
        "backend": keras.backend.backend(),
        "versions": package_versions(),
    }


def _best_section(best: TrialRecord) -> dict[str, Any]:
    """``search.json``'s ``best`` section: the winner's hyperparameters and per-fold scores."""
    return {
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

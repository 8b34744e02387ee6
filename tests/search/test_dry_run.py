"""The dry run's time estimate is calibrated as the trials train (their input pipeline and a
hypermodel's own ``fit``), so it is right where they differ from Keras' plain ``model.fit(x, y)``.

Checked twice: the steps the calibration and the folds train, counted, and the estimate against the
folds' training time within ``FACTOR``. The suite runs two tests at a time on two cores, and a
wall-clock ratio there is the neighbour's as much as the code's (3.6 once, in CI): the clocks the
calibration and the folds read are this process's CPU time for the test, which a neighbour
barely moves.
"""

from __future__ import annotations

import json
import math
import textwrap
import time
from types import SimpleNamespace

import pytest

import tuner.training.callbacks
import tuner.training.fit
from tuner.models.hypermodels import load_hypermodel
from tuner.search.driver import run_search
from tuner.search.dryrun import dry_run
from tuner.settings import SearchConfig

# a guide's HyperModel.fit that sets its own batch: 8 images a step, where the toolkit's default
# batch is 32. A calibration with plain model.fit(x, y) would time a quarter of the trials' steps
# and the estimate would come out several times short. The fit logs each call's steps per epoch.
SMALL_BATCHES = """
import json
import keras
import keras_tuner

LOG = {log!r}


class Steps(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(0)

    def on_train_batch_end(self, batch, logs=None):
        self.epochs[-1] += 1


class SmallBatches(keras_tuner.HyperModel):
    def build(self, hp):
        hp.Fixed("epochs", 2)
        hp.Fixed("augment_strength", 0.0)
        model = keras.Sequential([
            keras.layers.Flatten(),
            keras.layers.Dense(hp.Choice("units", [16, 32]), activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return model

    def fit(self, hp, model, x, y, **kwargs):
        steps = Steps()
        callbacks = [*kwargs.pop("callbacks", []), steps]
        history = model.fit(x, y, **{{**kwargs, "batch_size": 8, "callbacks": callbacks}})
        with open(LOG, "a") as log:
            log.write(json.dumps({{"images": len(x), "steps": steps.epochs}}) + "\\n")
        return history
"""

# The estimate covers the folds' training (process start-up and scoring are the search's own):
# within this factor of what the folds took. The calibration through plain model.fit(x, y) was 15
# times short here.
FACTOR = 3.0

pytestmark = pytest.mark.eager  # no graphs to trace: a tiny dense model either way


def _calls(log) -> list[dict]:
    """The fits of real images (loading the space fits two blank ones to find its hyperparameters:
    ``tuner.models.hypermodels``)."""
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return [c for c in calls if c["images"] > 2]


@pytest.fixture
def cpu_clock(monkeypatch):
    """The training clocks (``fit_model``'s and the calibration's epoch clock) read this process's
    CPU time."""
    clock = SimpleNamespace(perf_counter=time.process_time, monotonic=time.monotonic)
    monkeypatch.setattr(tuner.training.fit, "time", clock)
    monkeypatch.setattr(tuner.training.callbacks, "time", clock)


def test_the_estimate_is_calibrated_on_the_steps_and_time_of_the_trials(
    tmp_path, embedded, cpu_clock
):
    log = tmp_path / "fits.jsonl"
    path = tmp_path / "small_batches.py"
    path.write_text(textwrap.dedent(SMALL_BATCHES.format(log=str(log))))
    space = load_hypermodel(f"{path}:SmallBatches")
    train = embedded.train.subset(slice(0, 480), "embedded[:480]")
    config = SearchConfig(
        name="d", results_dir=tmp_path, max_trials=1, folds=2, prune=False, isolate=False,
        holdout=0, time_budget=0, run_budget=0, seed=0,
    )  # fmt: skip
    planned = dry_run(train, space, config)
    (calibration,) = _calls(log)
    # two epochs of the user's batches (the first builds and warms up, the second is timed)
    assert calibration["steps"] == [math.ceil(calibration["images"] / 8)] * 2
    # the estimate is the trials' images at the calibrated speed
    images = planned.fold_train * planned.epochs * planned.folds
    assert planned.total_seconds == pytest.approx(images / planned.images_per_second)

    search = run_search(train, space, config)
    folds = _calls(log)[1:]
    assert len(search.records) == planned.trials_to_run == 1
    assert [f["images"] for f in folds] == [planned.fold_train] * 2
    # the folds trained the same steps per image as the calibration timed
    for fold in folds:
        assert fold["steps"] == [math.ceil(fold["images"] / 8)] * planned.epochs
    # each fold's fit, less its validation passes: what the calibration measures
    took = sum(f.train_seconds - f.validation_seconds for r in search.records for f in r.folds)
    assert took / FACTOR < planned.total_seconds < took * FACTOR, (planned.total_seconds, took)

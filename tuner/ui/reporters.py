"""The terminal's reporters: rich progress bars on a terminal, one plain line per event elsewhere."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from tuner.storage.records import TrialState
from tuner.ui.events import Eta, Reporter
from tuner.ui.formats import (
    STATE_LABEL,
    STATE_STYLE,
    format_eta,
    format_score,
    format_seconds,
    format_value,
)

__all__ = ["make_reporter", "shown", "PlainReporter", "RichReporter"]


def make_reporter(
    console: Console | None = None, varying: list[str] | None = None, clock=time.monotonic
) -> Reporter:
    """Progress bars on a terminal; one plain line per event elsewhere (CI logs, pipes). Both
    show the time left (``tuner.ui.events.Eta``) from the first finished epoch."""
    console = console or Console()
    if console.is_terminal:
        return RichReporter(console, varying, clock)
    return PlainReporter(console, varying, clock)


def _values_line(values: dict[str, Any], varying: list[str] | None) -> str:
    names = varying if varying else list(values)
    return " ".join(f"{n}={format_value(values[n])}" for n in names if n in values)


class PlainReporter(Reporter):
    """One line per event, no cursor movement: for logs and pipes."""

    def __init__(self, console: Console, varying: list[str] | None = None, clock=time.monotonic):
        self.console = console
        self.varying = varying
        self.trial_id = ""
        self.fold = 0
        self.folds = 0
        self.eta = Eta(clock)

    def _print(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def search_begin(self, *, name, max_trials, done, folds):
        self.folds = folds
        self.eta.search_begin(max_trials=max_trials, done=done, folds=folds)
        resumed = f", resuming with {done} done" if done else ""
        self._print(f"search {name}: {max_trials} trials x {folds} folds{resumed}")

    def time_budget(self, *, minutes):
        self.eta.time_budget(minutes=minutes)

    def trial_begin(self, *, trial_id, values, best):
        self.trial_id = trial_id
        self.eta.trial_begin()
        self._print(f"trial {trial_id}: {_values_line(values, self.varying)}")

    def fold_begin(self, *, fold, folds, epochs, first_epoch=0):
        self.fold, self.folds = fold, folds
        self.eta.fold_begin(fold=fold, folds=folds, epochs=epochs, first_epoch=first_epoch)

    def epoch_end(self, *, epoch, epochs, logs):
        self.eta.epoch_end(epoch=epoch, epochs=epochs)
        scores = " ".join(f"{k}={v:.4f}" for k, v in logs.items())
        if self.trial_id:
            where = f"trial {self.trial_id} fold {self.fold + 1}/{self.folds}"
            left = (
                f"trial left {format_eta(self.eta.fold_left())}, "
                f"search left {format_eta(self.eta.search_left())}"
            )
        else:
            where, left = "retrain", f"left {format_eta(self.eta.epochs_left())}"
        self._print(f"  {where} epoch {epoch}/{epochs}: {scores} ({left})")

    def fold_end(self, *, fold, val_accuracy, seconds):
        self._print(
            f"  trial {self.trial_id} fold {fold + 1}/{self.folds}: "
            f"val_accuracy={val_accuracy:.4f} ({seconds:.1f} s)"
        )

    def trial_end(self, record):
        if record.state is TrialState.COMPLETE:
            self._print(
                f"trial {record.trial_id}: {format_score(record.mean, record.std)} % "
                f"({format_seconds(record.seconds)})"
            )
        else:
            self._print(f"trial {record.trial_id}: {record.state.value}: {record.reason}")
        self.trial_id = ""
        self.eta.trial_end()

    def retrain_begin(self, *, trial_id, epochs, images):
        self.eta.trial_begin()
        self.eta.fold_begin(fold=0, folds=1, epochs=epochs)
        self._print(f"retraining trial {trial_id} on {images:,} images for {epochs} epochs")

    def retrain_end(self, *, seconds):
        self._print(f"retrained in {format_seconds(seconds)}")

    def message(self, text):
        self._print(text)


class RichReporter(Reporter):
    """Live progress bars for trials, folds and epochs, with the best score so far."""

    def __init__(self, console: Console, varying: list[str] | None = None, clock=time.monotonic):
        self.console = console
        self.varying = varying
        self.eta = Eta(clock)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("left {task.fields[eta]}"),
            TextColumn("{task.fields[info]}"),
            console=console,
        )
        self.trials = self.folds = self.epochs = None
        self.best: float | None = None
        self.fold_scores: list[float] = []

    def _ensure_started(self):
        if not self.progress.live.is_started:
            self.progress.start()

    def search_begin(self, *, name, max_trials, done, folds):
        self._ensure_started()
        self.console.print(
            f"[bold]search {name}[/]: {max_trials} trials x {folds} folds"
            + (f", resuming with {done} done" if done else "")
        )
        self.eta.search_begin(max_trials=max_trials, done=done, folds=folds)
        self.trials = self.progress.add_task(
            "trials", total=max_trials, completed=done, info="", eta=format_eta(None)
        )

    def time_budget(self, *, minutes):
        self.eta.time_budget(minutes=minutes)

    def trial_begin(self, *, trial_id, values, best):
        self.best = best
        self.fold_scores = []
        self.eta.trial_begin()
        self.console.print(
            f"trial {trial_id}: {_values_line(values, self.varying)}", highlight=False
        )
        best_text = f"best {100 * best:.2f}%" if best is not None else ""
        self.progress.update(self.trials, info=best_text)

    def fold_begin(self, *, fold, folds, epochs, first_epoch=0):
        self.eta.fold_begin(fold=fold, folds=folds, epochs=epochs, first_epoch=first_epoch)
        if self.folds is None:
            self.folds = self.progress.add_task("  folds", total=folds, info="", eta="-:--")
            self.epochs = self.progress.add_task("  epochs", total=epochs, info="", eta="-:--")
        info = " ".join(f"{100 * s:.2f}" for s in self.fold_scores)
        fold_left = format_eta(self.eta.fold_left())
        if fold == 0:  # a new trial: its folds bar starts anew (elapsed time included)
            self.progress.reset(self.folds, total=folds, completed=0, info=info, eta=fold_left)
        else:
            self.progress.update(self.folds, total=folds, completed=fold, info=info, eta=fold_left)
        self.progress.reset(
            self.epochs, total=epochs, completed=first_epoch, info="",
            eta=format_eta(self.eta.epochs_left()),
        )  # fmt: skip

    def epoch_end(self, *, epoch, epochs, logs):
        self.eta.epoch_end(epoch=epoch, epochs=epochs)
        if self.epochs is None:
            return
        shown = {k: v for k, v in logs.items() if "accuracy" in k}
        self.progress.update(
            self.epochs,
            completed=epoch,
            info=" ".join(f"{k} {v:.4f}" for k, v in shown.items()),
            eta=format_eta(self.eta.epochs_left()),
        )
        for task, left in (
            (self.folds, self.eta.fold_left()),
            (self.trials, self.eta.search_left()),
        ):
            if task is not None:
                self.progress.update(task, eta=format_eta(left))

    def fold_end(self, *, fold, val_accuracy, seconds):
        self.fold_scores.append(val_accuracy)
        self.progress.update(
            self.folds,
            completed=fold + 1,
            info=" ".join(f"{100 * s:.2f}" for s in self.fold_scores),
        )

    def trial_end(self, record):
        self.eta.trial_end()
        if self.trials is not None:
            self.progress.advance(self.trials)
        if record.state is TrialState.COMPLETE:
            is_best = self.best is None or (record.mean or 0) > self.best
            self.console.print(
                f"  [green]done[/] {format_score(record.mean, record.std)} % "
                f"in {format_seconds(record.seconds)}" + ("  [bold]new best[/]" if is_best else "")
            )
        else:
            style = STATE_STYLE.get(record.state, "red")
            self.console.print(
                f"  [{style}]{STATE_LABEL[record.state]}[/]: {escape(record.reason or '')}",
                highlight=False,
            )

    def search_end(self, records):
        self.progress.stop()
        self.trials = self.folds = self.epochs = None

    def close(self):
        self.progress.stop()

    def retrain_begin(self, *, trial_id, epochs, images):
        self._ensure_started()
        self.console.print(f"retraining trial {trial_id} on {images:,} images for {epochs} epochs")
        self.eta.trial_begin()
        self.eta.fold_begin(fold=0, folds=1, epochs=epochs)
        self.epochs = self.progress.add_task("retrain", total=epochs, info="", eta="-:--")

    def retrain_end(self, *, seconds):
        self.progress.stop()

    def message(self, text):
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)


@contextlib.contextmanager
def shown(
    reporter: Reporter | None, progress: bool, varying: list[str] | None = None
) -> Iterator[Reporter]:
    """The reporter a library call uses: the one given; else, with ``progress``, the terminal's
    (``make_reporter``: bars on a terminal, lines elsewhere), closed at the end; else a silent one."""
    if reporter is not None or not progress:
        yield reporter or Reporter()
        return
    made = make_reporter(varying=varying)
    try:
        yield made
    finally:
        made.close()

"""Terminal rendering: trial tables and progress reporters (rich), kept apart from the records."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from tuner.data.kaggle import DIGITS
from tuner.data.splits import final_fits
from tuner.screening.marks import SCREEN_KEY, SCREENED_KEY, is_screen
from tuner.settings import config_settings
from tuner.space.spaces import HYPERPARAMETERS
from tuner.storage.records import TrialRecord, TrialState, ranked
from tuner.ui.formats import (
    STATE_LABEL,
    STATE_STYLE,
    format_count,
    format_score,
    format_seconds,
    format_value,
)

__all__ = [
    "searches_table",
    "trials_table",
    "sorted_records",
    "dry_run_lines",
    "confusion_table",
    "eda_tables",
    "holdout_table",
    "importance_table",
    "per_class_table",
    "sparkline",
    "compact_table",
    "trial_detail",
]


def sorted_records(records: list[TrialRecord]) -> list[TrialRecord]:
    """Completed trials by mean CV accuracy (best first, ``records.ranked``), then the others,
    then the screens (``tuner.screening``) by their score, best first."""
    complete = ranked(records)
    chosen = {r.trial_id for r in complete}
    screens = [r for r in records if r.trial_id not in chosen and is_screen(r.hyperparameters)]
    screens.sort(key=lambda r: -(r.mean if r.mean is not None else -1.0))
    others = [r for r in records if r.trial_id not in chosen and not is_screen(r.hyperparameters)]
    return complete + others + screens


def trials_table(
    records: list[TrialRecord],
    varying: list[str],
    *,
    title: str | None = None,
    best_id: str | None = None,
    folds: int | None = None,
) -> Table:
    """A table of trials, best first, showing the hyperparameters that vary in the space.

    Headers are short (``lr`` for learning_rate, see ``HYPERPARAMETERS``) so that a typical space
    fits an 80-column terminal; the caption spells them out. A pruned trial shows where it
    stopped (``pruned 1/3``: during or after its first of ``folds`` folds) and its partial mean.
    """
    shorts = {n: HYPERPARAMETERS[n].short if n in HYPERPARAMETERS else n for n in varying}
    table = Table(
        title=title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        caption=_trials_caption(records, varying, shorts),
        caption_justify="left",
        pad_edge=False,
        padding=(0, 0),
        show_edge=False,
    )
    for name in ["trial", "CV acc %", *(shorts[n] for n in varying), "params", "time"]:
        table.add_column(name, justify="right", no_wrap=name in ("trial", "CV acc %"))
    workers = {r.worker for r in records if r.worker}
    distributed = len(workers) > 1 or any(w != "tuner0" for w in workers)
    if distributed:
        table.add_column("worker")
    for record in sorted_records(records):
        marker = "*" if record.trial_id == best_id else ""
        screened = record.hyperparameters.get(SCREENED_KEY)
        table.add_row(
            record.trial_id + marker + (f" <{screened}" if screened is not None else ""),
            _score_cell(record, folds),
            *(format_value(record.hyperparameters.get(name, "-")) for name in varying),
            format_count(record.params),
            format_seconds(record.seconds),
            *([record.worker or "-"] if distributed else []),
        )
    return table


def _trials_caption(records, varying: list[str], shorts: dict[str, str]) -> str | None:
    """The short headers spelled out, and how to read pruned trials and screens."""
    lines = ["  ".join(f"{shorts[n]}={n}" for n in varying if shorts[n] != n)]
    if any(r.state is TrialState.PRUNED and not is_screen(r.hyperparameters) for r in records):
        lines.append(
            "pruned k/K: stopped in or after fold k of K, at the mean shown "
            "(`digit-tuner trial ID` says why)"
        )
    if any(is_screen(r.hyperparameters) for r in records):
        lines.append(
            "screen eN: trained N epochs of fold 1, at its accuracy then; <ID: a full trial "
            "of screen ID's configuration"
        )
    return "\n".join(line for line in lines if line) or None


def _score_cell(record: TrialRecord, folds: int | None) -> str:
    """A trial's CV score; a screen's or a pruned trial's partial score and where it stopped;
    else its state."""
    style = STATE_STYLE.get(record.state, "")
    if record.state is TrialState.COMPLETE:
        return format_score(record.mean, record.std)
    if record.state is TrialState.PRUNED and record.folds and is_screen(record.hyperparameters):
        epochs = record.hyperparameters[SCREEN_KEY]
        return f"[{style}]screen e{epochs}[/{style}] {100 * record.mean:.2f}"
    if record.state is TrialState.PRUNED and record.folds:
        where = f"{len(record.folds)}/{folds}" if folds else f"{len(record.folds)}"
        return f"[{style}]pruned {where}[/{style}] {100 * record.mean:.2f}"
    return f"[{style}]{STATE_LABEL[record.state]}[/{style}]"


_SPARK = "▁▂▃▄▅▆▇█"


def searches_table(summaries) -> Table:
    """The searches of a results directory (``tuner.storage.records.summarize_searches``)."""
    table = compact_table()
    for name, justify in (
        ("search", "left"),
        ("space", "left"),
        ("data", "left"),
        ("trials", "right"),
        ("best CV %", "right"),
        ("state", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=name != "data")
    for s in summaries:
        planned = "?" if s.planned is None else str(s.planned)
        table.add_row(
            s.name,
            s.space,
            _short_source(s.data),
            f"{s.complete}/{s.ended}/{planned}",
            "-" if s.best is None else f"{100 * s.best:.2f}",
            s.state,
        )
    table.caption = "trials: completed/ended/planned"
    table.caption_justify = "left"
    return table


def _short_source(source: str) -> str:
    """A data source, short: embedded, or the training file's folder name."""
    if source.startswith("embedded"):
        return "embedded"
    from pathlib import Path

    return Path(source.split(" (")[0]).parent.name or source


def compact_table(title: str | None = None) -> Table:
    """A borderless table with one space between columns: fits 80 columns."""
    return Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        header_style="bold",
        padding=(0, 0),
        title=title,
        title_justify="left",
        min_width=len(title) if title else None,
    )


def sparkline(values: list[float], low: float | None = None, high: float | None = None) -> str:
    """A one-line curve: ▁▃▅▇ from lowest to highest value."""
    if not values:
        return ""
    low = min(values) if low is None else low
    high = max(values) if high is None else high
    span = (high - low) or 1.0
    return "".join(_SPARK[min(7, max(0, int((v - low) / span * 7.999)))] for v in values)


def trial_detail(record: TrialRecord, varying: list[str]) -> list[Any]:
    """Renderables describing one trial in full."""
    from rich.panel import Panel

    parts: list[Any] = []
    head = f"trial {record.trial_id}: {STATE_LABEL[record.state]}"
    if record.state is TrialState.COMPLETE:
        head += f", CV accuracy {format_score(record.mean, record.std)} %"
        head += f" (out-of-fold {100 * record.oof_accuracy:.2f} %)"
        head += f", {format_count(record.params)} parameters, {format_seconds(record.seconds)}"
    elif record.state is TrialState.PRUNED:
        head += f": {record.reason}"
    parts.append(Text(head))
    hp = compact_table("hyperparameters (* searched)")
    hp.add_column("name")
    hp.add_column("value", justify="right")
    for name, value in record.hyperparameters.items():
        hp.add_row(name + (" *" if name in varying else ""), format_value(value))
    parts.append(hp)
    if record.folds:
        folds = compact_table("folds (curve: validation accuracy per epoch)")
        stopped_early = any(f.best_epoch is not None for f in record.folds)
        columns = ["fold", "val acc %", "val loss", "epochs", "time", "curve"]
        if stopped_early:
            columns.insert(4, "best ep")
        for column in columns:
            folds.add_column(column, justify="left" if column == "curve" else "right")
        curves = [f.history.get("val_accuracy", []) for f in record.folds]
        values = [v for c in curves for v in c]
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
        for fold, curve in zip(record.folds, curves, strict=True):
            folds.add_row(
                str(fold.fold + 1),
                f"{100 * fold.val_accuracy:.2f}",
                f"{fold.val_loss:.4f}",
                str(fold.epochs),
                *([str(fold.best_epoch or "-")] if stopped_early else []),
                format_seconds(fold.train_seconds),
                sparkline(curve, low, high),
            )
        parts.append(folds)
    if record.state is TrialState.FAILED:
        parts.append(
            Panel(
                Text(record.message or "no message"),
                title="failure",
                border_style="red",
                expand=False,
            )
        )
    return parts


def importance_table(items) -> Table:
    table = compact_table()
    table.add_column("hyperparameter")
    table.add_column("share", justify="right")
    table.add_column("", no_wrap=True, min_width=10)
    table.add_column("rank corr.", justify="right")
    table.add_column("better")
    table.add_column("in best", justify="right")
    for item in items:
        bar = "█" * int(round(item.importance * 10))
        if abs(item.correlation) < 0.2:
            better = "unclear"
        else:
            better = "higher" if item.correlation > 0 else "lower"
        table.add_row(
            item.name,
            f"{item.importance:.0%}",
            bar,
            f"{item.correlation:+.2f}",
            better,
            format_value(item.best_value),
        )
    table.caption = (
        "share: of the score's variance (random forest); rank corr.: Spearman's with the score"
    )
    table.caption_justify = "left"
    return table


def eda_tables(summary) -> list[Any]:
    counts = compact_table("class counts")
    counts.add_column("class")
    for label in summary.classes:
        counts.add_column(str(label), justify="right")
    counts.add_row("images", *(str(c) for c in summary.class_counts))
    counts.add_row(
        "share %", *(f"{100 * c / summary.train_size:.1f}" for c in summary.class_counts)
    )
    counts.add_row("mean px", *(f"{m:.0f}" for m in summary.class_mean_intensity))
    lines = [
        f"training images {summary.train_size:,}, test images {summary.test_size:,}",
        f"balance (smallest/largest class) {summary.balance:.2f}",
        f"always-zero pixels: {summary.always_zero_train} of 784 in training, "
        f"{summary.always_zero_test} in test, {summary.always_zero_both} in both",
        f"pixel intensity: mean {summary.pixel_mean:.1f}, std {summary.pixel_std:.1f} (0..255); "
        f"ink (non-zero) {100 * summary.ink_fraction:.1f} % of pixels",
    ]
    return [*lines, counts]


def confusion_table(matrix, classes: tuple[int, ...] = DIGITS) -> Table:
    """The confusion matrix, rows and columns named by the classes' label values."""
    table = compact_table("confusion matrix (rows: true, columns: predicted)")
    table.add_column("true", justify="right")
    for label in classes:
        table.add_column(str(label), justify="right")
    for i, label in enumerate(classes):
        cells = []
        for j in range(len(classes)):
            value = int(matrix[i, j])
            if i == j:
                cells.append(f"[green]{value}[/green]")
            else:
                cells.append(f"[red]{value}[/red]" if value else "[dim]·[/dim]")
        table.add_row(str(label), *cells)
    return table


def per_class_table(analysis) -> Table:
    table = compact_table("per class")
    table.add_column("")
    for label in analysis.classes:
        table.add_column(str(label), justify="right")
    table.add_row("prec. %", *(f"{100 * p:.1f}" for p in analysis.precision))
    table.add_row("recall %", *(f"{100 * r:.1f}" for r in analysis.recall))
    return table


def holdout_table(scores: dict[str, float], chosen: str | None = None) -> Table:
    """Holdout accuracy of each exported candidate (single model, ensemble, with/without TTA)."""
    table = compact_table("holdout accuracy (images kept out of the search and the retrain)")
    table.add_column("candidate")
    table.add_column("accuracy %", justify="right")
    table.add_column("")
    for name, accuracy in scores.items():
        table.add_row(name, f"{100 * accuracy:.2f}", "<- exported" if name == chosen else "")
    return table


def _final_models(plan) -> str:
    """The dry run's line on the export's final models (``tuner.data.splits.final_fits``)."""
    fits = final_fits(plan.final_models, plan.retrain_images, plan.holdout_images)
    if len(fits) == 1:
        return f"the winner retrained on {fits[0]:,} images"
    measured = fits.count(plan.retrain_images) if plan.holdout_images else 0
    every = plan.retrain_images + plan.holdout_images
    trials = plan.final_trials or 1
    if not measured:
        whose = "of the winner" if trials == 1 else f"of the {trials} best trials in turn"
        return f"{len(fits)} models {whose} averaged, each trained on {every:,} images"
    others = (
        "the winner"
        if trials == 1
        else ("the runner-up" if trials == 2 else f"the {trials - 1} runners-up in turn")
    )
    return (
        f"{len(fits)} models averaged: {measured} of the winner trained on "
        f"{plan.retrain_images:,} images (measured on the holdout), {len(fits) - measured} of "
        f"{others} on all {every:,}"
    )


def _final_epochs(plan) -> str:
    """The dry run's words on the final models' epochs: as asked, or under a run budget as many
    as it leaves (``tuner.search.budget.final_epochs_in_time``)."""
    epochs = f"{plan.final_epochs} epochs" if plan.final_epochs else "its own epochs"
    if not plan.run_budget:
        return epochs
    more = ", models after the second only if time is left" if plan.final_models > 2 else ""
    return f"as many epochs as the run budget leaves, up to {epochs}{more}"


# The settings dry_run_lines words in its own lines; every other one a user gives goes on its
# "settings:" line, so that a new setting (tuner.settings) shows there without a change here.
_WORDED = frozenset({"max_trials", "oracle", "prune", "early_stopping", "time_budget",
                     "run_budget", "search_images", "holdout", "final_models", "final_epochs",
                     "final_trials", "folds", "screen"})  # fmt: skip


def _setting_text(value: Any, unit: str) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "none"
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{text} {unit}" if unit else text


def _other_settings(plan) -> str:
    """The ``settings:`` line: each setting a user gives that no other line words."""
    given = [s for s in config_settings() if s.name not in _WORDED and s.name in plan.settings]
    return "  settings:   " + ", ".join(
        f"{s.name.replace('_', ' ')} {_setting_text(plan.settings[s.name], s.unit)}" for s in given
    )


def dry_run_lines(plan) -> list[str]:
    """``search --dry-run``'s report of a ``tuner.search.dryrun.DryRun``."""
    state = (
        f"resumes: {plan.done} of {plan.max_trials} trials ended" if plan.resumes else "new search"
    )
    pruning = "on" if plan.prune else "off"
    early = (
        f", early stopping after {plan.early_stopping} flat epochs" if plan.early_stopping else ""
    )
    budget = f"{plan.time_budget:g} min" if plan.time_budget else "none"
    if plan.budget_stated:
        budget += (
            f" (the space's {plan.budget_stated:g} min for {plan.budget_images:,} images, "
            f"scaled to {plan.retrain_images:,})"
        )
    if plan.run_budget:
        budget += f"; run budget {plan.run_budget:g} min (search and final training)"
    lines = [
        f"plan of {plan.directory} ({state})",
        f"  trials:     {plan.max_trials} ({plan.oracle} oracle, pruning {pruning}{early}); "
        f"time budget {budget}",
        f"  data:       {plan.train_images:,} images searched"
        + (
            f" (a stratified subset of {plan.retrain_images:,})"
            if plan.train_images < plan.retrain_images
            else ""
        )
        + (f", {plan.holdout_images:,} held out" if plan.holdout_images else ""),
        f"  final:      {_final_models(plan)}, " + _final_epochs(plan),
        f"  folds:      {plan.folds} (stratified): {plan.fold_train:,} training and "
        f"{plan.fold_val:,} validation images per fold",
        f"  epochs:     {plan.epochs} per fold, batch {plan.batch_size} (the default point)",
        f"  varying:    {', '.join(plan.varying) or 'nothing'}",
        _other_settings(plan),
    ]
    if plan.screening is not None:
        s = plan.screening
        lines.insert(
            2,
            f"  screening:  rounds of {s.size} configurations trained {s.epochs} epoch(s) of fold "
            f"1, the best {s.promoted} of each round in full",
        )
    if plan.images_per_second:
        trial = plan.trial_seconds
        remaining = plan.trials_left
        lines += [
            f"  speed:      {plan.images_per_second:,.0f} training images/s (the default point, "
            "measured now)",
            f"  estimate:   {format_seconds(plan.epoch_seconds)} per epoch, "
            f"{format_seconds(trial)} per trial, {format_seconds(plan.total_seconds)} for "
            + (
                f"{plan.trials_to_run} of the {remaining} trials to run (as many as the "
                f"{'budgets start' if plan.run_budget else 'time budget starts'})"
                if plan.trials_to_run < remaining
                else f"the {remaining} trial(s) to run"
            )
            + "; pruned trials take less, other points more or less",
        ]
    lines.append("nothing was written (--dry-run)")
    return lines

"""Commands that look into searches and data without training: `searches`, `trials`, `trial`,
`importance`, `eda` and `report`. None of them loads Keras (but `trial --summary`)."""

from __future__ import annotations

import csv
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from tuner.analysis.page import comparison_page, write_page
from tuner.analysis.plots import class_counts_chart, importance_chart, learning_curves, sample_grid
from tuner.analysis.report import analyse, write_report
from tuner.analysis.stats import eda as explore
from tuner.analysis.stats import importance as rank
from tuner.analysis.stats import importance_basis
from tuner.cli.core import app, console, library, user_errors
from tuner.cli.display import show_records
from tuner.cli.options import DataOption, ResultsOption, SearchArgument, SearchDataOption
from tuner.data.kaggle import EMBEDDED, load_data
from tuner.errors import SearchError
from tuner.storage.atomic import write_text_atomic
from tuner.storage.directory import PLOTS_DIR, in_use
from tuner.storage.manifest import open_search, search_dir_for
from tuner.storage.records import summarize_searches
from tuner.ui.tables import (
    confusion_table,
    eda_tables,
    importance_table,
    per_class_table,
    searches_table,
    sorted_records,
    trial_detail,
)

__all__ = ["searches", "trials", "trial", "importance", "eda", "report"]


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class Status(str, Enum):
    complete = "complete"
    pruned = "pruned"
    failed = "failed"
    running = "running"
    damaged = "damaged"


@app.command()
def searches(results_dir: ResultsOption = Path("results")) -> None:
    """List the searches in --results-dir: space, data, trials, best score, state."""
    with user_errors():
        found = summarize_searches(results_dir)
        if not found:
            raise SearchError(f"{results_dir}: no searches yet (run `digit-tuner search` first)")
        console.print(searches_table(found), highlight=False)


@app.command()
def trials(
    search_name: SearchArgument = None,
    results_dir: ResultsOption = Path("results"),
    top: Annotated[
        Optional[int], typer.Option("--top", min=1, help="Show only the N best.")
    ] = None,
    status: Annotated[
        Optional[Status], typer.Option("--status", help="Show only trials in this state.")
    ] = None,
    output: Annotated[
        Format, typer.Option("--format", help="table for people; json or csv for scripts.")
    ] = Format.table,
) -> None:
    """Show a search's trials, best first."""
    with user_errors():
        search = open_search(search_dir_for(results_dir, search_name))
        records = sorted_records(search.records)
        if status is not None:
            records = [r for r in records if r.state.value.lower() == status.value]
        records = records[:top] if top else records
        if output is Format.json:
            typer.echo(json.dumps([r.to_dict() for r in records], indent=2))
        elif output is Format.csv:
            _write_csv(records, search.varying)
        else:
            show_records(search, records)


def _write_csv(records, varying) -> None:
    names = list(dict.fromkeys([*varying, *(n for r in records for n in r.hyperparameters)]))
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(
        ["trial_id", "state", "mean", "std", "oof_accuracy", *names, "params", "seconds", "reason"]
    )
    for r in records:
        values = [r.hyperparameters.get(n) for n in names]
        writer.writerow(
            [r.trial_id, r.state.value, r.mean, r.std, r.oof_accuracy, *values, r.params,
             r.seconds, r.reason]
        )  # fmt: skip


@app.command()
def trial(
    trial_id: Annotated[str, typer.Argument(help="Trial id, as `digit-tuner trials` shows it.")],
    search_name: Annotated[
        Optional[str],
        typer.Option(
            "--search",
            help="Search name or directory (default: the only search in --results-dir).",
            show_default=False,
        ),
    ] = None,
    results_dir: ResultsOption = Path("results"),
    summary: Annotated[
        bool, typer.Option("--summary", help="Also build its model and print Keras' summary.")
    ] = False,
) -> None:
    """Show one trial in full: hyperparameters, folds, learning curves, failure (and model)."""
    with user_errors():
        search = open_search(search_dir_for(results_dir, search_name))
        directory, record = search.directory, search.record(trial_id)
        for part in trial_detail(record, search.varying):
            console.print(part, highlight=False)
        if record.folds:
            path = learning_curves(record, directory / PLOTS_DIR / f"trial_{trial_id}_curves.png")
            console.print(f"learning curves: {path}", highlight=False)
        if summary:
            for line in library().model_summary(search, trial_id):
                console.print(line, highlight=False, markup=False)


@app.command()
def importance(
    search_name: SearchArgument = None,
    results_dir: ResultsOption = Path("results"),
) -> None:
    """Rank the hyperparameters by how much they move the CV score."""
    with user_errors():
        search = open_search(search_dir_for(results_dir, search_name))
        records, measure = importance_basis(search.records)
        console.print(f"{search.directory.name}: {measure}", highlight=False)
        if not records:  # nothing to rank yet: said, and not an error
            return
        items = rank(records, search.varying, seed=search.seed)
        console.print(importance_table(items), highlight=False)
        path = importance_chart(
            items, search.directory / PLOTS_DIR / "importance.png", len(records)
        )
        console.print(f"plot: {path}", highlight=False)


@app.command()
def eda(
    data: DataOption = None,
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out", help="Where the pictures go (default: results/eda-<data>).", show_default=False
        ),
    ] = None,
) -> None:
    """Explore the data: class balance, always-zero pixels, intensities, sample digits."""
    with user_errors():
        digits = load_data(data)
        summary = explore(digits)
        for part in eda_tables(summary):
            console.print(part, highlight=False)
        label = EMBEDDED if data is None or data == EMBEDDED else Path(data).resolve().name
        out = out or Path("results") / f"eda-{label}"
        counts = class_counts_chart(summary.class_counts, out / "class_counts.png", summary.classes)
        samples = sample_grid(
            digits.train.images, digits.train.labels, out / "samples.png", digits.classes
        )
        console.print(f"pictures:\n  {counts}\n  {samples}", highlight=False)


@app.command()
def report(
    search_names: Annotated[
        Optional[list[str]],
        typer.Argument(
            help="Search name or directory (default: the only search in --results-dir); two or "
            "more: one page comparing them.",
            show_default=False,
        ),
    ] = None,
    data: SearchDataOption = None,
    trial_id: Annotated[
        Optional[str],
        typer.Option("--trial", help="Trial to analyse (default: the best).", show_default=False),
    ] = None,
    results_dir: ResultsOption = Path("results"),
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out", help="The comparison page (default: results/compare.html).", show_default=False
        ),
    ] = None,
) -> None:
    """Error analysis of the winner's out-of-fold predictions (no leakage), and the search's
    page, report.html; with several searches, one page comparing them."""
    with user_errors():
        if search_names and len(search_names) > 1:
            return _compare(search_names, results_dir, out)
        search_name = search_names[0] if search_names else None
        search = open_search(search_dir_for(results_dir, search_name))
        digits = load_data(data or search.data_source, test=False)
        record, analysis = analyse(search, digits, trial_id)
        console.print(
            f"trial {record.trial_id}: out-of-fold accuracy {100 * analysis.accuracy:.2f} % on "
            f"{len(analysis.correct):,} training images ({len(analysis.wrong):,} wrong); each "
            "image predicted by the fold model that did not train on it",
            highlight=False,
        )
        _print_analysis(analysis)
        # the augmentation's copies are drawn by Keras' own layer: the one step that loads it
        augmented = library().augmented_samples(search, digits.train.images, digits.train.labels)
        paths = write_report(search, analysis, digits, search.directory / PLOTS_DIR, augmented)
        console.print("pictures:\n" + "\n".join(f"  {p}" for p in paths), highlight=False)
        page = write_page(search.directory, live=in_use(search.directory))
        console.print(f"page: {page} (one file; opens offline in any browser)", highlight=False)


def _compare(names: list[str], results_dir: Path, out: Path | None) -> None:
    searches = [open_search(search_dir_for(results_dir, name)) for name in names]
    path = out or Path(results_dir) / "compare.html"
    write_text_atomic(path, comparison_page(searches))
    console.print(f"page: {path} (one file; opens offline in any browser)", highlight=False)


def _print_analysis(analysis) -> None:
    console.print(confusion_table(analysis.confusion, analysis.classes), highlight=False)
    console.print(per_class_table(analysis), highlight=False)
    mistakes = ", ".join(f"{t}→{p} ×{n}" for t, p, n in analysis.top_confusions(5))
    console.print(f"most frequent mistakes (true→predicted): {mistakes or 'none'}", highlight=False)
    right = analysis.confidence[analysis.correct]
    wrong = analysis.confidence[~analysis.correct]
    console.print(
        f"median confidence: right {np.median(right):.3f}, wrong "
        f"{np.median(wrong) if len(wrong) else float('nan'):.3f}",
        highlight=False,
    )

"""Commands that export a search's winner or predict with an exported model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tuner.cli.core import app, console, library, user_errors
from tuner.cli.display import show_export
from tuner.cli.options import (
    EnsembleOption,
    MixedPrecisionOption,
    ResultsOption,
    SearchArgument,
    SearchDataOption,
    TtaOption,
)
from tuner.data.kaggle import load_data
from tuner.storage.manifest import open_search, search_dir_for
from tuner.ui.reporters import make_reporter

__all__ = ["export", "predict"]


@app.command()
def export(
    search_name: SearchArgument = None,
    data: SearchDataOption = None,
    results_dir: ResultsOption = Path("results"),
    mixed_precision: MixedPrecisionOption = None,
    ensemble: EnsembleOption = "none",
    tta: TtaOption = None,
) -> None:
    """Retrain the best trial on all training data (or build an ensemble); save best.keras and
    submission.csv. With a search's holdout, every candidate is scored on it first."""
    with user_errors():
        directory = search_dir_for(results_dir, search_name)
        digits = load_data(data or open_search(directory).data_source)
        pipeline = library()
        reporter = make_reporter(console)
        try:
            result = pipeline.export_best(
                directory, digits, reporter, mixed_precision=mixed_precision,
                ensemble=ensemble, tta=tta,
            )  # fmt: skip
        finally:
            reporter.close()
        show_export(result)


@app.command()
def predict(
    model: Annotated[Path, typer.Argument(help="An exported model (best.keras).")],
    data: Annotated[
        Path, typer.Option("--data", help="A test CSV (pixel0..pixel783), plain or .csv.gz.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Where the submission goes.")] = Path(
        "submission.csv"
    ),
) -> None:
    """Write a Kaggle submission for a test CSV with any exported model.

    Its labels are its search's classes, from the search.json beside it; without one, only a
    digits model (10 outputs, labels 0-9) is labelled."""
    with user_errors():
        rows = library().predict_file(model, data, out)
        console.print(f"submission: {out} ({rows:,} rows)", highlight=False)

"""The ``digit-tuner`` command: thin Typer commands over the library API.

Each command validates its inputs first (data, search space, options), so a bad input costs no
training and writes nothing; a ``UserError`` becomes one ``error:`` line and exit status 2.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from tuner.errors import UserError

app = typer.Typer(
    name="digit-tuner",
    help="Hyperparameter search for the Kaggle Digit Recognizer: stratified K-fold CV on augmented "
    "folds, the winner retrained on all data, a submission.csv.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console()
err_console = Console(stderr=True)

DataOption = Annotated[
    Optional[str],
    typer.Option("--data", help="Directory with train.csv[.gz] and test.csv[.gz]; default: the "
                 "embedded 5,000 MNIST digits.", show_default=False),
]
SpaceOption = Annotated[
    str, typer.Option("--space", help="Search space: a bundled name (quick, v5) or a TOML path.")
]
NameOption = Annotated[
    Optional[str],
    typer.Option("--name", help="Search name (its directory under --results-dir); default: "
                 "<space>-<data>.", show_default=False),
]
ResultsOption = Annotated[
    Path, typer.Option("--results-dir", help="Where searches are kept.")
]
TrialsOption = Annotated[
    Optional[int],
    typer.Option("--trials", min=1, help="Trials in all (default: the space's max_trials); a "
                 "resumed search runs the missing ones.", show_default=False),
]
FoldsOption = Annotated[
    Optional[int],
    typer.Option("--folds", help="K of the stratified K-fold CV (default: the space's folds).",
                 show_default=False),
]
SeedOption = Annotated[int, typer.Option("--seed", help="Seeds the oracle, the folds and the models.")]
OverwriteOption = Annotated[
    bool, typer.Option("--overwrite", help="Delete an existing search of that name and start anew.")
]
FailuresOption = Annotated[
    int, typer.Option("--max-failures", min=1, help="Stop after this many failed trials in a row.")
]
InProcessOption = Annotated[
    bool, typer.Option("--in-process", help="Train trials in this process instead of a fresh "
                       "worker per trial (for debugging; memory grows over a long search).")
]
SearchArgument = Annotated[
    Optional[str],
    typer.Argument(help="Search name or directory (default: the only search in --results-dir).",
                   show_default=False),
]


def main() -> None:
    """Console-script entry point."""
    app()


@contextlib.contextmanager
def _user_errors():
    """Turns a UserError into one line on stderr and exit status 2."""
    try:
        yield
    except UserError as e:
        err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(e.exit_code) from None


def _import_keras() -> None:
    from tuner.backend import import_keras_quietly

    import_keras_quietly()


def _default_name(space_name: str, data: str | None) -> str:
    from tuner.data import EMBEDDED

    label = EMBEDDED if data is None or data == EMBEDDED else Path(data).resolve().name
    return f"{space_name}-{label}"


def _search(data, space, name, results_dir, trials, folds, seed, overwrite, max_failures,
            in_process, *, with_test: bool):
    """Loads and checks everything, then runs the search. Returns (data, space, result)."""
    from tuner.data import load_data
    from tuner.render import make_reporter
    from tuner.search import SearchConfig, run_search
    from tuner.space import load_space

    space_obj = load_space(space)
    digits = load_data(data, test=with_test)
    config = SearchConfig(
        name=name or _default_name(space_obj.name, data), results_dir=results_dir,
        max_trials=trials, folds=folds, seed=seed, overwrite=overwrite,
        max_consecutive_failures=max_failures, isolate=not in_process,
    )
    _import_keras()
    reporter = make_reporter(console, space_obj.varying())
    try:
        result = run_search(digits.train, space_obj, config, reporter)
    except KeyboardInterrupt:
        result = None
    finally:
        reporter.close()
    if result is None:
        _interrupted(config.directory)
    return digits, space_obj, result


def _interrupted(directory: Path) -> None:
    from tuner.records import TrialState, load_records
    from tuner.search import TUNER_DIR

    done = sum(r.state is TrialState.COMPLETE for r in load_records(directory / TUNER_DIR))
    err_console.print(
        f"interrupted: {done} completed trial(s) kept in {directory}; "
        "run the same command again to resume", highlight=False, soft_wrap=True,
    )
    raise typer.Exit(130)


def _show_trials(directory: Path, top: int | None = None) -> None:
    from tuner.records import best_record, load_records
    from tuner.render import sorted_records, trials_table
    from tuner.search import TUNER_DIR, read_manifest

    manifest = read_manifest(directory)
    records = load_records(directory / TUNER_DIR)
    best = best_record(records)
    shown = sorted_records(records)[:top] if top else records
    console.print(trials_table(shown, manifest["space"].get("varying", []),
                               title=f"{directory.name}: {len(records)} trials",
                               best_id=best.trial_id if best else None))


def _export(directory: Path, digits) -> None:
    from tuner.export import export_best
    from tuner.render import format_score, make_reporter

    _import_keras()
    reporter = make_reporter(console)
    try:
        result = export_best(directory, digits, reporter)
    finally:
        reporter.close()
    best = result.best
    console.print(
        f"[bold]best trial {best.trial_id}[/]: CV accuracy {format_score(best.mean, best.std)} % "
        f"over {len(best.folds)} folds", highlight=False,
    )
    console.print(f"model:      {result.model_path}", highlight=False)
    console.print(f"submission: {result.submission_path} ({result.rows:,} rows)", highlight=False)
    if result.test_accuracy is not None:
        console.print(f"test accuracy (embedded labels, unseen by the search): "
                      f"{100 * result.test_accuracy:.2f} %", highlight=False)


def _data_of(manifest) -> str:
    from tuner.data import EMBEDDED

    source = manifest["data"]["source"]
    return EMBEDDED if source.startswith("embedded:") else str(Path(source).parent)


@app.command()
def search(
    data: DataOption = None,
    space: SpaceOption = "quick",
    name: NameOption = None,
    results_dir: ResultsOption = Path("results"),
    trials: TrialsOption = None,
    folds: FoldsOption = None,
    seed: SeedOption = 0,
    overwrite: OverwriteOption = False,
    max_failures: FailuresOption = 3,
    in_process: InProcessOption = False,
) -> None:
    """Launch a search, or resume it (the same command continues where it stopped)."""
    with _user_errors():
        _, _, result = _search(data, space, name, results_dir, trials, folds, seed, overwrite,
                               max_failures, in_process, with_test=False)
        _show_trials(result.directory)
        if result.best is None:
            raise _no_completed(result.directory)


def _no_completed(directory: Path) -> UserError:
    from tuner.errors import SearchError

    return SearchError(f"{directory}: no trial completed; see `digit-tuner trials` for the reasons")


@app.command()
def trials(
    search_name: SearchArgument = None,
    results_dir: ResultsOption = Path("results"),
    top: Annotated[Optional[int], typer.Option("--top", min=1, help="Show only the N best.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the records as JSON.")] = False,
) -> None:
    """Show a search's trials, best first."""
    from tuner.search import search_dir_for

    with _user_errors():
        directory = search_dir_for(results_dir, search_name)
        if as_json:
            from tuner.records import load_records
            from tuner.render import sorted_records
            from tuner.search import TUNER_DIR

            records = sorted_records(load_records(directory / TUNER_DIR))[:top]
            typer.echo(json.dumps([r.to_dict() for r in records], indent=2))
            return
        _show_trials(directory, top)


@app.command()
def export(
    search_name: SearchArgument = None,
    data: Annotated[
        Optional[str],
        typer.Option("--data", help="Data directory (default: the one the search used).",
                     show_default=False),
    ] = None,
    results_dir: ResultsOption = Path("results"),
) -> None:
    """Retrain the best trial on all training data; save best.keras and submission.csv."""
    from tuner.data import load_data
    from tuner.search import read_manifest, search_dir_for

    with _user_errors():
        directory = search_dir_for(results_dir, search_name)
        digits = load_data(data or _data_of(read_manifest(directory)))
        _export(directory, digits)


@app.command()
def run(
    data: DataOption = None,
    space: SpaceOption = "quick",
    name: NameOption = None,
    results_dir: ResultsOption = Path("results"),
    trials: TrialsOption = None,
    folds: FoldsOption = None,
    seed: SeedOption = 0,
    overwrite: OverwriteOption = False,
    max_failures: FailuresOption = 3,
    in_process: InProcessOption = False,
) -> None:
    """Search, then export the winner: the whole job in one command."""
    with _user_errors():
        digits, _, result = _search(data, space, name, results_dir, trials, folds, seed, overwrite,
                                    max_failures, in_process, with_test=True)
        _show_trials(result.directory)
        if result.best is None:
            raise _no_completed(result.directory)
        _export(result.directory, digits)


if __name__ == "__main__":
    main()

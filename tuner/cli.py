"""The ``digit-tuner`` command: thin Typer commands over the library API.

Each command validates its inputs first (data, search space, options), so a bad input costs no
training and writes nothing; a ``UserError`` becomes one ``error:`` line and exit status 2.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import sys
import typing
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from tuner.errors import UserError
from tuner.store import PLOTS_DIR

app = typer.Typer(
    name="digit-tuner",
    help="Hyperparameter search for the Kaggle Digit Recognizer: stratified K-fold CV on augmented "
    "folds, the winner retrained on all data, a submission.csv.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


REDIRECTED_WIDTH = 160


def console_width(stream, environ=os.environ) -> int | None:
    """The width to render at (None: rich's own). Rich gives a stream that is no terminal 80
    columns unless ``COLUMNS`` says otherwise, and then cuts table cells to fit: with the `full`
    space's eleven varying hyperparameters, ``digit-tuner trials NAME > trials.txt`` wrote
    "0.0…" for every learning rate. A file or a pipe has no width, so it gets room."""
    if environ.get("COLUMNS") or (hasattr(stream, "isatty") and stream.isatty()):
        return None
    return REDIRECTED_WIDTH


console = Console(width=console_width(sys.stdout))
err_console = Console(stderr=True, width=console_width(sys.stderr))

DataOption = Annotated[
    Optional[str],
    typer.Option(
        "--data",
        help="Directory with train.csv[.gz] and test.csv[.gz]; default: the "
        "embedded 5,000 MNIST digits.",
        show_default=False,
    ),
]
SpaceOption = Annotated[
    Optional[str],
    typer.Option(
        "--space",
        help="Search space: a bundled name (quick, v5) or a TOML path (default: quick). "
        "With --model, only its search table (defaults for trials, folds, ...) is used.",
        show_default=False,
    ),
]
DryRunOption = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Show the merged plan (trials, folds, images per fold, epochs, where it writes) and "
        "a time estimate from a few seconds of calibration; train and write nothing.",
    ),
]
ModelOption = Annotated[
    Optional[str],
    typer.Option(
        "--model",
        help="Your own hypermodel, FILE.py:FUNCTION: a KerasTuner-style build(hp) (or a "
        "keras_tuner.HyperModel) returning a model of (28, 28, 1) images in 0..1 to 10 "
        "probabilities; its hp.* declarations are the search space.",
        show_default=False,
    ),
]
NameOption = Annotated[
    Optional[str],
    typer.Option(
        "--name",
        help="Search name (its directory under --results-dir); default: <space>-<data>.",
        show_default=False,
    ),
]
ResultsOption = Annotated[Path, typer.Option("--results-dir", help="Where searches are kept.")]
TrialsOption = Annotated[
    Optional[int],
    typer.Option(
        "--trials",
        help="Trials in all (default: the space's max_trials); a "
        "resumed search runs the missing ones.",
        show_default=False,
    ),
]
FoldsOption = Annotated[
    Optional[int],
    typer.Option(
        "--folds",
        help="K of the stratified K-fold CV (default: the space's folds).",
        show_default=False,
    ),
]
SeedOption = Annotated[
    int, typer.Option("--seed", help="Seeds the oracle, the folds and the models.")
]
OverwriteOption = Annotated[
    bool, typer.Option("--overwrite", help="Delete an existing search of that name and start anew.")
]
FailuresOption = Annotated[
    int, typer.Option("--max-failures", help="Stop after this many failed trials in a row.")
]


class Oracle(str, Enum):
    random = "random"
    bayesian = "bayesian"
    hyperband = "hyperband"


OracleOption = Annotated[
    Optional[Oracle],
    typer.Option(
        "--oracle",
        help="keras-tuner oracle that picks the trials (default: the space's, else random).",
        show_default=False,
    ),
]
PruneOption = Annotated[
    Optional[bool],
    typer.Option(
        "--prune/--no-prune",
        help="Stop a trial after a fold when it cannot reach the best trial "
        "(random, bayesian; default: the space's).",
        show_default=False,
    ),
]
EarlyStoppingOption = Annotated[
    Optional[int],
    typer.Option(
        "--early-stopping",
        help="Patience in epochs: stop a fold when accuracy on 10 % of its training part stops "
        "improving, and retrain the winner for its best epoch (0: off; default: the space's).",
        show_default=False,
    ),
]
TimeBudgetOption = Annotated[
    Optional[float],
    typer.Option(
        "--time-budget",
        help="Minutes: start no trial that would end past this, judging by the longest "
        "finished trial (0: no budget; default: the space's).",
        show_default=False,
    ),
]
RunBudgetOption = Annotated[
    Optional[float],
    typer.Option(
        "--run-budget",
        help="Minutes for the search and the export's retrain together: start no trial that "
        "would leave too little for the retrain, estimated from the best trial's speed "
        "(0: no budget; default: the space's).",
        show_default=False,
    ),
]
MixedPrecisionOption = Annotated[
    Optional[bool],
    typer.Option(
        "--mixed-precision/--no-mixed-precision",
        help="float16 compute with float32 weights (default: on where a GPU is, off on a CPU).",
        show_default=False,
    ),
]
HoldoutOption = Annotated[
    Optional[float],
    typer.Option(
        "--holdout",
        help="Keep this stratified fraction of the training data out of the search and the "
        "retrain, to score the exported recipes on it (e.g. 0.1).",
        show_default=False,
    ),
]
ScreenOption = Annotated[
    Optional[int],
    typer.Option(
        "--screen",
        help="Screen, then search: rounds of N random configurations trained for a couple of "
        "epochs of fold 1, the best third of them in full (default: the space's; 0: off).",
        show_default=False,
    ),
]
SearchImagesOption = Annotated[
    Optional[int],
    typer.Option(
        "--search-images",
        help="Run the search's folds on a stratified subset of this many images (more "
        "configurations for the time); the export still retrains on all. 0: all.",
        show_default=False,
    ),
]
FinalEpochsOption = Annotated[
    Optional[int],
    typer.Option(
        "--final-epochs",
        help="Epochs of the export's retrain on all the data (default: the space's, else the "
        "winner's own). 0: the winner's.",
        show_default=False,
    ),
]
EnsembleOption = Annotated[
    str,
    typer.Option(
        "--ensemble",
        help="none: the winner retrained on all data; folds: the average of the winner's fold "
        "models (no retrain); top-K: the K best trials retrained and averaged.",
    ),
]
TtaOption = Annotated[
    Optional[int],
    typer.Option(
        "--tta",
        help="Average predictions over the image and its 1-pixel shifts: 1 (off), 5 or 9 "
        "(default: 5 if it scores higher on the holdout, else off).",
        show_default=False,
    ),
]
TrialTimeoutOption = Annotated[
    Optional[float],
    typer.Option(
        "--trial-timeout",
        help="Minutes: stop a trial still running after this and mark it failed (default: the "
        "time budget, else the run budget, if any; 0: no limit).",
        show_default=False,
    ),
]
SearchDataOption = Annotated[
    Optional[str],
    typer.Option(
        "--data", help="Data directory (default: the one the search used).", show_default=False
    ),
]
InProcessOption = Annotated[
    bool,
    typer.Option(
        "--in-process",
        help="Train trials in this process instead of a fresh "
        "worker per trial (for debugging; memory grows over a long search).",
    ),
]
SearchArgument = Annotated[
    Optional[str],
    typer.Argument(
        help="Search name or directory (default: the only search in --results-dir).",
        show_default=False,
    ),
]


def main() -> None:
    """Console-script entry point."""
    import signal

    def terminate(signum, frame):
        # SIGTERM (`kill`, `timeout`, a batch scheduler) takes the Ctrl-C path: the search stops
        # cleanly and every process it started is stopped with it.
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGTERM, terminate)
    app()


@contextlib.contextmanager
def _user_errors():
    """Turns a UserError into one line on stderr and exit status 2, a SearchFailure into one line
    and exit status 1 (a distributed worker stopped by too many failures: STOPPED_STATUS, so that
    its launcher does not restart it)."""
    from tuner.distributed import STOPPED_STATUS, role
    from tuner.errors import SearchFailure
    from tuner.search import TooManyFailures

    try:
        yield
    except (UserError, SearchFailure) as e:
        from tuner.pipeline import SearchInterrupted

        prefix = "" if isinstance(e, SearchInterrupted) else "[bold red]error:[/] "
        err_console.print(f"{prefix}{escape(str(e))}", highlight=False, soft_wrap=True)
        code = e.exit_code
        if isinstance(e, TooManyFailures) and role() == "worker":
            code = STOPPED_STATUS
        raise typer.Exit(code) from None


def _import_keras():
    from tuner.backend import import_keras_quietly

    return import_keras_quietly()


# The options of `search` and `run` that make their SearchConfig
SEARCH_OPTIONS = (
    "name",
    "results_dir",
    "trials",
    "folds",
    "seed",
    "overwrite",
    "max_failures",
    "in_process",
    "oracle",
    "prune",
    "early_stopping",
    "time_budget",
    "run_budget",
    "mixed_precision",
    "holdout",
    "search_images",
    "final_epochs",
    "trial_timeout",
    "screen",
)


def _search_parameters() -> list[inspect.Parameter]:
    """The options that describe a search, shared by `search` and `run` (``with_search_options``)."""
    shared = [
        ("data", DataOption, None),
        ("space", SpaceOption, None),
        ("model", ModelOption, None),
        ("name", NameOption, None),
        ("results_dir", ResultsOption, Path("results")),
        ("trials", TrialsOption, None),
        ("folds", FoldsOption, None),
        ("seed", SeedOption, 0),
        ("overwrite", OverwriteOption, False),
        ("max_failures", FailuresOption, 3),
        ("in_process", InProcessOption, False),
        ("oracle", OracleOption, None),
        ("prune", PruneOption, None),
        ("early_stopping", EarlyStoppingOption, None),
        ("time_budget", TimeBudgetOption, None),
        ("run_budget", RunBudgetOption, None),
        ("mixed_precision", MixedPrecisionOption, None),
        ("holdout", HoldoutOption, None),
        ("search_images", SearchImagesOption, None),
        ("final_epochs", FinalEpochsOption, None),
        ("trial_timeout", TrialTimeoutOption, None),
        ("screen", ScreenOption, None),
        ("dry_run", DryRunOption, False),
    ]
    return [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
        for name, kind, default in shared
    ]


def with_search_options(command):
    """The command takes the search options (``_search_parameters``) before its own, and gets
    them in its ``**options``: one list of options for `search` and `run`."""
    hints = typing.get_type_hints(command, include_extras=True)  # Annotated[..., typer.Option]
    own = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation))
        for p in inspect.signature(command).parameters.values()
        if p.kind is not inspect.Parameter.VAR_KEYWORD
    ]

    @functools.wraps(command)
    def wrapper(**kwargs):
        return command(**kwargs)

    wrapper.__signature__ = inspect.Signature([*_search_parameters(), *own], return_annotation=None)
    return wrapper


def _settings(options: dict) -> dict:
    """The SearchConfig fields among a search command's options (its ``locals()``)."""
    kwargs = {key: options[key] for key in SEARCH_OPTIONS if key in options}
    kwargs["isolate"] = not kwargs.pop("in_process", False)
    kwargs["max_trials"] = kwargs.pop("trials", None)
    kwargs["max_consecutive_failures"] = kwargs.pop("max_failures", 3)
    if kwargs.get("oracle") is not None:
        kwargs["oracle"] = kwargs["oracle"].value
    return kwargs


def _dry_run(data, space, model, settings: dict) -> None:
    """Prints the plan of the search these options describe; writes nothing."""
    from tuner.dryrun import dry_run
    from tuner.pipeline import prepare
    from tuner.render import dry_run_lines

    job = prepare(data, space, model=model, **settings)
    _import_keras()
    for line in dry_run_lines(dry_run(job.data.train, job.space, job.config)):
        console.print(line, highlight=False, soft_wrap=True)


def _reporter(varying):
    from tuner.render import make_reporter

    return make_reporter(console, varying)


def _with_reporter(varying, call):
    """``call(reporter)`` with the terminal's reporter, closed after (also on an error)."""
    _import_keras()
    reporter = _reporter(varying)
    try:
        return call(reporter)
    finally:
        reporter.close()


def _search(job, **distributed):
    """Runs the job's search with the terminal's reporter (``tuner.pipeline.search``)."""
    from tuner.pipeline import search

    return _with_reporter(job.space.varying(), lambda r: search(job, r, **distributed))


def _resume(directory: Path, **options):
    """Goes on with a search (``tuner.pipeline.resume``) with the terminal's reporter."""
    from tuner.manifest import read_manifest
    from tuner.pipeline import resume

    varying = read_manifest(directory)["space"].get("varying", [])
    return _with_reporter(varying, lambda r: resume(directory, r, **options))


def _show_trials(directory: Path, shown=None) -> None:
    from tuner.manifest import open_search

    _show_records(open_search(directory), shown)


def _show_records(search, shown=None) -> None:
    """The trials table of a ``tuner.manifest.SearchHandle`` (``shown``: a subset), and the best."""
    from tuner.render import sorted_records, trials_table

    best = search.best
    console.print(
        trials_table(
            sorted_records(search.records) if shown is None else shown,
            search.varying,
            title=f"{search.directory.name}: {len(search.records)} trials",
            best_id=best.trial_id if best else None,
            folds=search.folds,
        )
    )
    if best is not None:
        console.print(
            f"best: trial {best.trial_id}, out-of-fold accuracy {100 * best.oof_accuracy:.2f} % "
            f"over {sum(f.val_size for f in best.folds):,} training images",
            highlight=False,
        )


def _export(directory: Path, digits, options: dict) -> None:
    from tuner.export import export_best
    from tuner.render import format_score, holdout_table, make_reporter

    _import_keras()
    reporter = make_reporter(console)
    try:
        result = export_best(directory, digits, reporter, **options)
    finally:
        reporter.close()
    best = result.best
    console.print(
        f"[bold]best trial {best.trial_id}[/]: CV accuracy {format_score(best.mean, best.std)} % "
        f"over {len(best.folds)} folds; out-of-fold accuracy {100 * best.oof_accuracy:.2f} % "
        f"on {sum(f.val_size for f in best.folds):,} images",
        highlight=False,
    )
    if result.holdout:
        console.print(holdout_table(result.holdout, chosen=_chosen(result)))
    recipe = "single model" if result.ensemble == "none" else f"ensemble {result.ensemble}"
    tta = f", TTA x{result.tta}" if result.tta > 1 else ""
    console.print(f"exported:   {recipe}{tta}", highlight=False)
    console.print(f"model:      {result.model_path}", highlight=False)
    console.print(f"submission: {result.submission_path} ({result.rows:,} rows)", highlight=False)
    if result.estimate is not None:
        e = result.estimate
        console.print(
            f"expected:   {100 * e.accuracy:.2f} % ± {100 * e.ci95:.2f} (95 %, {e.method}, "
            f"{e.images:,} images): {e.note}",
            highlight=False,
            soft_wrap=True,
        )
    if result.test_accuracy is not None:
        console.print(
            f"test accuracy (embedded labels, unseen by the search): "
            f"{100 * result.test_accuracy:.2f} %",
            highlight=False,
        )


def _chosen(result) -> str:
    from tuner.export import candidate_name

    return candidate_name(result.ensemble, result.tta)


@app.command()
@with_search_options
def search(
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=0,
            help="Run a keras-tuner chief and N local worker processes (0: one process, no chief).",
        ),
    ] = 0,
    bind: Annotated[
        str,
        typer.Option(
            "--bind",
            help="Address the chief listens on (with --workers); "
            "0.0.0.0 lets workers on other machines join.",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        Optional[int],
        typer.Option("--port", help="The chief's port (default: a free one).", show_default=False),
    ] = None,
    **options,
) -> None:
    """Launch a search, or resume it (the same command continues where it stopped)."""
    settings = _settings(options)
    data, space, model = options["data"], options["space"], options["model"]
    with _user_errors():
        if options["dry_run"]:
            return _dry_run(data, space, model, settings)
        from tuner.pipeline import prepare

        job = prepare(data, space, model=model, **settings)
        result = _search(job, workers=workers, bind=bind, port=port)
        _show_trials(result.directory)
        if result.best is None:
            raise _no_completed(result.directory)


@app.command()
def worker(
    chief: Annotated[str, typer.Option("--chief", help="The chief's HOST:PORT.")],
    worker_id: Annotated[
        Optional[str],
        typer.Option(
            "--id",
            help="This worker's id (default: the host name). "
            "Give a restarted worker its old id: the chief hands it back "
            "its unfinished trial.",
            show_default=False,
        ),
    ] = None,
    search_name: SearchArgument = None,
    results_dir: ResultsOption = Path("results"),
    data: Annotated[
        Optional[str],
        typer.Option(
            "--data",
            help="Where the training data is on this machine (default: where the chief loaded "
            "it); it must be the same data.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Join a distributed search: run trials that the chief at HOST:PORT hands out, with the
    settings of the search's search.json (the results directory is shared with the chief)."""
    import socket

    from tuner.errors import SearchError
    from tuner.manifest import search_dir_for

    with _user_errors():
        host, _, port = chief.rpartition(":")
        if not host or not port.isdigit():
            raise SearchError(f"--chief must be HOST:PORT, got {chief!r}")
        worker_id = worker_id or socket.gethostname()
        if "chief" in worker_id:
            raise SearchError(f"a worker id must not contain 'chief', got {worker_id!r}")
        directory = search_dir_for(results_dir, search_name)
        os.environ.update(
            KERASTUNER_TUNER_ID=worker_id, KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=port
        )
        _resume(directory, data=data)


@app.command()
def resume(
    search_name: SearchArgument = None,
    results_dir: ResultsOption = Path("results"),
    trials: TrialsOption = None,
    time_budget: TimeBudgetOption = None,
    run_budget: RunBudgetOption = None,
    trial_timeout: TrialTimeoutOption = None,
) -> None:
    """Go on with a search, with the data, space and settings it was started with (search.json)."""
    from tuner.manifest import search_dir_for

    with _user_errors():
        directory = search_dir_for(results_dir, search_name)
        result = _resume(
            directory,
            max_trials=trials,
            time_budget=time_budget,
            run_budget=run_budget,
            trial_timeout=trial_timeout,
        )
        _show_trials(result.directory)
        if result.best is None:
            raise _no_completed(result.directory)


def _no_completed(directory: Path) -> UserError:
    from tuner.errors import SearchError

    return SearchError(f"{directory}: no trial completed; see `digit-tuner trials` for the reasons")


@app.command()
def searches(results_dir: ResultsOption = Path("results")) -> None:
    """List the searches in --results-dir: space, data, trials, best score, state."""
    from tuner.errors import SearchError
    from tuner.records import summarize_searches
    from tuner.render import searches_table

    with _user_errors():
        found = summarize_searches(results_dir)
        if not found:
            raise SearchError(f"{results_dir}: no searches yet (run `digit-tuner search` first)")
        console.print(searches_table(found), highlight=False)


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class Status(str, Enum):
    complete = "complete"
    pruned = "pruned"
    failed = "failed"
    running = "running"


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
    from tuner.manifest import open_search, search_dir_for
    from tuner.render import sorted_records

    with _user_errors():
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
            _show_records(search, records)


def _write_csv(records, varying) -> None:
    import csv
    import sys

    names = list(dict.fromkeys([*varying, *(n for r in records for n in r.hyperparameters)]))
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(
        ["trial_id", "state", "mean", "std", "oof_accuracy", *names, "params", "seconds", "reason"]
    )
    for r in records:
        writer.writerow(
            [
                r.trial_id,
                r.state.value,
                r.mean,
                r.std,
                r.oof_accuracy,
                *(r.hyperparameters.get(n) for n in names),
                r.params,
                r.seconds,
                r.reason,
            ]
        )


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
) -> None:
    """Show one trial in full: hyperparameters, folds, learning curves, model, failure."""
    from tuner.manifest import open_search, search_dir_for
    from tuner.plots import learning_curves
    from tuner.render import trial_detail

    with _user_errors():
        search = open_search(search_dir_for(results_dir, search_name))
        directory, record = search.directory, search.record(trial_id)
        for part in trial_detail(record, search.varying):
            console.print(part, highlight=False)
        if record.folds:
            path = learning_curves(record, directory / PLOTS_DIR / f"trial_{trial_id}_curves.png")
            console.print(f"learning curves: {path}", highlight=False)
        keras = _import_keras()
        from tuner.hypermodel import space_of_search
        from tuner.model import build, resolve_values

        space = space_of_search(search.manifest, directory)
        model = build(resolve_values(record.hyperparameters, space), space=space)
        model.summary(print_fn=lambda line, **_: console.print(line, highlight=False, markup=False))
        keras.backend.clear_session()


@app.command()
def importance(
    search_name: SearchArgument = None,
    results_dir: ResultsOption = Path("results"),
) -> None:
    """Rank the hyperparameters by how much they move the CV score."""
    from tuner.analysis import first_fold_records
    from tuner.analysis import importance as rank
    from tuner.manifest import open_search, search_dir_for
    from tuner.plots import importance_chart
    from tuner.records import TrialState
    from tuner.render import importance_table

    with _user_errors():
        search = open_search(search_dir_for(results_dir, search_name))
        directory, records = search.directory, search.records
        complete = sum(r.state is TrialState.COMPLETE for r in records)
        measure = f"{complete} completed trials, CV accuracy"
        first = first_fold_records(records)
        if complete < 3 <= len(first):  # a pruned search: what every trial's first fold tells
            records, complete = first, len(first)
            measure = (
                f"fewer than 3 trials completed all folds: {len(first)} trials by the accuracy "
                "of their first fold (pruned ones included)"
            )
        items = rank(records, search.varying, seed=search.seed)
        console.print(f"{directory.name}: {measure}", highlight=False)
        console.print(importance_table(items), highlight=False)
        path = importance_chart(items, directory / PLOTS_DIR / "importance.png", complete)
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
    from tuner.analysis import eda as explore
    from tuner.data import EMBEDDED, load_data
    from tuner.plots import class_counts_chart, sample_grid
    from tuner.render import eda_tables

    with _user_errors():
        digits = load_data(data)
        summary = explore(digits)
        for part in eda_tables(summary):
            console.print(part, highlight=False)
        label = EMBEDDED if data is None or data == EMBEDDED else Path(data).resolve().name
        out = out or Path("results") / f"eda-{label}"
        counts = class_counts_chart(summary.class_counts, out / "class_counts.png")
        samples = sample_grid(digits.train.images, digits.train.labels, out / "samples.png")
        console.print(f"pictures:\n  {counts}\n  {samples}", highlight=False)


@app.command()
def report(
    search_name: SearchArgument = None,
    data: SearchDataOption = None,
    trial_id: Annotated[
        Optional[str],
        typer.Option("--trial", help="Trial to analyse (default: the best).", show_default=False),
    ] = None,
    results_dir: ResultsOption = Path("results"),
) -> None:
    """Error analysis of the winner's out-of-fold predictions (no leakage)."""
    import numpy as np

    from tuner.data import load_data
    from tuner.manifest import open_search, search_dir_for
    from tuner.render import confusion_table, per_class_table
    from tuner.report import analyse, write_report

    with _user_errors():
        search = open_search(search_dir_for(results_dir, search_name))
        directory = search.directory
        digits = load_data(data or search.data_source, test=False)
        record, analysis = analyse(search, digits, trial_id)
        console.print(
            f"trial {record.trial_id}: out-of-fold accuracy {100 * analysis.accuracy:.2f} % on "
            f"{len(analysis.correct):,} training images ({len(analysis.wrong):,} wrong); each "
            "image predicted by the fold model that did not train on it",
            highlight=False,
        )
        console.print(confusion_table(analysis.confusion), highlight=False)
        console.print(per_class_table(analysis), highlight=False)
        mistakes = ", ".join(f"{t}→{p} ×{n}" for t, p, n in analysis.top_confusions(5))
        console.print(
            f"most frequent mistakes (true→predicted): {mistakes or 'none'}", highlight=False
        )
        right = analysis.confidence[analysis.correct]
        wrong = analysis.confidence[~analysis.correct]
        console.print(
            f"median confidence: right {np.median(right):.3f}, wrong "
            f"{np.median(wrong) if len(wrong) else float('nan'):.3f}",
            highlight=False,
        )
        paths = write_report(search, analysis, digits, directory / PLOTS_DIR)
        console.print("pictures:\n" + "\n".join(f"  {p}" for p in paths), highlight=False)


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
    from tuner.data import load_data
    from tuner.manifest import open_search, search_dir_for

    with _user_errors():
        directory = search_dir_for(results_dir, search_name)
        digits = load_data(data or open_search(directory).data_source)
        _export(
            directory, digits, dict(mixed_precision=mixed_precision, ensemble=ensemble, tta=tta)
        )


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
    """Write a Kaggle submission for a test CSV with any exported model."""
    from tuner.export import predict_file

    with _user_errors():
        _import_keras()
        rows = predict_file(model, data, out)
        console.print(f"submission: {out} ({rows:,} rows)", highlight=False)


@app.command()
@with_search_options
def run(ensemble: EnsembleOption = "none", tta: TtaOption = None, **options) -> None:
    """Search, then export the winner: the whole job in one command."""
    settings = _settings(options)
    data, space, model = options["data"], options["space"], options["model"]
    with _user_errors():
        from tuner.export import check_recipe

        check_recipe(ensemble, tta)  # bad export options fail now, not after the search
        if options["dry_run"]:
            return _dry_run(data, space, model, settings)
        from tuner.pipeline import prepare

        job = prepare(data, space, model=model, with_test=True, **settings)
        result = _search(job)
        _show_trials(result.directory)
        if result.best is None:
            raise _no_completed(result.directory)
        _export(
            result.directory,
            job.data,
            dict(mixed_precision=settings["mixed_precision"], ensemble=ensemble, tta=tta),
        )


if __name__ == "__main__":
    main()

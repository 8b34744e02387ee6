"""Commands that run a search: `search`, `run`, `resume` and `worker`."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from tuner.cli.core import app, console, library, user_errors
from tuner.cli.display import no_completed, show_export, show_trials
from tuner.cli.options import (
    EnsembleOption,
    ResultsOption,
    SearchArgument,
    SearchDataOption,
    TtaOption,
    resume_changes,
    search_settings,
    with_resume_options,
    with_search_options,
)
from tuner.distributed.certificate import CERT_FILE_ENV
from tuner.distributed.gpus import workers_for
from tuner.distributed.secret import SECRET_FILE_ENV, check_worker_id
from tuner.errors import SearchError
from tuner.export.recipes import check_recipe
from tuner.storage.manifest import read_manifest, search_dir_for
from tuner.ui.reporters import make_reporter
from tuner.ui.tables import dry_run_lines

__all__ = ["search", "run", "resume", "worker"]

WorkersOption = Annotated[
    str,
    typer.Option(
        "--workers",
        help="Run a keras-tuner chief and N local worker processes (0: one process, no chief; "
        "gpus: one per GPU). With GPUs, each worker gets its own (workers sharing one cap "
        "their memory).",
    ),
]
BindOption = Annotated[
    str,
    typer.Option(
        "--bind",
        help="Address the chief listens on (with --workers); "
        "0.0.0.0 lets workers on other machines join.",
    ),
]
PortOption = Annotated[
    Optional[int],
    typer.Option("--port", help="The chief's port (default: a free one).", show_default=False),
]


@app.command()
@with_search_options
def search(
    workers: WorkersOption = "0",
    bind: BindOption = "127.0.0.1",
    port: PortOption = None,
    **options,
) -> None:
    """Launch a search, or resume it (the same command continues where it stopped)."""
    with user_errors():
        if options["dry_run"]:
            return _dry_run(options)
        count = workers_for(workers)
        job = _prepare(options)
        result = _with_reporter(
            job.space.varying(),
            lambda r: library().search(job, r, workers=count, bind=bind, port=port),
        )
        _show_result(result.directory, result.best)


@app.command()
@with_search_options
def run(
    ensemble: EnsembleOption = "none",
    tta: TtaOption = None,
    workers: WorkersOption = "0",
    bind: BindOption = "127.0.0.1",
    port: PortOption = None,
    **options,
) -> None:
    """Search (here, or with a chief and local workers), then export the winner: the whole job
    in one command."""
    started = time.monotonic()  # the run budget counts from here: loading the data included
    with user_errors():
        check_recipe(ensemble, tta)  # bad export options fail now, not after the search
        count = workers_for(workers)
        if options["dry_run"]:
            return _dry_run(options)
        job = _prepare(options, with_test=True)
        result = _with_reporter(
            job.space.varying(),
            lambda r: library().search(job, r, workers=count, bind=bind, port=port),
        )
        _show_result(result.directory, result.best)
        exported = _with_reporter(
            None,
            lambda r: library().export_best(
                result.directory, job.data, r, mixed_precision=job.config.mixed_precision,
                ensemble=ensemble, tta=tta, run_started=started,
            ),
        )  # fmt: skip
        show_export(exported)


@app.command()
@with_resume_options
def resume(
    search_name: SearchArgument = None,
    results_dir: ResultsOption = Path("results"),
    data: SearchDataOption = None,
    **options,
) -> None:
    """Go on with a search, with the data, space and settings it was started with (search.json).
    An option given here changes that setting; one left out stays as recorded."""
    with user_errors():
        directory = search_dir_for(results_dir, search_name)
        result = _resume(directory, data=data, **resume_changes(options))
        _show_result(result.directory, result.best)


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
    secret_file: Annotated[
        Optional[Path],
        typer.Option(
            "--secret-file",
            help="A copy of the search's chief.secret (owner-only permissions), which the chief "
            "asks every worker to prove (default: $DIGIT_TUNER_SECRET, then the search "
            "directory's own chief.secret).",
            show_default=False,
        ),
    ] = None,
    cert_file: Annotated[
        Optional[Path],
        typer.Option(
            "--cert-file",
            help="A copy of the search's chief.crt: the one certificate this worker trusts "
            "(default: $DIGIT_TUNER_CERT_FILE, then the search directory's own chief.crt).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Join a distributed search: run trials that the chief at HOST:PORT hands out, with the
    settings of the search's search.json (the results directory is shared with the chief)."""
    with user_errors():
        host, _, port = chief.rpartition(":")
        if not host or not port.isdigit():
            raise SearchError(f"--chief must be HOST:PORT, got {chief!r}")
        worker_id = check_worker_id(worker_id or socket.gethostname())
        directory = search_dir_for(results_dir, search_name)
        os.environ.update(
            KERASTUNER_TUNER_ID=worker_id, KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=port
        )
        if secret_file is not None:
            os.environ[SECRET_FILE_ENV] = str(secret_file.resolve())
        if cert_file is not None:
            os.environ[CERT_FILE_ENV] = str(cert_file.resolve())
        _resume(directory, data=data)


def _prepare(options: dict, with_test: bool = False):
    """The job these options describe (``tuner.pipeline.prepare``)."""
    return library().prepare(
        options["data"], options["space"], model=options["model"], with_test=with_test,
        **search_settings(options),
    )  # fmt: skip


def _dry_run(options: dict) -> None:
    """Prints the plan of the search these options describe; writes nothing."""
    job = _prepare(options)
    plan = library().dry_run(job.data.train, job.space, job.config)
    for line in dry_run_lines(plan):
        console.print(line, highlight=False, soft_wrap=True)


def _with_reporter(varying, call):
    """``call(reporter)`` with the terminal's reporter, closed after (also on an error)."""
    library()  # Keras loads (quietly) before the progress display starts
    reporter = make_reporter(console, varying)
    try:
        return call(reporter)
    finally:
        reporter.close()


def _resume(directory: Path, **options):
    """Goes on with a search (``tuner.pipeline.resume``) with the terminal's reporter."""
    varying = read_manifest(directory)["space"].get("varying", [])
    return _with_reporter(varying, lambda r: library().resume(directory, r, **options))


def _show_result(directory: Path, best) -> None:
    show_trials(directory)
    if best is None:
        raise no_completed(directory)

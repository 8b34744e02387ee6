"""The ``digit-tuner`` Typer app, its consoles, and how errors reach the terminal.

Each command validates its inputs first (data, search space, options), so a bad input costs no
training and writes nothing; a ``UserError`` becomes one ``error:`` line and exit status 2.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys

import typer
from rich.console import Console
from rich.markup import escape

from tuner.distributed.roles import role
from tuner.errors import (
    ERROR_PREFIX,
    MACHINE_STATUS,
    STOPPED_STATUS,
    MachineFault,
    SearchFailure,
    SearchInterrupted,
    TooManyFailures,
    UserError,
    machine_faults,
)

__all__ = [
    "app",
    "console",
    "err_console",
    "console_width",
    "library",
    "user_errors",
    "REDIRECTED_WIDTH",
    "flow_help",
]

app = typer.Typer(
    name="digit-tuner",
    help="Hyperparameter search for the Kaggle Digit Recognizer: stratified K-fold CV on augmented "
    "folds, the winner retrained on all data, a submission.csv.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def flow_help(typer_app: typer.Typer) -> None:
    """Each registered command's help as running text, paragraph by paragraph. Typer's rich help
    keeps a docstring's line breaks, so the command list broke each summary where its source
    line did and left a word or two alone on a line ("and", "job") at any other width."""
    for command in typer_app.registered_commands:
        text = inspect.cleandoc(command.help or command.callback.__doc__ or "")
        command.help = "\n\n".join(" ".join(part.split()) for part in text.split("\n\n"))


REDIRECTED_WIDTH = 160


def console_width(stream, environ=os.environ) -> int | None:
    """The width to render at (None: rich's own). Rich gives a stream that is no terminal 80
    columns unless ``COLUMNS`` says otherwise, and then cuts table cells to fit: a wide trials
    table written to a file read "0.0…" for every learning rate. A file or a pipe has no width,
    so it gets room."""
    if environ.get("COLUMNS") or (hasattr(stream, "isatty") and stream.isatty()):
        return None
    return REDIRECTED_WIDTH


console = Console(width=console_width(sys.stdout))
err_console = Console(stderr=True, width=console_width(sys.stderr))


@contextlib.contextmanager
def user_errors():
    """Turns a UserError into one line on stderr and exit status 2, a SearchFailure into one line
    and exit status 1 (a distributed worker stopped by too many failures: STOPPED_STATUS, so that
    its launcher does not restart it; a worker or the chief stopped by its machine:
    MACHINE_STATUS, so that the launcher says the machine's line)."""
    try:
        with machine_faults():  # a full disk anywhere: one line, exit 1
            yield
    except (UserError, SearchFailure) as e:
        prefix = "" if isinstance(e, SearchInterrupted) else f"[bold red]{ERROR_PREFIX.strip()}[/] "
        err_console.print(f"{prefix}{escape(str(e))}", highlight=False, soft_wrap=True)
        code = e.exit_code
        if isinstance(e, TooManyFailures) and role() == "worker":
            code = STOPPED_STATUS
        if isinstance(e, MachineFault) and role() != "local":
            code = MACHINE_STATUS
        raise typer.Exit(code) from None


def library():
    """The library API of the commands that train, build or predict (``tuner.pipeline``).

    The one boundary where Keras loads: importing the pipeline imports it, quietly, through
    ``tuner.backend``. The other commands (``--help``, searches, trials, trial, ...) never call
    this, so they start without Keras or TensorFlow.
    """
    from tuner import pipeline

    return pipeline

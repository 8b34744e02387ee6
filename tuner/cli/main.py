"""The console script: the app with every command registered."""

from __future__ import annotations

import contextlib
import signal

import tuner.cli.exporting  # noqa: F401  (registers export, predict)
import tuner.cli.inspecting  # noqa: F401  (registers searches, trials, trial, importance, ...)
import tuner.cli.searching  # noqa: F401  (registers search, run, resume, worker)
from tuner.cli.core import app, flow_help

__all__ = ["app", "main"]

flow_help(app)


def _terminate(signum, frame):
    # SIGTERM (`kill`, `timeout`, a batch scheduler) takes the Ctrl-C path: the search stops
    # cleanly and every process it started is stopped with it.
    raise KeyboardInterrupt


def main() -> None:
    """Console-script entry point."""
    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGTERM, _terminate)
    app()

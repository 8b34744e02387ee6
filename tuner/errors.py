"""Typed errors.

A ``UserError`` is something the user can fix (a bad file, a bad option, a search directory in the
wrong state). The CLI prints its message as one line and exits with status 2, without a traceback.
A ``SearchFailure`` is a run that went wrong after it started (too many failed trials in a row, a
dead chief): one line and exit status 1.
Errors inside one trial are not raised here: the tuner marks that trial FAILED and goes on.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "UserError",
    "DataError",
    "SpaceError",
    "SearchError",
    "SearchFailure",
    "SearchInterrupted",
    "TooManyFailures",
    "TrialFailed",
    "STOPPED_STATUS",
]


class UserError(Exception):
    """A problem with the user's input; its message names the file, row, column or key at fault."""

    exit_code = 2


class DataError(UserError):
    """A training or test CSV that cannot be used."""


class SpaceError(UserError):
    """A search-space TOML file that cannot be used."""


class SearchError(UserError):
    """A search directory or search option that cannot be used as asked."""


class SearchFailure(Exception):
    """A search or export that started and could not finish; its message says why and what next."""

    exit_code = 1


class SearchInterrupted(SearchFailure):
    """Ctrl-C: the completed trials are kept; the same command (or ``resume``) goes on."""

    exit_code = 130

    def __init__(self, directory: Path, done: int):
        super().__init__(
            f"interrupted: {done} completed trial(s) kept in {directory}; "
            "run the same command again to resume"
        )
        self.directory, self.done = directory, done


class TooManyFailures(SearchFailure):
    """The search stopped after ``--max-failures`` failed trials in a row (in this process)."""


# Exit status of a distributed worker that stopped the search on purpose (too many failed trials
# in a row): its launcher does not restart it, since it would only fail again.
STOPPED_STATUS = 3


class TrialFailed(Exception):
    """This trial cannot give a score (NaN loss, a crashed trial process, ...); the search goes on."""

"""Typed errors.

A ``UserError`` is something the user can fix (a bad file, a bad option, a search directory in the
wrong state). The CLI prints its message as one line and exits with status 2, without a traceback.
A ``SearchFailure`` is a run that went wrong after it started (too many failed trials in a row, a
dead chief): one line and exit status 1.
Errors inside one trial are not raised here: the tuner marks that trial FAILED and goes on.
"""

from __future__ import annotations

__all__ = ["UserError", "DataError", "SpaceError", "SearchError", "SearchFailure"]


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

"""Typed errors.

A ``UserError`` is something the user can fix (a bad file, a bad option, a search directory in the
wrong state). The CLI prints its message as one line and exits with status 2, without a traceback.
A ``SearchFailure`` is a run that went wrong after it started (too many failed trials in a row, a
dead chief): one line and exit status 1; a ``MachineFault`` is one the machine caused (a full
disk, a read-only or vanished directory), never blamed on the trial it hit.
Errors inside one trial are not raised here: the tuner marks that trial FAILED and goes on.
"""

from __future__ import annotations

import contextlib
import errno
import math
import re
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "UserError",
    "DataError",
    "SpaceError",
    "SearchError",
    "SearchFailure",
    "BackendMissing",
    "SearchInterrupted",
    "TooManyFailures",
    "MachineFault",
    "machine_fault",
    "machine_faults",
    "TrialFailed",
    "STOPPED_STATUS",
    "MACHINE_STATUS",
    "ERROR_PREFIX",
    "CHIEF_STOPPED",
]


class UserError(Exception):
    """A problem with the user's input; its message names the file, row, column or key at fault."""

    exit_code = 2


class DataError(UserError):
    """A training or test CSV that cannot be used."""


class SpaceError(UserError):
    """A search-space TOML file that cannot be used."""


class BackendMissing(UserError):
    """Keras' backend is not installed (its message names the extra that installs it)."""


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


class MachineFault(SearchFailure):
    """The machine, not the configuration, stopped the search (``machine_fault``): the trial it
    hit is not failed and runs again when the same command resumes the search."""


# The errors of the machine, not of a configuration: what each says and what to do about it.
_MACHINE_ERRORS = {
    errno.ENOSPC: ("no space left on device", "free some space"),
    errno.EDQUOT: ("disk quota exceeded", "free some space"),
    errno.EROFS: ("read-only file system", "make it writable"),
    errno.EACCES: ("permission denied", "make it writable"),
    errno.EIO: ("input/output error", "check the disk"),
    errno.ENOENT: ("the directory vanished", "restore it or choose another --results-dir"),
}
# h5py (Keras' weights files) reports a full disk in its own words, errno inside the text
_H5PY_ERRNO = re.compile(r"errno = (\d+)")
_H5PY_FILE = re.compile(r"(?:file)?name = '([^']+)'")


def machine_fault(error: BaseException) -> MachineFault | None:
    """``error`` (or the error it was raised from) as a ``MachineFault`` when the machine
    caused it (a full disk, a read-only, unwritable or vanished directory, an I/O error), with
    one line naming the cause, the path and what to do; None when it is anything else."""
    while error is not None:
        if isinstance(error, MachineFault):
            return error
        code, path = getattr(error, "errno", None), getattr(error, "filename", None)
        if code is None and (found := _H5PY_ERRNO.search(str(error))):
            code = int(found.group(1))
            path = (_H5PY_FILE.search(str(error)) or [None, None])[1]
        if isinstance(error, OSError | RuntimeError) and code in _MACHINE_ERRORS:
            cause, fix = _MACHINE_ERRORS[code]
            where = f" writing {_shown(path)}" if path else ""
            if path and code in (errno.ENOSPC, errno.EDQUOT):
                where += _space_needed(Path(str(path)))
            return MachineFault(f"{cause}{where}: {fix}, then run the same command again")
        error = error.__cause__ or error.__context__
    return None


@contextlib.contextmanager
def machine_faults() -> Iterator[None]:
    """Raises a ``MachineFault`` (one line) in place of an error the machine caused inside the
    block (``machine_fault``); any other error goes on as it is."""
    try:
        yield
    except MachineFault:
        raise
    except Exception as e:
        if (fault := machine_fault(e)) is None:
            raise
        raise fault from None


def _space_needed(path: Path) -> str:
    """`` (about N MB needed)``: the largest file of the same kind beside ``path`` or one
    directory over (an earlier trial's fold model, the previous export's model), which the
    write would have needed about as much room as; empty when there is none to go by."""
    kind = path.name.rsplit(".", 1)[-1]
    directory = path.parent
    try:
        sizes = [
            f.stat().st_size
            for f in (*directory.glob(f"*.{kind}"), *directory.parent.glob(f"*/*.{kind}"))
            if not f.name.startswith(".") and f.is_file()
        ]
    except OSError:  # the directory is unreadable or gone: nothing to go by
        return ""
    if not sizes:
        return ""
    return f" (about {max(1, math.ceil(max(sizes) / 1e6))} MB needed)"


def _shown(path) -> str:
    """A path as a message shows it: a temporary file's (``.name.123.tmp...``) directory."""
    path = Path(str(path))
    return str(path.parent) if path.name.startswith(".") and ".tmp" in path.name else str(path)


# How a command's one line begins when it stops on an error (``tuner.cli.core.user_errors``): the
# launcher finds a stopped process's line at the end of its log by it
ERROR_PREFIX = "error: "
# How a chief stopped by its machine begins its line: to the workers (an RPC's details) and in the
# launcher's last words
CHIEF_STOPPED = "the chief stopped: "

# Exit status of a distributed worker that stopped the search on purpose (too many failed trials
# in a row): its launcher does not restart it, since it would only fail again.
STOPPED_STATUS = 3
# Exit status of a distributed worker or chief that its machine stopped (a full disk:
# ``MachineFault``): a worker is not restarted (it would hit the same disk) and the chief gives
# its trial to another worker once its lease lapses; a chief's stops the search. Either's one
# line is the last of its log, which the launcher shows.
MACHINE_STATUS = 4


class TrialFailed(Exception):
    """This trial cannot give a score (NaN loss, a crashed trial process, ...); the search goes on."""

"""The search directory on disk: its name, its lock, and what may delete or replace its files.

Guarantees (each tested in ``tests/storage/test_directory.py`` and ``tests/storage/test_crash.py``):

- A search name is one plain path component: ``--name ..``, ``a/b`` or an absolute path is refused
  before anything is touched, so a search never reaches outside ``--results-dir``.
- ``--overwrite`` deletes only a directory that a digit-tuner search made (it holds
  ``search.json``); a search never writes into a non-empty directory that is not one.
- One process at a time works on a search directory (``hold``): a second ``search``, ``run`` or
  ``export`` of the same name is refused with one line naming the holder (command, pid, host,
  since when). The lock is an OS file lock (``filelock``): the kernel releases it when the holder
  dies, however it dies, so a killed search never leaves a stale lock behind.
- An export replaces ``best.keras``, ``submission.csv`` and ``search.json`` as one unit
  (``commit_files``): the new files are written and flushed in a staging folder, a commit record is
  written, then they are renamed into place (the manifest last). A process killed before the commit
  record leaves the old export whole; one killed after it is rolled forward by the next command
  that takes the lock. A model is never left beside another export's submission.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from tuner import faults
from tuner.errors import SearchError
from tuner.storage.atomic import fsync_directory, read_json, write_json_atomic

__all__ = [
    "MANIFEST",
    "TUNER_DIR",
    "TRIAL_FILE",
    "CV_FILE",
    "OOF_FILE",
    "WEIGHTS_FILE",
    "TENSORBOARD_DIR",
    "LOGS_DIR",
    "PLOTS_DIR",
    "REPORT_FILE",
    "MODEL_FILE",
    "SUBMISSION_FILE",
    "LOCK_FILE",
    "check_name",
    "in_use",
    "is_search_directory",
    "hold",
    "clear_search_directory",
    "commit_files",
    "recover",
    "check_usable",
    "holds",
    "remove_temporaries",
    "COMMIT",
    "OWNER_FILE",
    "STAGING",
]

# The layout of a search directory (results/<name>/). Every name is defined here and only here.
MANIFEST = "search.json"  # settings, seed, data fingerprint, space, versions; best and export
TUNER_DIR = "tuner"  # keras-tuner's project: oracle.json and one trial_<id>/ per trial
TRIAL_FILE = "trial.json"  # in trial_<id>/: keras-tuner's record (status, values, score)
CV_FILE = "cv.json"  # in trial_<id>/: per-fold scores, epochs, seconds, curves
OOF_FILE = "oof.npy"  # in trial_<id>/: out-of-fold class probabilities, float32
WEIGHTS_FILE = "fold_{fold}.weights.h5"  # in trial_<id>/: a fold model (best trial; Hyperband: all)
TENSORBOARD_DIR = "tensorboard"  # TensorBoard logs with the HParams plugin
LOGS_DIR = "logs"  # a distributed search's per-process logs and pids
PLOTS_DIR = "plots"  # pictures of `trial`, `importance` and `report`
REPORT_FILE = "report.json"  # `report`'s figures
MODEL_FILE = "best.keras"  # the export's model
SUBMISSION_FILE = "submission.csv"  # the export's Kaggle submission
LOCK_FILE = "search.lock"  # the OS lock (its content is meaningless)
OWNER_FILE = "search.lock.json"  # who holds the lock: command, pid, host, since
STAGING = ".staging"  # an export's new files, before they are committed
COMMIT = "commit.json"  # inside STAGING: the files to move into place, written last


def check_name(name: str) -> str:
    """Returns ``name`` if it is one plain directory name, else raises naming what is wrong."""
    if not name or not name.strip():
        raise SearchError("--name must not be empty")
    bad = [sep for sep in ("/", "\\", os.sep, os.altsep) if sep and sep in name]
    if bad or name in (".", "..") or os.path.isabs(name) or "\0" in name:
        raise SearchError(
            f"--name must be a plain directory name (no '/', '\\', '..' or absolute path), "
            f"got {name!r}"
        )
    return name


def is_search_directory(directory: Path) -> bool:
    """True when ``directory`` holds a search's manifest (``search.json``)."""
    return (Path(directory) / MANIFEST).is_file()


def _is_empty_but_lock(directory: Path) -> bool:
    """True when ``directory`` holds nothing but what a search leaves before its manifest: the
    lock, its owner record, and the temporary files of a writer killed right then."""
    ours = (LOCK_FILE, OWNER_FILE)
    temporaries = tuple(f".{name}." for name in (OWNER_FILE, MANIFEST))
    return all(
        p.name in ours or (p.name.startswith(temporaries) and ".tmp" in p.name)
        for p in directory.iterdir()
    )


def check_usable(directory: Path) -> None:
    """Raises unless ``directory`` is absent, empty, or a digit-tuner search, and can be made
    and written here (its missing parents are made; a parent that is a file, or one this user
    may not write into, is refused naming it)."""
    directory = Path(directory)
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise SearchError(f"{directory}: exists and is not a directory")
    _check_writable(directory)
    if directory.exists() and not is_search_directory(directory):
        if not _is_empty_but_lock(directory):
            raise SearchError(
                f"{directory}: not a digit-tuner search (no {MANIFEST}) and not empty; "
                "refusing to write into it or delete it: choose another --name"
            )


def _check_writable(directory: Path) -> None:
    """Raises naming the first path on the way to ``directory`` that is a file, or the deepest
    existing one when this user cannot write into it."""
    existing = directory.absolute()
    while not existing.exists():
        existing = existing.parent
    for path in [existing, *existing.parents][::-1]:
        if not path.is_dir():
            raise SearchError(f"{path}: is a file, not a directory (from --results-dir or --name)")
    target = directory if directory.exists() else existing
    if not os.access(target, os.W_OK | os.X_OK):
        raise SearchError(f"{target}: not writable by this user (from --results-dir or --name)")


# Locks this process holds: resolved directory -> [FileLock, depth]. Re-entrant within a process
# (run_search holds the lock and calls prepare_search, which takes it too).
_held: dict[Path, list] = {}


def _describe_owner(directory: Path) -> str:
    try:
        owner = read_json(directory / OWNER_FILE)
        return (
            f"{owner.get('command', '?')} (pid {owner.get('pid', '?')} on "
            f"{owner.get('host', '?')}, since {owner.get('since', '?')})"
        )
    except (OSError, ValueError, AttributeError):
        return "another process"


@contextlib.contextmanager
def hold(directory: str | Path, command: str | None = None) -> Iterator[Path]:
    """Holds the search directory's lock (creating the directory); re-entrant in one process.

    Raises:
        SearchError: another process holds it (the message names it), or the directory is not a
            digit-tuner search and not empty.
    """
    from filelock import FileLock, Timeout

    directory = Path(directory)
    key = directory.resolve()
    if key in _held:
        _held[key][1] += 1
        try:
            yield directory
        finally:
            _held[key][1] -= 1
        return
    check_usable(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(directory / LOCK_FILE))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise SearchError(
            f"{directory}: in use by {_describe_owner(directory)}; wait for it to end, or stop it"
        ) from None
    _held[key] = [lock, 1]
    try:
        write_json_atomic(
            directory / OWNER_FILE,
            {
                "command": command or " ".join(["digit-tuner", *sys.argv[1:]])[:300],
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            },
        )
        recover(directory)
        remove_temporaries(directory)
        yield directory
    finally:
        del _held[key]
        with contextlib.suppress(FileNotFoundError):
            (directory / OWNER_FILE).unlink()
        lock.release()


def remove_temporaries(directory: Path) -> None:
    """Deletes the temporary files that a killed writer left (``tuner.storage.atomic.atomic_path`` names them
    ``.<target>.<random>.tmp<suffix>``); only the lock's holder may, as nobody else writes."""
    for path in Path(directory).rglob(".*.tmp*"):
        if path.is_file() and STAGING not in path.parts:
            path.unlink(missing_ok=True)


def in_use(directory: str | Path) -> bool:
    """True when ``directory``'s lock is held (a search or export running now)."""
    from filelock import FileLock, Timeout

    path = Path(directory) / LOCK_FILE
    if holds(directory):
        return True  # in use by this process
    if not path.exists():
        return False
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def holds(directory: str | Path) -> bool:
    """True when this process holds ``directory``'s lock."""
    return Path(directory).resolve() in _held


def clear_search_directory(directory: Path) -> None:
    """Deletes everything a search left in ``directory`` (for ``--overwrite``), keeping the lock.

    Raises:
        SearchError: the directory is not a digit-tuner search, or this process does not hold
            its lock.
    """
    directory = Path(directory)
    if not holds(directory):
        raise SearchError(f"{directory}: refusing to delete a search without holding its lock")
    if not is_search_directory(directory):
        if _is_empty_but_lock(directory):
            return
        raise SearchError(f"{directory}: not a digit-tuner search; refusing to delete it")
    for child in directory.iterdir():
        if child.name in (LOCK_FILE, OWNER_FILE):
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def commit_files(directory: Path, writers: dict[str, Callable[[Path], None]]) -> None:
    """Replaces several files of ``directory`` as one unit (see the module docstring).

    Args:
        directory: a search directory whose lock this process holds.
        writers: file name -> a function that writes that file's new content at the path it is
            given. They run in order; the last one should be the manifest.
    """
    staging = directory / STAGING
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    for name, write in writers.items():  # a torn file here is harmless: not committed yet
        write(staging / name)
        with open(staging / name, "rb+") as f:
            os.fsync(f.fileno())
        faults.point(f"stage:{name}")
    fsync_directory(staging)
    write_json_atomic(staging / COMMIT, {"files": list(writers)})  # the commit point
    faults.point("commit")
    recover(directory)


def recover(directory: Path) -> None:
    """Finishes an export killed after its commit point, or drops one killed before it."""
    staging = Path(directory) / STAGING
    if not staging.exists():
        return
    try:
        names = read_json(staging / COMMIT)["files"]
    except (OSError, ValueError, KeyError, TypeError):
        shutil.rmtree(staging)  # not committed: the old files stand
        return
    for name in names:
        source = staging / name
        if source.exists():  # else: moved before the process was killed
            os.replace(source, Path(directory) / name)
            faults.point(f"install:{name}")
    fsync_directory(directory)
    shutil.rmtree(staging)

"""Atomic file writes: a reader (or a crash) never sees half a file.

Each writer puts the data in a temporary file in the target's directory, flushes it to disk, then
renames it over the target (``os.replace`` is atomic on POSIX and Windows).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tuner import faults

__all__ = [
    "atomic_path",
    "fsync_directory",
    "write_text_atomic",
    "write_json_atomic",
    "json_text",
    "read_json",
]


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yields a temporary path beside ``target``, ending in ``suffix`` (default: the target's;
    Keras' weights want ``.weights.h5``); renames it over ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f".tmp{suffix or target.suffix}", dir=target.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
    try:
        try:
            yield tmp_path
            with open(tmp_path, "rb+") as f:
                os.fsync(f.fileno())
        except OSError as e:  # a write's error names no file (ENOSPC): say which one it was
            if e.errno is None or e.filename is not None:
                raise
            raise OSError(e.errno, e.strerror, str(target)) from e
        faults.point(f"write:{_point_name(target)}")
        os.replace(tmp_path, target)
        fsync_directory(target.parent)
        faults.point(f"wrote:{_point_name(target)}")
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def fsync_directory(directory: str | Path) -> None:
    """Flushes a directory's entries (a rename is durable only once its directory is synced)."""
    with contextlib.suppress(OSError):  # not every file system lets a directory be opened
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _point_name(target: Path) -> str:
    """A crash point's name for a write: the file name, trial ids kept (trial_3/cv.json)."""
    parent = target.parent.name
    return f"{parent}/{target.name}" if parent.startswith("trial_") else target.name


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(target: str | Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def json_text(data: Any) -> str:
    """``data`` as the JSON text every file of a search holds (numpy values and paths allowed)."""
    return json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n"


def write_json_atomic(target: str | Path, data: Any) -> None:
    write_text_atomic(target, json_text(data))


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON: {value!r}")

"""Fault injection for crash tests: kill this process (and its process group), or make a write
fail as on a full disk, at a named point.

Crash-safe storage is tested by killing the writer at many points and checking what a restart
makes of the files left behind. The code calls ``point(name)`` where a kill is worth testing: every
atomic file write (before and after its rename), each epoch, each fold, each export step. Two
environment variables drive it; with neither set, ``point`` costs one dictionary lookup.

- ``DIGIT_TUNER_CRASH_AT=NAME#N`` sends SIGKILL to this process's group on the Nth time (from 1)
  that point NAME is reached in this process: the search, its trial process and everything else in
  the group die at once, as when the machine loses power.
- ``DIGIT_TUNER_KILL_AT=NAME#N`` sends SIGKILL to this process alone, as the out-of-memory
  killer does to one trial's process.
- ``DIGIT_TUNER_FULL_AT=NAME#N`` raises ``OSError(ENOSPC)`` there, as a write on a full disk
  does (at a ``write:FILE`` point: before the file is renamed into place, so nothing of it lands).
- ``DIGIT_TUNER_FAULT_ONCE=FILE``: a ``KILL_AT`` kill or a ``FULL_AT`` error happens only while
  FILE does not exist (it is created first), in whichever process gets there first: a kill that
  a second try of the trial survives, a disk that one worker finds full and another does not.
- ``DIGIT_TUNER_TRACE=FILE`` appends every point reached (``NAME#N``, one per line) to FILE: an
  uninterrupted run's trace is the list of places a crash test can kill.
"""

from __future__ import annotations

import errno
import os
import signal
from collections import Counter

__all__ = ["point", "CRASH_VAR", "KILL_VAR", "ONCE_VAR", "FULL_VAR", "TRACE_VAR"]

CRASH_VAR = "DIGIT_TUNER_CRASH_AT"
KILL_VAR = "DIGIT_TUNER_KILL_AT"
ONCE_VAR = "DIGIT_TUNER_FAULT_ONCE"
FULL_VAR = "DIGIT_TUNER_FULL_AT"
TRACE_VAR = "DIGIT_TUNER_TRACE"

_hits: Counter[str] = Counter()


def point(name: str) -> None:
    """A place where a crash test may kill the process, or fail a write."""
    crash_at, trace = os.environ.get(CRASH_VAR), os.environ.get(TRACE_VAR)
    kill_at, full_at = os.environ.get(KILL_VAR), os.environ.get(FULL_VAR)
    if not crash_at and not trace and not kill_at and not full_at:
        return
    _hits[name] += 1
    label = f"{name}#{_hits[name]}"
    if trace:
        with open(trace, "a", encoding="utf-8") as f:
            f.write(label + "\n")
    if kill_at == label and _first_time():
        os.kill(os.getpid(), signal.SIGKILL)
    if full_at == label and _first_time():
        where = name.partition(":")[2] or name
        raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (injected)", where)
    if crash_at == label:
        try:
            os.killpg(os.getpgid(0), signal.SIGKILL)
        finally:
            os.kill(os.getpid(), signal.SIGKILL)


def _first_time() -> bool:
    """Whether a ``KILL_AT`` or ``FULL_AT`` fault is due: always, or with ``FAULT_ONCE`` the
    first time only."""
    once = os.environ.get(ONCE_VAR)
    if not once:
        return True
    try:
        with open(once, "x", encoding="utf-8"):
            return True
    except FileExistsError:
        return False

"""Targets for worker-process tests (importable by a spawned process)."""

from __future__ import annotations

import os
import signal

from tuner.trainer import TrialFailed


def echo(value, emit):
    emit("message", text=f"got {value}")
    return value * 2


def die(emit):
    os.kill(os.getpid(), signal.SIGKILL)


def fail(emit):
    raise TrialFailed("fold 0: training loss is not finite (nan)")


def crash(emit):
    raise ZeroDivisionError("division by zero in a worker")


def hang(emit):
    import time

    time.sleep(600)

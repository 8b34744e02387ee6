"""Targets for worker-process tests (importable by a spawned process)."""

from __future__ import annotations

import os
import signal

from tuner.errors import TrialFailed


def echo(value, reporter):
    reporter.message(f"got {value}")
    return value * 2


def die(reporter):
    os.kill(os.getpid(), signal.SIGKILL)


def fail(reporter):
    raise TrialFailed("fold 0: training loss is not finite (nan)")


def crash(reporter):
    raise ZeroDivisionError("division by zero in a worker")


def hang(reporter):
    import time

    time.sleep(600)


def pid(reporter):
    return os.getpid()

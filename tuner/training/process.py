"""Training a trial in a fresh trial process, as searches do by default.

TensorFlow keeps about 11 MiB per trained model after ``clear_session()`` (keras-team/keras#17458;
results/memory.md), so a long search in one process grows without bound. A process per trial returns
all of it to the system, and an out-of-memory kill then fails that one trial instead of the search.
(A trial process is not a distributed search's worker: that one runs whole searches.)
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue as queue_module
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from tuner.training.folds import TrialFailed, TrialOutcome, train_trial
from tuner.ui.events import RelayReporter, Reporter

__all__ = ["run_in_process", "train_trial_in_process"]


def train_trial_in_process(
    values, x, y, splits, seed, trial_id, reporter=None, *, timeout=None, **options
) -> TrialOutcome:
    """``train_trial`` in a fresh trial process, stopped after ``timeout`` seconds."""
    return run_in_process(
        train_trial,
        dict(values=values, x=x, y=y, splits=splits, seed=seed, trial_id=trial_id, **options),
        reporter,
        timeout=timeout,
    )


def run_in_process(
    target: Callable,
    kwargs: dict[str, Any],
    reporter: Reporter | None = None,
    poll_seconds: float = 0.5,
    timeout: float | None = None,
) -> Any:
    """Runs ``target(**kwargs, reporter=...)`` in a fresh spawned process; returns its result.

    The progress events the target reports are replayed here on ``reporter``. A trial process that
    dies (killed, out of memory) raises ``TrialFailed`` naming its exit code; an exception in
    the trial process raises ``TrialFailed`` with its message; a trial process still running after
    ``timeout`` seconds is killed and raises ``TrialFailed`` (a hung trial never stalls the
    search).
    """
    reporter = reporter or Reporter()
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    child = context.Process(
        target=_process_main, args=(target, kwargs, messages, os.getpid()), daemon=True
    )
    child.start()
    deadline = None if not timeout else time.monotonic() + timeout
    try:
        while True:
            kind, payload, detail = _next_message(messages, child, poll_seconds, deadline, timeout)
            if kind == "event":
                RelayReporter.replay(reporter, payload, detail)
            elif kind == "result":
                return payload
            elif kind == "failed":
                raise TrialFailed(payload)
            else:
                raise TrialFailed(f"{payload} (in the trial's process)\n{detail}")
    finally:
        _end(child)
        messages.close()


def _next_message(messages, child, poll_seconds: float, deadline, timeout):
    """The trial process's next message; TrialFailed once it is past its deadline or dead."""
    while True:
        try:
            return messages.get(timeout=poll_seconds)
        except queue_module.Empty:
            pass
        if deadline is not None and time.monotonic() > deadline and child.is_alive():
            child.kill()
            limit = f"{timeout:.0f} s" if timeout < 120 else f"{timeout / 60:.3g} min"
            raise TrialFailed(
                f"the trial ran past its time limit of {limit} and was stopped "
                "(--trial-timeout; default: the time budget)"
            )
        if not child.is_alive():
            try:  # a last message may still be in flight after the process exits
                return messages.get(timeout=poll_seconds)
            except queue_module.Empty:
                raise TrialFailed(
                    f"the trial's process died: {_exit_reason(child.exitcode)}"
                ) from None


def _exit_reason(code: int | None) -> str:
    why = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
    return why + (" (out of memory?)" if code in (-9, 137) else "")


def _end(child) -> None:
    if child.is_alive():
        child.terminate()
    child.join(timeout=30)
    if child.is_alive():
        child.kill()
        child.join()


def _die_with_parent(parent_pid: int) -> None:
    """On Linux, asks the kernel to kill this trial process when its parent dies (even by
    SIGKILL), so that no orphan trains on after its search is gone."""
    if not sys.platform.startswith("linux"):
        return
    try:
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _process_main(target: Callable, kwargs: dict[str, Any], messages, parent_pid: int) -> None:
    """Body of a trial process: run ``target`` and send events and the outcome to the parent.
    Keras loads (quietly) with the target's module, when the process unpickles it."""
    # Ctrl-C reaches the whole process group; the parent decides what happens to its child.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent_pid)
    relay = RelayReporter(lambda name, fields: messages.put(("event", name, fields)))
    try:
        outcome = target(**kwargs, reporter=relay)
        messages.put(("result", outcome, None))
    except TrialFailed as e:
        messages.put(("failed", str(e), None))
    except BaseException as e:  # noqa: BLE001 - everything goes back to the parent as a message
        messages.put(("error", f"{type(e).__name__}: {e}", traceback.format_exc()))

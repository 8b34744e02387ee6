"""Training trials in a trial process apart from the search, as searches do by default.

TensorFlow keeps about 11 MiB per trained model after ``clear_session()`` (keras-team/keras#17458;
results/memory.md), so a long search in one process grows without bound. A trial process returns
all of it to the system when it ends, and an out-of-memory kill fails one trial, not the search.

Starting a process (Python, Keras, TensorFlow) costs seconds, a large part of a short trial such as
a screen (results/benchmarks.md, "A screen's wall time"). So a ``TrialProcess`` is kept warm: it
runs up to ``REUSE_TRIALS`` trials one after another, each in a fresh Keras session with its own
seeds (``train_trial`` clears the session; each fold seeds itself), then is replaced. A trial that
fails, crashes or runs past its time limit ends its process with it: the next trial starts a fresh
one, so a failure still costs one trial only.
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

from tuner.errors import MachineFault, TrialFailed, machine_fault
from tuner.ui.events import RelayReporter, Reporter

__all__ = ["REUSE_TRIALS", "ProcessKilled", "TrialProcess", "die_with_parent", "run_in_process"]

# Trials one process runs before it is replaced: each leaves about 11 MiB per fold model behind
# (module doc), so 8 trials of 3 folds hold about a quarter of a GiB at most.
REUSE_TRIALS = 8


class ProcessKilled(TrialFailed):
    """The trial's process was killed by a signal the toolkit did not send (the kernel's
    out-of-memory killer, an operator): the machine's doing, perhaps for a moment, so the trial
    is worth one more try (``tuner.training.folds.train_trial_in_process``)."""

    def __init__(self, signal_number: int):
        self.signal_number = signal_number
        super().__init__(f"the trial's process died: {_exit_reason(-signal_number)}")


def run_in_process(
    target: Callable,
    kwargs: dict[str, Any],
    reporter: Reporter | None = None,
    poll_seconds: float = 0.5,
    timeout: float | None = None,
) -> Any:
    """Runs ``target(**kwargs, reporter=...)`` in a fresh spawned process; returns its result
    (``TrialProcess.run`` in a process used once)."""
    process = TrialProcess(reuse=1)
    try:
        return process.run(target, kwargs, reporter, poll_seconds, timeout)
    finally:
        process.close()


class TrialProcess:
    """A spawned process that runs trials one after another (the module doc says why)."""

    def __init__(self, reuse: int = REUSE_TRIALS):
        self.reuse = reuse
        self._child = self._inbox = self._outbox = None
        self._runs, self._busy = 0, False

    def run(self, target: Callable, kwargs: dict[str, Any], reporter: Reporter | None = None,
            poll_seconds: float = 0.5, timeout: float | None = None) -> Any:  # fmt: skip
        """Runs ``target(**kwargs, reporter=...)`` in the process; returns its result.

        The progress events the target reports are replayed here on ``reporter``. A process that
        dies (killed, out of memory) raises ``TrialFailed`` naming its exit code; an exception in
        the target raises ``TrialFailed`` with its message, or ``MachineFault`` when the machine
        caused it (``tuner.errors.machine_fault``: a full disk); a target still running after
        ``timeout`` seconds is killed and raises ``TrialFailed`` (a hung trial never stalls the
        search). After any of these the process is gone, and the next run starts a fresh one.
        """
        self._start_if_needed()
        self._inbox.put((target, kwargs))
        self._runs += 1
        self._busy = True
        try:
            result = _collect(
                self._outbox, self._child, reporter or Reporter(), poll_seconds, timeout
            )
            self._busy = False
            return result
        finally:
            if self._busy or self._runs >= self.reuse:
                self.close()

    def _start_if_needed(self) -> None:
        if self._child is not None and self._child.is_alive():
            return
        self.close()
        context = multiprocessing.get_context("spawn")
        self._inbox, self._outbox = context.Queue(), context.Queue()
        self._child = context.Process(
            target=_serve, args=(self._inbox, self._outbox, os.getpid()), daemon=True
        )
        self._child.start()
        self._runs = 0

    def close(self) -> None:
        """Ends the process: between trials it exits by itself; a trial still running (an
        error or Ctrl-C here) is stopped."""
        if self._child is None:
            return
        if self._child.is_alive() and not self._busy:
            try:
                self._inbox.put(None)  # asks it to exit; _end stops it if it does not
                self._child.join(timeout=5)
            except (OSError, ValueError):
                pass
        _end(self._child)
        for channel in (self._inbox, self._outbox):
            channel.close()
        self._child = self._inbox = self._outbox = None
        self._busy = False


def _collect(outbox, child, reporter: Reporter, poll_seconds: float, timeout: float | None):
    """Replays the running target's events on ``reporter`` until its result comes back."""
    deadline = None if not timeout else time.monotonic() + timeout
    while True:
        kind, payload, detail = _next_message(outbox, child, poll_seconds, deadline, timeout)
        if kind == "event":
            RelayReporter.replay(reporter, payload, detail)
        elif kind == "result":
            return payload
        elif kind == "failed":
            raise TrialFailed(payload)
        elif kind == "machine":
            raise MachineFault(payload)
        else:
            raise TrialFailed(f"{payload} (in the trial's process)\n{detail}")


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
                if child.exitcode is not None and child.exitcode < 0:
                    raise ProcessKilled(-child.exitcode) from None
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


def die_with_parent(sig: int, parent_pid: int) -> None:
    """On Linux, asks the kernel to send ``sig`` to this process when its parent dies (even by
    SIGKILL), so that no process of a search outlives it; exits at once if the parent
    (``parent_pid``) died before the request took effect. A trial process is sent SIGKILL
    (nothing of it is worth saving), a distributed search's chief and workers SIGTERM (they
    stop as after Ctrl-C)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, sig)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:
        os._exit(1)


def _serve(inbox, outbox, parent_pid: int) -> None:
    """Body of a trial process: run each target it is sent, until it is sent None; send events
    and each outcome to the parent. Keras loads (quietly) with the first target's module, when
    the process unpickles it."""
    # Ctrl-C reaches the whole process group; the parent decides what happens to its child.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(signal.SIGKILL, parent_pid)
    relay = RelayReporter(lambda name, fields: outbox.put(("event", name, fields)))
    while (job := inbox.get()) is not None:
        target, kwargs = job
        try:
            outcome = target(**kwargs, reporter=relay)
            outbox.put(("result", outcome, None))
        except TrialFailed as e:
            outbox.put(("failed", str(e), None))
        except BaseException as e:  # noqa: BLE001 - everything goes back to the parent as a message
            if (fault := machine_fault(e)) is not None:  # a full disk: not the trial's fault
                outbox.put(("machine", str(fault), None))
                continue
            outbox.put(("error", f"{type(e).__name__}: {e}", traceback.format_exc()))

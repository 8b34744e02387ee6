"""Distributed search with keras-tuner's own chief/worker mode.

The chief is a process whose keras-tuner oracle serves trials over gRPC; each worker is a process
that asks it for a trial, runs all of the trial's CV folds and reports the score. Processes find
their part through keras-tuner's environment variables: ``KERASTUNER_TUNER_ID`` (``chief`` or a
worker id), ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT``. All of them read and write the
one search directory (on another machine: a shared file system). The chief answers only workers
that prove they hold the search's secret (``tuner.distributed.secret``, ``tuner.distributed.chief``); the
launcher hands it to its local workers in their environment.

``launch`` is what ``digit-tuner search --workers N`` does: start a chief bound to 127.0.0.1 (unless
told otherwise) and N local workers, restart a worker that dies (it gets the same id, so the chief
hands it back the trial it was running, which is redone), and stop everything on Ctrl-C.

No process outlives the search: once every local worker has ended (finished, stopped by the time
budget or by too many failures, or given up after its restarts) the chief is stopped too; and the
chief and the workers are killed by the kernel if the launching process dies, even by SIGKILL
(Linux ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import tuner.storage.directory as store
from tuner.distributed.certificate import chief_certificate
from tuner.distributed.gpus import gpu_env, machine_gpus
from tuner.distributed.secret import SECRET_ENV, SECRET_FILE, check_worker_id, chief_secret
from tuner.errors import (
    CHIEF_STOPPED,
    ERROR_PREFIX,
    MACHINE_STATUS,
    STOPPED_STATUS,
    SearchFailure,
)
from tuner.search.driver import SearchResult, prepare_search
from tuner.storage.directory import LOGS_DIR, TUNER_DIR
from tuner.storage.records import TrialState, load_records
from tuner.training.process import die_with_parent
from tuner.ui.events import Reporter

__all__ = [
    "free_port",
    "worker_env",
    "launch",
    "LaunchResult",
    "run_distributed",
]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def worker_env(
    tuner_id: str, host: str, port: int, threads: int | None = None, secret: str | None = None
) -> dict[str, str]:
    """Environment of a chief or worker process (``secret``: the search's, for a worker)."""
    if tuner_id != "chief":
        check_worker_id(tuner_id)
    env = {
        **os.environ,
        "KERASTUNER_TUNER_ID": tuner_id,
        "KERASTUNER_ORACLE_IP": host,
        "KERASTUNER_ORACLE_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop(SECRET_ENV, None)
    if secret:
        env[SECRET_ENV] = secret
    if threads:
        # Share the cores between workers instead of each TensorFlow taking all of them.
        env.update(
            TF_NUM_INTRAOP_THREADS=str(threads),
            TF_NUM_INTEROP_THREADS="1",
            OMP_NUM_THREADS=str(threads),
        )
    return env


@dataclass
class LaunchResult:
    chief_status: int  # 0 also when the chief was stopped because every worker had ended well
    restarts: dict[str, int] = field(default_factory=dict)
    worker_status: dict[str, int] = field(default_factory=dict)  # last exit status of each worker
    ended: str = "done"  # done | workers-ended | workers-failed | chief-died


def _terminate_with_parent(launcher: int) -> None:
    """In the child, before exec: SIGTERM when the launching process dies."""
    die_with_parent(signal.SIGTERM, launcher)
    os.setsid()  # its own process group, so that Ctrl-C reaches only the launcher


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Starts one process of the search; its output goes to ``log`` and its pid beside it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tuner.cli", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=functools.partial(_terminate_with_parent, os.getpid()),
        )
    log.with_suffix(".pid").write_text(f"{process.pid}\n")
    return process


def _stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def launch(
    search_args: list[str],
    *,
    directory: Path,
    workers: int,
    host: str = "127.0.0.1",
    port: int | None = None,
    max_restarts: int = 3,
    on_poll: Callable[[], None] | None = None,
    on_message: Callable[[str], None] | None = None,
) -> LaunchResult:
    """Runs a chief and ``workers`` local workers until the search is done.

    Args:
        search_args: the ``digit-tuner search`` arguments every process gets (data, space, name,
            seed, ...), without ``--workers``.
        directory: the search directory; each process's output goes to
            ``<directory>/logs/<id>.log`` and its pid to ``<id>.pid``.
        workers: local worker processes to start (0: only the chief; workers join from elsewhere).
        host, port: where the chief listens (default 127.0.0.1 and a free port).
        max_restarts: how often one worker may die and be restarted.
        on_poll: called about once a second (to show progress).
        on_message: receives one line per event worth telling (a worker died, ...).
    """
    say = on_message or (lambda text: None)
    port = port or free_port(host if host != "0.0.0.0" else "127.0.0.1")
    logs = directory / LOGS_DIR
    secret = chief_secret(directory)  # before the chief: its workers start at once
    chief = _start_chief(search_args, directory, host, port, workers)
    connect = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    local = _Workers(search_args, workers, connect, port, logs, max_restarts, say, secret)
    ended = "done"
    say(f"chief listening on {host}:{port}; {workers} local worker(s); logs in {logs}")
    try:
        while chief.poll() is None:
            time.sleep(1.0)
            if on_poll:
                on_poll()
            local.check()
            if not local.procs and workers:
                # The chief would wait for ever for workers that will not come back.
                well = all(code == 0 for code in local.statuses.values())
                ended = "workers-ended" if well else "workers-failed"
                if not well:
                    say("no worker left; stopping the chief (run the same command to resume)")
                break
        local.wait(60 if chief.returncode == 0 else 0)
    finally:
        local.stop()
        _stop(chief)
    if on_poll:
        on_poll()
    status = chief.returncode
    if ended == "workers-ended":
        status = 0  # stopped by us once its work was done
    elif ended == "done" and status != 0:
        ended = "chief-died"
    for tuner_id, process in local.procs.items():
        local.statuses[tuner_id] = process.returncode
    return LaunchResult(status, local.restarts, local.statuses, ended)


def _start_chief(search_args, directory: Path, host: str, port: int, workers: int):
    """The chief's process, its certificate made first (the local workers read it from the
    directory as they start), seeing no GPU (it trains nothing)."""
    chief_certificate(directory)
    env = {**worker_env("chief", host, port), **gpu_env(None, workers, machine_gpus())}
    return _start(search_args, env, directory / LOGS_DIR / "chief.log")


class _Workers:
    """The local workers of ``launch``: started, watched, restarted when they die."""

    def __init__(self, search_args, workers: int, connect: str, port: int, logs: Path,
                 max_restarts: int, say: Callable[[str], None], secret: str):  # fmt: skip
        self.search_args, self.connect, self.port, self.logs = search_args, connect, port, logs
        self.max_restarts, self.say, self.secret = max_restarts, say, secret
        # share the cores between the workers instead of each TensorFlow taking all of them
        self.threads = max(1, (os.cpu_count() or 1) // max(1, workers))
        self.workers, self.gpus = workers, machine_gpus()  # one GPU each, where there are GPUs
        ids = [f"worker{i}" for i in range(workers)]
        self.procs = {i: self._start(i) for i in ids}
        self.restarts = {i: 0 for i in ids}
        self.statuses: dict[str, int] = {}

    def _start(self, tuner_id: str) -> subprocess.Popen:
        env = worker_env(tuner_id, self.connect, self.port, self.threads, self.secret)
        env.update(gpu_env(int(tuner_id.removeprefix("worker")), self.workers, self.gpus))
        return _start(self.search_args, env, self.logs / f"{tuner_id}.log")

    def check(self) -> None:
        """Notes each worker that ended, and restarts one that died (up to ``max_restarts``)."""
        for tuner_id, process in list(self.procs.items()):
            code = process.poll()
            if code is None:
                continue
            self.statuses[tuner_id] = code
            if code in (0, STOPPED_STATUS):  # done, out of budget, or stopped the search
                self.procs.pop(tuner_id)
            elif code == MACHINE_STATUS:  # its machine's fault: a restart would meet it again
                self.say(
                    f"{tuner_id} stopped, not restarted: {_last_line(self.logs / f'{tuner_id}.log')}"
                )
                self.procs.pop(tuner_id)
            elif self.restarts[tuner_id] >= self.max_restarts:
                self.say(
                    f"{tuner_id} died (exit status {code}) {self.restarts[tuner_id] + 1} times; "
                    "not restarting it"
                )
                self.procs.pop(tuner_id)
            else:
                self.restarts[tuner_id] += 1
                self.say(
                    f"{tuner_id} died (exit status {code}); restarting it: the chief gives it "
                    "back its unfinished trial, which is redone"
                )
                self.procs[tuner_id] = self._start(tuner_id)

    def wait(self, seconds: float) -> None:
        """Workers stop by themselves once the chief has no trial left; if the chief died, they
        would wait for it (keras-tuner waits an hour), so they are stopped after ``seconds``."""
        deadline = time.monotonic() + seconds
        for process in self.procs.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _stop(process)

    def stop(self) -> None:
        for process in self.procs.values():
            _stop(process)


def _last_line(log: Path) -> str:
    """The one line a process stopped by its machine ended its log with, or, where the log does
    not end with it (the full disk it met may have kept it from being written), the likely
    causes and where to look."""
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    if lines and lines[-1].startswith(ERROR_PREFIX):
        return lines[-1].removeprefix(ERROR_PREFIX)
    return (
        f"its machine failed a write (a full disk, or a read-only or vanished directory); see {log}"
    )


def run_distributed(train, space, config, reporter=None, *, workers: int, bind: str, port):
    """``digit-tuner search --workers N``: checks the settings and writes ``search.json`` here,
    then runs a chief and ``workers`` local workers, each started as ``digit-tuner resume DIR``
    (reading the same search.json), holding the search directory's lock for all of them.
    Finished trials are reported to ``reporter`` as they end.

    Returns:
        The search's records (``tuner.search.SearchResult``).

    Raises:
        SearchError: bad settings (before any process starts).
        SearchFailure: too many failed trials, every worker died, or the chief failed.
    """
    reporter = reporter or Reporter()
    store.check_name(config.name)
    directory = config.directory
    with store.hold(directory):
        prepare_search(train, space, config)  # bad settings fail here, before any process
        chief_secret(directory)  # created, or refused if others can read it, before any process
        if bind not in ("127.0.0.1", "localhost", "::1"):
            reporter.message(
                f"the chief listens on {bind}: a worker on another machine needs the search's "
                f"secret ({directory / SECRET_FILE}: copy it there and pass --secret-file). "
                "Requests travel unencrypted: on an untrusted network, reach the chief through "
                "an SSH tunnel."
            )
        seen: set[str] = set()

        def poll():
            for record in load_records(directory / TUNER_DIR):
                if record.ended and record.trial_id not in seen:
                    seen.add(record.trial_id)
                    reporter.trial_end(record)

        result = launch(
            ["resume", str(directory.resolve())],
            directory=directory,
            workers=workers,
            host=bind,
            port=port,
            on_poll=poll,
            on_message=reporter.message,
        )
    records = load_records(directory / TUNER_DIR)
    _check_ended_well(result, records, directory, config.max_consecutive_failures)
    return SearchResult(directory=directory, records=records)


def _check_ended_well(result: LaunchResult, records, directory: Path, max_failures: int) -> None:
    """Raises SearchFailure, saying why and what next, unless the launched search ended well."""
    logs = directory / LOGS_DIR
    if result.chief_status == MACHINE_STATUS:  # the chief's disk: the search cannot go on
        raise SearchFailure(f"{CHIEF_STOPPED}{_last_line(logs / 'chief.log')}")
    if STOPPED_STATUS in result.worker_status.values():
        failed = [r for r in records if r.state is TrialState.FAILED]
        reason = failed[-1].reason if failed else "unknown"
        raise SearchFailure(
            f"{directory}: stopped after {max_failures} failed trials "
            f"in a row; last reason: {reason}"
        )
    stopped = [w for w, code in result.worker_status.items() if code == MACHINE_STATUS]
    if result.ended == "workers-failed" and stopped:
        # the machine's line (a full disk: what to free, then the same command again)
        raise SearchFailure(f"{stopped[0]} stopped: {_last_line(logs / f'{stopped[0]}.log')}")
    if result.ended == "workers-failed":
        raise SearchFailure(
            f"every worker died (exit status {result.worker_status}); see {logs}; "
            "run the same command again to resume"
        )
    if result.chief_status != 0:
        raise SearchFailure(
            f"the chief stopped with exit status {result.chief_status}; see {logs / 'chief.log'}; "
            "run the same command again to resume"
        )

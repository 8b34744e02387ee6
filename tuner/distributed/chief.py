"""The chief of a distributed search: who may ask it what, and how a worker joins it.

``serve_workers`` is the chief's part of a search and ``join_chief`` a worker's, as the search
driver (``tuner.search.driver``) calls them in the process ``tuner.distributed.roles`` names.

keras-tuner's chief (``keras_tuner.src.distribute.oracle_chief``) serves its oracle on an insecure
gRPC port and believes every request. ``serve`` speaks the same protocol (keras-tuner's v4 protos,
so keras-tuner's own ``OracleClient`` is the worker's side) under these rules, kept by
``ChiefGuard``:

- Every request carries a worker id and that id's key (``tuner.distributed.secret``) as gRPC
  metadata; without them it is refused (UNAUTHENTICATED) before anything is read or changed.
- A worker asks for trials under its own id only, and the search admits at most ``max_workers``
  ids. One trial runs per worker: a worker that asks again gets its running trial back.
- A trial is read, reported and ended only by the worker running it. A report is a finite
  accuracy in 0..1 for a step not reported yet; an end is COMPLETED, STOPPED (pruned), INVALID or
  FAILED, with the hyperparameters the trial was given.
- A COMPLETED trial's score is the mean of its folds' records (``cv.json``, written by the worker
  that ran it), whatever was reported; a STOPPED one must say it was pruned there.
- A worker not heard from for ``lease`` seconds is taken as gone: its trial goes back to the queue
  and it no longer holds the chief open. A worker sends a heartbeat (``keep_alive``) meanwhile.
- A trial handed out again (a retry, a resumed search, a worker's lapsed trial) starts without
  the metrics of its earlier run (``fresh_metrics``), so that a value reported then is never
  taken for its score.

Each rule runs under the oracle's lock (``oracle_module.LOCKS``), which is released whatever
happens: keras-tuner's ``synchronized`` does not release it when the method raises, and a refused
request would leave the chief deadlocked.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
from concurrent import futures
from pathlib import Path

from tuner.backend import keras  # noqa: F401  (Keras loads quietly before keras-tuner)

import grpc
from keras_tuner.src import protos
from keras_tuner.src.engine import hyperparameters as hp_module
from keras_tuner.src.engine import oracle as oracle_module
from keras_tuner.src.engine import trial as trial_module

from tuner.compat.keras_tuner import fresh_metrics
from tuner.distributed.certificate import (
    CERT_FILE,
    SERVER_NAME,
    chief_certificate,
    worker_certificate,
)
from tuner.distributed.roles import chief_address, worker_id
from tuner.distributed.secret import (
    chief_secret,
    is_worker_id,
    keys_match,
    worker_key,
    worker_secret,
)
from tuner.errors import CHIEF_STOPPED, MachineFault, machine_fault
from tuner.storage.atomic import read_json
from tuner.storage.directory import CV_FILE, TUNER_DIR

__all__ = [
    "serve_workers",
    "join_chief",
    "ChiefGuard",
    "RejectedRequest",
    "Unauthenticated",
    "serve",
    "authenticate_worker",
    "refusal",
    "chief_fault",
    "keep_alive",
    "WORKER_HEADER",
    "KEY_HEADER",
    "MAX_WORKERS",
    "LEASE_SECONDS",
    "HEARTBEAT_SECONDS",
]

WORKER_HEADER = "digit-tuner-worker"
KEY_HEADER = "digit-tuner-key"
MAX_WORKERS = 64
# A worker's heartbeat comes every HEARTBEAT_SECONDS; four missed in a row and it is taken as gone.
HEARTBEAT_SECONDS = 15
LEASE_SECONDS = 4 * HEARTBEAT_SECONDS
ENDINGS = ("COMPLETED", "STOPPED", "INVALID", "FAILED")
_MESSAGE_CHARS = 2000  # a failed trial's message, kept as its reason
# gRPC's words when a TLS handshake fails (another certificate, or a chief in plain text)
_TLS_FAILURE = re.compile(r"ssl|tls|handshake|certificate|CERTIFICATE", re.I)


class RejectedRequest(ValueError):
    """A request to the chief that the worker sending it may not make."""


class Unauthenticated(RejectedRequest):
    """A request without a worker id and its key."""


class ChiefGuard:
    """The rules of the module doc, one method per request a worker sends, named after the oracle
    method it ends in; each takes the authenticated worker id first."""

    def __init__(self, oracle, tuner_dir: Path, secret: str, *, max_workers: int = MAX_WORKERS,
                 lease: float = LEASE_SECONDS, clock=time.monotonic):  # fmt: skip
        if not secret:
            raise ValueError("a chief needs its search's secret")
        self.oracle, self.tuner_dir, self.secret = oracle, Path(tuner_dir), secret
        self.max_workers, self.lease, self.clock = max_workers, lease, clock
        self.objective = oracle.objective.name
        self.admitted: set[str] = set()
        self.last_seen: dict[str, float] = {}

    @contextlib.contextmanager
    def locked(self):
        """Holds the oracle's lock (a call from inside another holds it already)."""
        lock, threads = oracle_module.LOCKS[self.oracle], oracle_module.THREADS
        me = threading.current_thread().name
        if threads[self.oracle] == me:
            yield
            return
        with lock:
            threads[self.oracle] = me
            try:
                yield
            finally:
                threads[self.oracle] = None

    def authenticate(self, metadata) -> str:
        """The worker id that ``metadata`` (gRPC's (key, value) pairs) proves, noted as heard
        from now. Raises Unauthenticated otherwise (saying no more, to a stranger)."""
        given = {key: value for key, value in metadata or () if isinstance(value, str)}
        worker, key = given.get(WORKER_HEADER, ""), given.get(KEY_HEADER, "")
        if not (is_worker_id(worker) and keys_match(self.secret, worker, key)):
            raise Unauthenticated("missing or wrong worker credentials")
        with self.locked():
            self.last_seen[worker] = self.clock()
        return worker

    def create_trial(self, worker: str, tuner_id: str):
        with self.locked():
            if tuner_id != worker:
                raise RejectedRequest(f"worker {worker} asked for a trial as {tuner_id!r}")
            if worker not in self.admitted and len(self.admitted) >= self.max_workers:
                raise RejectedRequest(
                    f"the search admits {self.max_workers} workers; {worker!r} is one too many"
                )
            self.admitted.add(worker)
            self.last_seen[worker] = self.clock()  # its lease starts with its trial
            trial = self.oracle.create_trial(worker)
            if trial.status == trial_module.TrialStatus.RUNNING:
                fresh_metrics(self.oracle, trial)
            return trial

    def update_trial(self, worker: str, trial_id: str, metrics, step: int = 0):
        with self.locked():
            trial = self._own(worker, trial_id)
            for name, value in dict(metrics).items():
                self._check_report(trial, name, value, step)
            return self.oracle.update_trial(trial.trial_id, dict(metrics), step=step)

    def _check_report(self, trial, name, value, step) -> None:
        if name != self.objective:
            raise RejectedRequest(f"unknown metric {name!r}")
        if not (isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= 1):
            raise RejectedRequest(f"{name} must be a finite accuracy in 0..1, got {value!r}")
        if trial.metrics.exists(name) and any(
            seen.step == step for seen in trial.metrics.get_history(name)
        ):
            raise RejectedRequest(f"trial {trial.trial_id}: {name} at step {step} was reported")

    def end_trial(self, worker: str, trial) -> None:
        with self.locked():
            known = self._own(worker, trial.trial_id)
            if dict(trial.hyperparameters.values) != dict(known.hyperparameters.values):
                raise RejectedRequest(
                    f"trial {trial.trial_id}: hyperparameters differ from its own"
                )
            if trial.status not in ENDINGS:
                raise RejectedRequest(
                    f"trial {trial.trial_id}: a trial ends as one of {', '.join(ENDINGS)}, "
                    f"got {trial.status!r}"
                )
            if trial.status == trial_module.TrialStatus.COMPLETED:
                self._score_from_folds(known, worker)
            elif trial.status == trial_module.TrialStatus.STOPPED:
                if not self._folds_record(known.trial_id, worker).get("pruned"):
                    raise RejectedRequest(f"trial {trial.trial_id}: stopped, but not pruned")
            trial.message = (trial.message or "")[:_MESSAGE_CHARS] or None
            self.oracle.end_trial(trial)

    def _score_from_folds(self, trial, worker: str) -> None:
        """Sets the trial's score to its folds' mean (``cv.json``), replacing what was reported."""
        record = self._folds_record(trial.trial_id, worker)
        try:
            folds = record["folds"]
            mean = sum(float(f["val_accuracy"]) for f in folds) / len(folds)
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            raise RejectedRequest(f"trial {trial.trial_id}: its {CV_FILE} has no folds") from None
        if not (math.isfinite(mean) and 0 <= mean <= 1):
            raise RejectedRequest(f"trial {trial.trial_id}: its folds' mean is {mean}")
        reported = trial.metrics.metrics.pop(self.objective, None)
        steps = reported.get_history() if reported is not None else []
        trial.metrics.register(self.objective, direction=self.oracle.objective.direction)
        trial.metrics.update(self.objective, mean, step=steps[-1].step if steps else 0)

    def _folds_record(self, trial_id: str, worker: str) -> dict:
        try:
            record = read_json(self.tuner_dir / f"trial_{trial_id}" / CV_FILE)
        except (OSError, ValueError):
            raise RejectedRequest(f"trial {trial_id}: ended without its {CV_FILE}") from None
        if not isinstance(record, dict) or record.get("worker") not in (None, worker):
            raise RejectedRequest(f"trial {trial_id}: its {CV_FILE} is another worker's")
        return record

    def get_trial(self, worker: str, trial_id: str):
        with self.locked():
            return self._own(worker, trial_id)

    def get_space(self, worker: str):
        with self.locked():
            return self.oracle.get_space()

    def update_space(self, worker: str, hyperparameters) -> None:
        with self.locked():
            try:
                self.oracle.update_space(hyperparameters)
            except RuntimeError as e:  # allow_new_entries=False: the space is the search's
                raise RejectedRequest(" ".join(str(e).split())[:300]) from None

    def get_best_trials(self, worker: str, num_trials: int):
        with self.locked():
            return self.oracle.get_best_trials(max(1, min(int(num_trials), 100)))

    def _own(self, worker: str, trial_id):
        trial = self.oracle.trials.get(str(trial_id))
        if trial is None:
            raise RejectedRequest(f"unknown trial id {str(trial_id)[:80]!r}")
        running = self.oracle.ongoing_trials.get(worker)
        if running is None or running.trial_id != trial.trial_id:
            raise RejectedRequest(f"trial {trial.trial_id} is not running on worker {worker}")
        return trial

    def reap(self) -> list[str]:
        """Takes as gone each worker not heard from for ``lease`` seconds: its running trial goes
        back to the queue, and it is no longer waited for. Returns the ids of the requeued trials."""
        requeued = []
        with self.locked():
            now = self.clock()
            for worker, seen in list(self.last_seen.items()):
                if now - seen < self.lease:
                    continue
                del self.last_seen[worker]
                self.oracle.tuner_ids.discard(worker)
                trial = self.oracle.ongoing_trials.pop(worker, None)
                if trial is not None:
                    fresh_metrics(self.oracle, trial)
                    self.oracle._retry_queue.append(trial.trial_id)
                    self.oracle.save()
                    requeued.append(trial.trial_id)
        return requeued

    def idle(self) -> bool:
        """No trial running and no worker waited for (keras-tuner's ``exit_chief``)."""
        with self.locked():
            return not self.oracle.ongoing_trials and not self.oracle.tuner_ids


class _Servicer(protos.get_service_grpc().OracleServicer):
    """keras-tuner's gRPC service, each request authenticated and put to the guard."""

    def __init__(self, guard: ChiefGuard):
        self.guard = guard
        self.stop_triggered = False  # a worker was told the search has no trial left
        self.fault: MachineFault | None = None  # the chief's machine failed a request's write

    def _answer(self, context, method, *args):
        """``method(worker, *args)`` for the worker the request's metadata proves; a refusal
        ends the request with its reason (keras-tuner's worker raises it as an RpcError). A
        fault of the chief's machine (its disk full writing the oracle's state) ends the
        request with its line and stops the search (``serve``): every next write would meet it."""
        try:
            worker = self.guard.authenticate(context.invocation_metadata())
            return method(worker, *args)
        except Unauthenticated as e:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, str(e))
        except RejectedRequest as e:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, str(e))
        except Exception as e:
            if (fault := machine_fault(e)) is None:
                raise
            self.fault = self.fault or fault
            context.abort(grpc.StatusCode.INTERNAL, f"{CHIEF_STOPPED}{fault}")

    def GetSpace(self, request, context):
        space = self._answer(context, self.guard.get_space)
        return protos.get_service().GetSpaceResponse(hyperparameters=space.to_proto())

    def UpdateSpace(self, request, context):
        space = hp_module.HyperParameters.from_proto(request.hyperparameters)
        self._answer(context, self.guard.update_space, space)
        return protos.get_service().UpdateSpaceResponse()

    def CreateTrial(self, request, context):
        trial = self._answer(context, self.guard.create_trial, request.tuner_id)
        if trial.status == trial_module.TrialStatus.STOPPED:
            self.stop_triggered = True
        return protos.get_service().CreateTrialResponse(trial=trial.to_proto())

    def UpdateTrial(self, request, context):
        trial = self._answer(
            context, self.guard.update_trial, request.trial_id, dict(request.metrics), request.step
        )
        return protos.get_service().UpdateTrialResponse(trial=trial.to_proto())

    def EndTrial(self, request, context):
        self._answer(context, self.guard.end_trial, trial_module.Trial.from_proto(request.trial))
        return protos.get_service().EndTrialResponse()

    def GetTrial(self, request, context):
        trial = self._answer(context, self.guard.get_trial, request.trial_id)
        return protos.get_service().GetTrialResponse(trial=trial.to_proto())

    def GetBestTrials(self, request, context):
        trials = self._answer(context, self.guard.get_best_trials, request.num_trials)
        return protos.get_service().GetBestTrialsResponse(trials=[t.to_proto() for t in trials])


def serve_workers(oracle, directory: Path) -> None:
    """The chief's part of the search in ``directory``: serves its oracle's trials over TLS
    (the search's certificate: ``tuner.distributed.certificate``) at the chief's address to the
    workers that prove they hold the search's secret, until none is left and no worker runs
    one."""
    guard = ChiefGuard(oracle, directory / TUNER_DIR, chief_secret(directory))
    serve(guard, *chief_address(), certificate=chief_certificate(directory))


def join_chief(oracle_client, directory: Path) -> None:
    """A worker's part before it runs a trial: it talks to the chief over TLS, trusting only the
    search's certificate; every request carries its id and that id's key (from the search's
    secret), and a heartbeat keeps its lease."""
    key = worker_key(worker_secret(directory), worker_id())
    certificate = worker_certificate(directory)
    authenticate_worker(oracle_client, *chief_address(), worker_id(), key, certificate)
    keep_alive(oracle_client)


def serve(
    guard: ChiefGuard,
    host: str,
    port: int,
    *,
    certificate: tuple[bytes, bytes] | None = None,
    poll: float = 1.0,
    started=None,
) -> None:
    """Serves ``guard``'s oracle at ``host:port`` until the search has no trial left and no
    worker is running one (keras-tuner's ``oracle_chief.start_server``, with the guard's rules
    and its lease): over TLS with ``certificate`` (key, certificate; PEM), else in plain text
    on a loopback address only. ``started`` (a ``threading.Event``) is set once the port is
    open.

    Raises:
        OSError: the port cannot be opened.
        MachineFault: the chief's machine failed a write (its disk full): the search stops, and
            the same command resumes it once the cause is gone.
    """
    # One request at a time, as keras-tuner's chief: the oracle's read methods are not locked.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = _Servicer(guard)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    address = _address(host, port)
    try:
        opened = _open_port(server, address, host, certificate)
    except RuntimeError as e:
        raise OSError(f"the chief cannot listen on {address}: {e}") from None
    if not opened:
        raise OSError(f"the chief cannot listen on {address}")
    server.start()
    if started is not None:
        started.set()
    try:
        while not (servicer.stop_triggered and guard.idle()):
            time.sleep(poll)
            if servicer.fault is not None:
                raise servicer.fault
            guard.reap()
    finally:
        server.stop(grace=1.0)


def _address(host: str, port) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Credentials(grpc.UnaryUnaryClientInterceptor):
    """Adds a worker's id and key to each request it sends."""

    def __init__(self, worker: str, key: str):
        self.metadata = ((WORKER_HEADER, worker), (KEY_HEADER, key))

    def intercept_unary_unary(self, continuation, details, request):
        details = details._replace(metadata=(*(details.metadata or ()), *self.metadata))
        return continuation(details, request)


def _open_port(server, address: str, host: str, certificate) -> int:
    if certificate is not None:
        return server.add_secure_port(address, grpc.ssl_server_credentials([certificate]))
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"a chief serves {address} only over TLS (no certificate given)")
    return server.add_insecure_port(address)


def authenticate_worker(
    oracle_client, host: str, port, worker: str, key: str, certificate: bytes | None = None
) -> None:
    """Makes keras-tuner's ``OracleClient`` talk to the chief over TLS, trusting ``certificate``
    only (PEM; None: plain text, a loopback chief of the tests), and send ``worker``'s
    credentials with each request (it opens an insecure channel with none:
    ``OracleClient.stub``)."""
    address = _address(host, port)
    if certificate is None:
        channel = grpc.insecure_channel(address)
    else:
        trusted = grpc.ssl_channel_credentials(root_certificates=certificate)
        override = (("grpc.ssl_target_name_override", SERVER_NAME),)
        channel = grpc.secure_channel(address, trusted, options=override)
    intercepted = grpc.intercept_channel(channel, _Credentials(worker, key))
    oracle_client.stub = protos.get_service_grpc().OracleStub(intercepted)


def keep_alive(oracle_client, every: float = HEARTBEAT_SECONDS) -> threading.Thread:
    """Starts a thread that tells the chief, every ``every`` seconds, that this worker is alive
    (a cheap authenticated request), so that its trial is not given to another worker."""
    thread = threading.Thread(
        target=_beat, args=(oracle_client.stub, every), name="digit-tuner-heartbeat", daemon=True
    )
    thread.start()
    return thread


def _beat(stub, every: float) -> None:
    request = protos.get_service().GetSpaceRequest()
    while True:
        time.sleep(every)
        with contextlib.suppress(grpc.RpcError):  # the chief is busy, gone or done: try later
            stub.GetSpace(request, timeout=every)


def chief_fault(error: BaseException) -> MachineFault | None:
    """The chief's machine stopped the search (its disk full), if ``error`` is the chief saying
    so: the worker stops with the chief's line, as a machine's fault (not restarted)."""
    if not isinstance(error, grpc.RpcError) or error.code() is not grpc.StatusCode.INTERNAL:
        return None
    details = str(error.details() or "")
    return MachineFault(details) if details.startswith(CHIEF_STOPPED) else None


def refusal(error: BaseException) -> str | None:
    """One line on why the chief refused this worker (or this worker the chief), if ``error``
    is that refusal: its credentials, or a TLS handshake with a chief whose certificate is not
    the one the worker trusts."""
    if not isinstance(error, grpc.RpcError):
        return None
    refused = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
    if error.code() in refused:
        return f"the chief refused this worker: {error.details()} ({error.code().name})"
    details = str(error.details() or "")
    if error.code() is grpc.StatusCode.UNAVAILABLE and _TLS_FAILURE.search(details):
        return (
            "the chief's certificate is not the one this worker trusts (its search's "
            f"{CERT_FILE}: --cert-file), or it does not speak TLS; refused ({details[:120]})"
        )
    return None

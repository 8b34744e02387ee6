"""The distributed chief's rules (tuner.distributed.chief): each attack on a running search is refused,
first through the guard's methods, then over gRPC with keras-tuner's own protos as the client."""

from __future__ import annotations

import errno
import json
import threading
import types

import grpc
import keras_tuner
import pytest
from keras_tuner.src import protos
from keras_tuner.src.distribute import oracle_client

from tuner.distributed.chief import (
    KEY_HEADER,
    WORKER_HEADER,
    ChiefGuard,
    RejectedRequest,
    Unauthenticated,
    authenticate_worker,
    chief_fault,
    serve,
)
from tuner.distributed.launcher import free_port
from tuner.distributed.secret import worker_key
from tuner.errors import MachineFault

SECRET = "s3cret" * 8


def make_oracle(tmp_path, max_trials=5):
    hp = keras_tuner.HyperParameters()
    hp.Int("units", 1, 100)
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("val_accuracy", "max"),
        max_trials=max_trials,
        hyperparameters=hp,
        seed=1,
        allow_new_entries=False,
        tune_new_entries=False,
    )
    oracle._set_project_dir(str(tmp_path), "tuner")
    return oracle


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def guard(tmp_path):
    return ChiefGuard(make_oracle(tmp_path), tmp_path / "tuner", SECRET, max_workers=3,
                      lease=60, clock=Clock())  # fmt: skip


def credentials(worker, key=None):
    return ((WORKER_HEADER, worker), (KEY_HEADER, key or worker_key(SECRET, worker)))


def write_cv(guard, trial_id, scores, worker="worker0", pruned=None):
    trial_dir = guard.tuner_dir / f"trial_{trial_id}"
    trial_dir.mkdir(parents=True, exist_ok=True)
    folds = [{"val_accuracy": s} for s in scores]
    (trial_dir / "cv.json").write_text(
        json.dumps({"folds": folds, "worker": worker, "pruned": pruned})
    )


def ending(trial, status):
    return keras_tuner.engine.trial.Trial(
        trial.hyperparameters.copy(), trial_id=trial.trial_id, status=status
    )


def call_in_time(function, *args):
    """``function(*args)`` in a thread; fails if it blocks (a leaked oracle lock deadlocks)."""
    outcome = {}

    def target():
        try:
            outcome["value"] = function(*args)
        except Exception as e:  # noqa: BLE001 - the test looks at it
            outcome["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the chief's oracle is deadlocked"
    return outcome


def refused(function, *args, match: str = ""):
    error = call_in_time(function, *args).get("error")
    assert isinstance(error, RejectedRequest), (args, error)
    assert match in str(error)
    return error


def test_a_worker_proves_its_id_with_its_own_key(guard):
    assert guard.authenticate(credentials("worker0")) == "worker0"
    for metadata in [
        None,
        (),
        ((WORKER_HEADER, "worker0"),),
        credentials("worker0", key="0" * 64),
        credentials("worker0", key=worker_key(SECRET, "worker1")),  # another id's key
        credentials("worker0", key=worker_key("guessed", "worker0")),
        credentials("chief", key=worker_key(SECRET, "chief")),
        credentials("../../x", key=worker_key(SECRET, "../../x")),
        credentials("w" * 5000, key=worker_key(SECRET, "w" * 5000)),
    ]:
        assert isinstance(refused(guard.authenticate, metadata), Unauthenticated)


def test_trials_are_asked_for_under_ones_own_id_one_at_a_time_and_ids_are_capped(guard):
    refused(guard.create_trial, "worker0", "worker1", match="asked for a trial as 'worker1'")
    first = guard.create_trial("worker0", "worker0")
    assert guard.create_trial("worker0", "worker0").trial_id == first.trial_id  # one at a time
    guard.create_trial("worker1", "worker1")
    guard.create_trial("worker2", "worker2")
    refused(guard.create_trial, "worker3", "worker3", match="admits 3 workers")
    assert len(guard.oracle.ongoing_trials) == 3


def test_only_the_worker_running_a_trial_reads_reports_or_ends_it(guard):
    trial = guard.create_trial("worker0", "worker0")
    guard.create_trial("worker1", "worker1")
    intruder = "worker1"
    refused(guard.get_trial, intruder, trial.trial_id, match="not running on worker worker1")
    refused(guard.update_trial, intruder, trial.trial_id, {"val_accuracy": 0.5}, 0)
    for status in ("COMPLETED", "FAILED", "STOPPED", "INVALID"):
        refused(guard.end_trial, intruder, ending(trial, status), match="not running on")
    assert not guard.oracle.trials[trial.trial_id].metrics.exists("val_accuracy")
    assert guard.oracle.trials[trial.trial_id].status == "RUNNING"
    refused(guard.get_trial, "worker0", "999", match="unknown trial id")


def test_reports_are_accuracies_once_per_step(guard):
    trial = guard.create_trial("worker0", "worker0")
    for metrics, match in [
        ({"val_accuracy": 7.0}, "finite accuracy in 0..1"),
        ({"val_accuracy": float("nan")}, "finite accuracy"),
        ({"loss": 0.1}, "unknown metric"),
    ]:
        refused(guard.update_trial, "worker0", trial.trial_id, metrics, 0, match=match)
    guard.update_trial("worker0", trial.trial_id, {"val_accuracy": 0.8}, 0)
    refused(guard.update_trial, "worker0", trial.trial_id, {"val_accuracy": 0.9}, 0,
            match="at step 0 was reported")  # fmt: skip


def test_an_end_is_checked_and_a_score_comes_from_the_folds_records(guard):
    trial = guard.create_trial("worker0", "worker0")
    other = ending(trial, "COMPLETED")
    other.hyperparameters.values = {"units": 1 if trial.hyperparameters["units"] != 1 else 2}
    refused(guard.end_trial, "worker0", other, match="hyperparameters differ")
    refused(guard.end_trial, "worker0", ending(trial, "RUNNING"), match="ends as one of")
    refused(guard.end_trial, "worker0", ending(trial, "BOGUS"), match="ends as one of")
    refused(guard.end_trial, "worker0", ending(trial, "COMPLETED"), match="without its cv.json")
    write_cv(guard, trial.trial_id, [0.5, 0.6], worker="worker1")
    refused(guard.end_trial, "worker0", ending(trial, "COMPLETED"), match="another worker's")
    write_cv(guard, trial.trial_id, [0.5, 0.6])
    refused(guard.end_trial, "worker0", ending(trial, "STOPPED"), match="not pruned")

    guard.update_trial("worker0", trial.trial_id, {"val_accuracy": 0.99}, 0)  # not its folds'
    guard.end_trial("worker0", ending(trial, "COMPLETED"))
    ended = guard.oracle.trials[trial.trial_id]
    assert ended.status == "COMPLETED" and ended.score == pytest.approx(0.55)
    refused(guard.end_trial, "worker0", ending(trial, "COMPLETED"), match="not running")


def test_a_worker_that_vanishes_gives_its_trial_back_after_the_lease(guard):
    trial = guard.create_trial("worker0", "worker0")
    guard.update_trial("worker0", trial.trial_id, {"val_accuracy": 0.5}, 0)
    guard.clock.now = 30
    guard.authenticate(credentials("worker1"))
    assert guard.reap() == []  # worker0 was heard from less than a lease ago
    guard.clock.now = 61
    assert guard.reap() == [trial.trial_id]
    assert guard.idle()  # the chief no longer waits for worker0
    again = guard.create_trial("worker1", "worker1")
    assert again.trial_id == trial.trial_id and not again.metrics.exists("val_accuracy")
    write_cv(guard, trial.trial_id, [0.7, 0.8])
    refused(guard.end_trial, "worker0", ending(trial, "COMPLETED"), match="not running on")


@pytest.fixture
def chief(tmp_path):
    """A chief serving a 2-trial search on a loopback port, in a thread."""
    guard = ChiefGuard(make_oracle(tmp_path, max_trials=2), tmp_path / "tuner", SECRET,
                       max_workers=4)  # fmt: skip
    port, started = free_port(), threading.Event()
    thread = threading.Thread(
        target=serve, args=(guard, "127.0.0.1", port), kwargs={"poll": 0.05, "started": started},
        daemon=True,
    )  # fmt: skip
    thread.start()
    assert started.wait(10)
    yield guard, port, thread
    guard.oracle.max_trials = 0


def stub(port, worker=None, key=None):
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    if worker is not None:
        client = types.SimpleNamespace()
        authenticate_worker(client, "127.0.0.1", port, worker, key or worker_key(SECRET, worker))
        return client.stub
    return protos.get_service_grpc().OracleStub(channel)


def every_request(trial_id="0"):
    service = protos.get_service()
    hp = keras_tuner.HyperParameters()
    hp.Int("units", 1, 1000)  # widened
    forged = keras_tuner.engine.trial.Trial(hp, trial_id=trial_id, status="COMPLETED")
    return [
        ("GetSpace", service.GetSpaceRequest()),
        ("UpdateSpace", service.UpdateSpaceRequest(hyperparameters=hp.to_proto())),
        ("CreateTrial", service.CreateTrialRequest(tuner_id="worker0")),
        (
            "UpdateTrial",
            service.UpdateTrialRequest(trial_id=trial_id, metrics={"val_accuracy": 0.5}),
        ),
        ("EndTrial", service.EndTrialRequest(trial=forged.to_proto())),
        ("GetTrial", service.GetTrialRequest(trial_id=trial_id)),
        ("GetBestTrials", service.GetBestTrialsRequest(num_trials=10)),
    ]


def code_of(stub_, name, request):
    try:
        getattr(stub_, name)(request, timeout=5)
    except grpc.RpcError as e:
        return e.code()
    return grpc.StatusCode.OK


def test_over_grpc_a_stranger_gets_nothing_and_changes_nothing(chief, tmp_path):
    guard, port, _ = chief
    honest = stub(port, "worker0")
    trial = keras_tuner.engine.trial.Trial.from_proto(
        honest.CreateTrial(protos.get_service().CreateTrialRequest(tuner_id="worker0")).trial
    )
    strangers = [stub(port), stub(port, "worker0", key="0" * 64), stub(port, "w9", key="x")]
    for stranger in strangers:
        for name, request in every_request(trial.trial_id):
            assert code_of(stranger, name, request) == (grpc.StatusCode.UNAUTHENTICATED), name
    # 200 made-up worker ids use up nothing
    for i in range(200):
        request = protos.get_service().CreateTrialRequest(tuner_id=f"made-up{i}")
        assert code_of(strangers[0], "CreateTrial", request) != grpc.StatusCode.OK
    assert list(guard.oracle.trials) == [trial.trial_id]
    assert not guard.oracle.trials[trial.trial_id].metrics.exists("val_accuracy")

    # a worker with the secret may not act for another: refused with the reason
    other = stub(port, "worker1")
    for name, request in every_request(trial.trial_id)[2:6]:
        assert code_of(other, name, request) == (grpc.StatusCode.PERMISSION_DENIED), name
    assert guard.oracle.trials[trial.trial_id].status == "RUNNING"


def test_keras_tuners_own_worker_completes_a_search_with_credentials(chief, tmp_path, monkeypatch):
    guard, port, thread = chief
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(port))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker0")
    local = make_oracle(tmp_path / "worker")
    client = oracle_client.OracleClient(local)
    authenticate_worker(client, "127.0.0.1", port, "worker0", worker_key(SECRET, "worker0"))
    scores = []
    while (trial := client.create_trial("worker0")).status == "RUNNING":
        assert client.get_trial(trial.trial_id).trial_id == trial.trial_id
        write_cv(guard, trial.trial_id, [0.9, 0.8 + 0.01 * len(scores)])
        client.update_trial(trial.trial_id, {"val_accuracy": 0.85 + 0.005 * len(scores)})
        trial.status = "COMPLETED"
        client.end_trial(trial)
        scores.append(guard.oracle.trials[trial.trial_id].score)
    assert trial.status == "STOPPED" and scores == pytest.approx([0.85, 0.855])
    thread.join(timeout=10)
    assert not thread.is_alive()  # the chief ended once no trial was left and none running


@pytest.fixture
def tls_chief(tmp_path):
    """A chief serving over TLS with its search's certificate, on a loopback port."""
    from tuner.distributed.certificate import chief_certificate

    guard = ChiefGuard(make_oracle(tmp_path, max_trials=2), tmp_path / "tuner", SECRET)
    port, started = free_port(), threading.Event()
    certificate = chief_certificate(tmp_path)
    thread = threading.Thread(
        target=serve, args=(guard, "127.0.0.1", port),
        kwargs={"certificate": certificate, "poll": 0.05, "started": started}, daemon=True,
    )  # fmt: skip
    thread.start()
    assert started.wait(10)
    yield guard, port, certificate[1]
    guard.oracle.max_trials = 0


def test_over_tls_a_worker_trusting_the_searchs_certificate_gets_its_trial(tls_chief, tmp_path):
    import os
    import stat

    from tuner.distributed.certificate import KEY_FILE, chief_certificate
    from tuner.distributed.chief import refusal

    guard, port, certificate = tls_chief
    assert stat.S_IMODE(os.stat(tmp_path / KEY_FILE).st_mode) == 0o600
    honest = types.SimpleNamespace()
    authenticate_worker(honest, "127.0.0.1", port, "worker0", worker_key(SECRET, "worker0"),
                        certificate)  # fmt: skip
    request = protos.get_service().CreateTrialRequest(tuner_id="worker0")
    assert honest.stub.CreateTrial(request, timeout=10).trial.trial_id == "0"
    # a plain-text client, and one pinned to another search's certificate, get nothing
    plain = stub(port, "worker0")
    assert code_of(plain, "CreateTrial", request) == grpc.StatusCode.UNAVAILABLE
    other, another = types.SimpleNamespace(), tmp_path / "another"
    another.mkdir()
    authenticate_worker(other, "127.0.0.1", port, "worker0", worker_key(SECRET, "worker0"),
                        chief_certificate(another)[1])  # fmt: skip
    with pytest.raises(grpc.RpcError) as info:
        other.stub.CreateTrial(request, timeout=10)
    said = refusal(info.value)
    assert said.startswith("the chief's certificate is not the one this worker trusts")
    assert "\n" not in said
    assert list(guard.oracle.trials) == ["0"]


def test_a_chief_without_a_certificate_serves_loopback_only(tmp_path):
    guard = ChiefGuard(make_oracle(tmp_path), tmp_path / "tuner", SECRET)
    with pytest.raises(ValueError, match="only over TLS"):
        serve(guard, "0.0.0.0", free_port())


def test_the_chiefs_full_disk_ends_the_request_with_its_line_and_stops_serving(guard, tmp_path):
    """A write of the oracle's state meets a full disk: the worker's request ends with the
    machine's line (which the worker stops with, ``chief_fault``) and the chief stops serving
    with it, instead of answering later requests from a state it could not save."""
    where = str(tmp_path / "tuner" / "oracle.json")

    def full():
        raise OSError(errno.ENOSPC, "No space left on device", where)

    guard.oracle.save = full
    port, started, outcome = free_port(), threading.Event(), {}

    def chief():
        try:
            serve(guard, "127.0.0.1", port, poll=0.05, started=started)
        except Exception as e:  # noqa: BLE001 - the test looks at it
            outcome["error"] = e

    thread = threading.Thread(target=chief, daemon=True)
    thread.start()
    assert started.wait(10)
    with pytest.raises(grpc.RpcError) as raised:
        request = protos.get_service().CreateTrialRequest(tuner_id="worker0")
        stub(port, "worker0").CreateTrial(request, timeout=5)
    said = chief_fault(raised.value)
    line = f"no space left on device writing {where}"
    assert isinstance(said, MachineFault) and str(said).startswith(f"the chief stopped: {line}")
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert isinstance(outcome["error"], MachineFault) and str(outcome["error"]).startswith(line)
    assert chief_fault(ValueError("the chief stopped: not an RpcError")) is None

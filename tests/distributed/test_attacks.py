"""A distributed search attacked while it runs: a stranger who reaches the chief's port (without
the search's secret) is refused every request, and the search ends as an unattacked one."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import grpc
import keras_tuner
import pytest
from keras_tuner.src import protos
from typer.testing import CliRunner

from tests.distributed.test_launcher import check_complete, search_command
from tests.helpers import ROOT
from tuner.cli import app
from tuner.distributed.certificate import CERT_FILE, SERVER_NAME
from tuner.distributed.chief import KEY_HEADER, WORKER_HEADER
from tuner.distributed.launcher import free_port

# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager

REFUSED = grpc.StatusCode.UNAUTHENTICATED
# the chief not up yet, or gone (a request in flight when it stops is cancelled): no answer
UNREACHED = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
)


def attacks() -> list[tuple[str, object]]:
    """The requests of the issue's attacks, for trials 0..3 and made-up workers."""
    service = protos.get_service()
    wide = keras_tuner.HyperParameters()
    wide.Int("conv_filters", 1, 4096)
    requests: list[tuple[str, object]] = [
        ("GetSpace", service.GetSpaceRequest()),
        ("GetBestTrials", service.GetBestTrialsRequest(num_trials=100)),
        ("UpdateSpace", service.UpdateSpaceRequest(hyperparameters=wide.to_proto())),
        ("CreateTrial", service.CreateTrialRequest(tuner_id="worker0")),
    ]
    requests += [
        ("CreateTrial", service.CreateTrialRequest(tuner_id=f"made-up{i}")) for i in range(20)
    ]
    for trial_id in ("0", "1", "2", "3"):
        requests.append(("GetTrial", service.GetTrialRequest(trial_id=trial_id)))
        requests.append(
            (
                "UpdateTrial",
                service.UpdateTrialRequest(trial_id=trial_id, metrics={"val_accuracy": 0.5}),
            )
        )
        for status in ("FAILED", "STOPPED", "INVALID", "IDLE", "RUNNING", "COMPLETED"):
            trial = keras_tuner.engine.trial.Trial(
                keras_tuner.HyperParameters(), trial_id=trial_id, status=status
            )
            requests.append(("EndTrial", service.EndTrialRequest(trial=trial.to_proto())))
    return requests


def channel_to(port: int, certificate: Path):
    """A channel to the chief: over TLS once its search has a certificate (a certificate is no
    secret: a stranger may well hold it), else in plain text."""
    address = f"127.0.0.1:{port}"
    if not certificate.is_file():
        return grpc.insecure_channel(address)
    trusted = grpc.ssl_channel_credentials(root_certificates=certificate.read_bytes())
    override = (("grpc.ssl_target_name_override", SERVER_NAME),)
    return grpc.secure_channel(address, trusted, options=override)


def attack(port: int, stop: threading.Event, codes: list, certificate: Path) -> None:
    """Replays ``attacks()`` without credentials and with a guessed id and key until ``stop``
    (a new channel each round: gRPC backs off a channel whose chief was not up yet)."""
    guessed = ((WORKER_HEADER, "worker0"), (KEY_HEADER, "0" * 64))
    while not stop.is_set():
        with channel_to(port, certificate) as channel:
            stub = protos.get_service_grpc().OracleStub(channel)
            for name, request in attacks():
                for metadata in (None, guessed):
                    try:
                        getattr(stub, name)(request, timeout=2, metadata=metadata)
                        codes.append(grpc.StatusCode.OK)
                    except grpc.RpcError as e:
                        codes.append(e.code())
        stop.wait(0.05)


def run_search(tmp_path: Path, data: Path, name: str, attacked: bool):
    port = free_port()
    command = search_command(tmp_path, data, epochs=1)
    command[command.index("--name") + 1] = name
    command += ["--port", str(port)]
    stop, codes = threading.Event(), []
    certificate = tmp_path / name / CERT_FILE
    attacker = threading.Thread(target=attack, args=(port, stop, codes, certificate), daemon=True)
    if attacked:
        attacker.start()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=ROOT)
    finally:
        stop.set()
    if attacked:
        attacker.join(timeout=30)
        assert REFUSED in codes, "the attack never reached the chief"
        assert set(codes) <= {REFUSED, *UNREACHED}, set(codes)
    assert done.returncode == 0, done.stdout + done.stderr
    records = check_complete(tmp_path / name)
    for record in records:  # each score is its folds' mean, none a stranger's 0.5
        saved = json.loads(
            (tmp_path / name / "tuner" / f"trial_{record.trial_id}" / "trial.json").read_text()
        )
        assert saved["score"] == pytest.approx(record.mean) and saved["score"] != 0.5
    assert {r.worker for r in records} == {"worker0", "worker1"}
    return records, done.stdout


# under -m slow: the default suite's distributed search is `run --workers 1`
# (tests/distributed/test_launcher.py) and its refusals go over gRPC in tests/distributed/test_chief.py
@pytest.mark.slow
def test_a_search_attacked_while_it_runs_ends_with_every_trial(tmp_path, tiny_dir):
    """A chief and two local workers complete the search, attacked all along; the directory is
    an ordinary search directory: the trials table and the export work on it."""
    records, output = run_search(tmp_path, tiny_dir, "d", attacked=True)
    assert "chief listening on 127.0.0.1:" in output
    header = next(line for line in output.splitlines() if "CV acc" in line)
    assert header.split()[-1] == "worker"  # the trial table says who ran each trial
    listing = CliRunner().invoke(
        app, ["trials", "d", "--results-dir", str(tmp_path), "--format", "json"]
    )
    assert [r["worker"] for r in json.loads(listing.output)].count("worker0") >= 1
    exported = CliRunner().invoke(app, ["export", "d", "--results-dir", str(tmp_path)])
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "d" / "submission.csv").is_file()


@pytest.mark.slow  # two distributed searches, about a minute on 2 cores; run with -m slow
def test_an_attacked_search_ends_as_an_unattacked_one(tmp_path, tiny_dir):
    quiet, _ = run_search(tmp_path, tiny_dir, "quiet", attacked=False)
    attacked, _ = run_search(tmp_path, tiny_dir, "attacked", attacked=True)
    assert [(r.trial_id, r.hyperparameters, r.mean) for r in attacked] == [
        (r.trial_id, r.hyperparameters, r.mean) for r in quiet
    ]

"""One GPU per local worker, on a made-up device list (the lent machine has one GPU, CI none)."""

from __future__ import annotations

import pytest

from tuner.distributed import gpus as gpu_module
from tuner.distributed import launcher
from tuner.distributed.gpus import DEVICES_ENV, gpu_env, machine_gpus, workers_for
from tuner.errors import SearchError

# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager


def test_each_worker_gets_its_own_gpu_and_sharers_cap_their_memory():
    assert gpu_env(0, 2, ["0", "1"]) == {DEVICES_ENV: "0"}
    assert gpu_env(1, 2, ["0", "1"]) == {DEVICES_ENV: "1"}
    shared = gpu_env(2, 3, ["0", "1"])  # workers 0 and 2 on GPU 0
    assert shared[DEVICES_ENV] == "0" and shared["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert shared["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.45"
    assert gpu_env(1, 3, ["0", "1"]) == {DEVICES_ENV: "1"}  # alone on GPU 1
    assert gpu_env(0, 4, []) == {}  # no GPU: nothing set
    assert gpu_env(None, 2, ["0", "1"]) == {DEVICES_ENV: ""}  # the chief trains nothing


def test_the_machines_gpus_come_from_cuda_visible_devices_first(monkeypatch):
    monkeypatch.setenv(DEVICES_ENV, "2, 5")
    assert machine_gpus() == ["2", "5"]
    monkeypatch.setenv(DEVICES_ENV, "-1")  # CUDA's "none"
    assert machine_gpus() == []


def test_workers_gpus_starts_one_per_gpu_and_says_when_there_is_none():
    assert workers_for("gpus", gpus=["0", "1", "2"]) == 3 and workers_for("4") == 4
    with pytest.raises(SearchError, match="--workers gpus: this machine shows no GPU"):
        workers_for("gpus", gpus=[])
    with pytest.raises(SearchError, match="a count .* or 'gpus', got 'many'"):
        workers_for("many")


def test_the_launcher_gives_its_local_workers_the_gpus_in_turn(monkeypatch, tmp_path):
    started = {}
    monkeypatch.setattr(launcher, "machine_gpus", lambda: ["3", "5"])
    monkeypatch.setattr(launcher, "_start", lambda args, env, log: started.setdefault(
        log.stem, env))  # fmt: skip
    launcher._Workers(["search"], 3, "127.0.0.1", 1234, tmp_path, 0, print, "s" * 64)
    assert {w: env[DEVICES_ENV] for w, env in started.items()} == {
        "worker0": "3",
        "worker1": "5",
        "worker2": "3",
    }
    assert "XLA_PYTHON_CLIENT_MEM_FRACTION" in started["worker2"]
    assert "XLA_PYTHON_CLIENT_MEM_FRACTION" not in started["worker1"]
    assert gpu_module.DEVICES_ENV == DEVICES_ENV


def test_a_trial_records_the_gpu_it_trained_on(tmp_path):
    import json

    from tuner.storage.records import FoldResult, TrialState, load_records, write_cv

    trial = tmp_path / "tuner" / "trial_0"
    trial.mkdir(parents=True)
    values = {"units": 8}
    (trial / "trial.json").write_text(json.dumps(
        {"trial_id": "0", "status": "COMPLETED", "hyperparameters": {"values": values}}))  # fmt: skip
    write_cv(trial, folds=[FoldResult(0, 0.9, 0.1, 1, 1.0, 10, 5)], params=1, seconds=1.0,
             worker="worker1", gpu="5")  # fmt: skip
    (record,) = load_records(tmp_path / "tuner")
    assert record.state is TrialState.COMPLETE and record.gpu == "5"

"""Distributed search on 127.0.0.1: a keras-tuner chief and worker processes, one directory."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT, tiny_space
from tuner.storage.records import TrialState, load_records

# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager


def search_command(tmp_path: Path, data: Path, epochs: int) -> list[str]:
    space = tmp_path / "space.toml"
    space.write_text(tiny_space(max_trials=4, batch_size=32, epochs=epochs))
    return [
        sys.executable,
        "-m",
        "tuner.cli",
        "search",
        "--data",
        str(data),
        "--space",
        str(space),
        "--results-dir",
        str(tmp_path),
        "--name",
        "d",
        "--workers",
        "2",
        "--in-process",
    ]


def check_complete(directory: Path) -> list:
    records = load_records(directory / "tuner")
    assert [r.trial_id for r in records] == ["0", "1", "2", "3"]
    assert all(r.state is TrialState.COMPLETE for r in records)
    points = {json.dumps(r.hyperparameters, sort_keys=True) for r in records}
    assert len(points) == 4  # no trial ran twice, every point of the space once
    assert all(len(r.folds) == 2 for r in records)
    return records


@pytest.mark.slow  # over a minute on 2 cores; run with -m slow
def test_a_killed_worker_is_restarted_and_its_trial_redone(tmp_path, tiny_dir):
    process = subprocess.Popen(
        search_command(tmp_path, tiny_dir, epochs=6),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    logs = tmp_path / "d" / "logs"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until worker0 is inside a trial
            log = logs / "worker0.log"
            if log.exists() and "fold 1/2 epoch 2/6" in log.read_text():
                break
            time.sleep(0.2)
        else:
            pytest.fail("worker0 never started a trial")
        pid = int((logs / "worker0.pid").read_text())
        os.killpg(pid, signal.SIGKILL)
        output, _ = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "worker0 died (exit status -9); restarting it" in output
    check_complete(tmp_path / "d")


@pytest.mark.slow  # two distributed searches: over a minute on 2 cores
def test_a_worker_whose_disk_fills_stops_and_its_trial_is_run_again(tmp_path, tiny_dir):
    """One worker finds the disk full writing trial 1's first fold model (the other finds room:
    the fault happens once): it stops with the one line and is not restarted, the search goes
    on without it, trial 1 is not failed, and the same command again runs it: the four trials
    of an undisturbed search, each complete once."""
    from tuner.faults import FULL_VAR, ONCE_VAR

    env = {**os.environ, FULL_VAR: "write:trial_1/fold_0.weights.h5#1",
           ONCE_VAR: str(tmp_path / "full-once")}  # fmt: skip
    command = search_command(tmp_path, tiny_dir, epochs=1)
    first = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    output = first.stdout + first.stderr
    assert (tmp_path / "full-once").exists(), output
    stopped = [line for line in output.splitlines() if "stopped, not restarted" in line]
    assert len(stopped) == 1, output
    assert "no space left on device writing" in stopped[0] and "trial_1" in stopped[0]
    # the other worker ran out of trials with trial 1 still out: the search stops, exit 1,
    # with the machine's line and what to do
    last = output.strip().splitlines()[-1]
    assert first.returncode == 1 and "no space left on device writing" in last, output
    assert last.endswith("free some space, then run the same command again"), last
    records = {r.trial_id: r for r in load_records(tmp_path / "d" / "tuner")}
    assert all(r.state is not TrialState.FAILED for r in records.values()), output
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    check_complete(tmp_path / "d")


@pytest.mark.slow  # two distributed searches: over a minute on 2 cores
def test_the_chiefs_disk_filling_stops_the_search_which_resumes_whole(tmp_path, tiny_dir):
    """The chief finds its disk full saving the oracle's state (the fault happens once): it stops
    the search, exit 1, with the machine's line (not "exit status N, see the log"); the workers
    stop with it, not restarted; no trial is failed for it, and the same command again ends with
    the four trials of an undisturbed run."""
    from tuner.faults import FULL_VAR, ONCE_VAR

    env = {**os.environ, FULL_VAR: "write:oracle.json#4", ONCE_VAR: str(tmp_path / "full-once")}
    command = search_command(tmp_path, tiny_dir, epochs=1)
    first = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    output = first.stdout + first.stderr
    assert (tmp_path / "full-once").exists(), output
    last = output.strip().splitlines()[-1]
    assert first.returncode == 1, output
    assert last.startswith("error: the chief stopped: no space left on device writing"), output
    assert "oracle.json" in last and last.endswith("then run the same command again"), last
    assert "restarting" not in output, output  # a worker the chief stopped is not restarted
    records = load_records(tmp_path / "d" / "tuner")
    assert all(r.state is not TrialState.FAILED for r in records), output
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    check_complete(tmp_path / "d")


@pytest.mark.slow  # over a minute on 2 cores; run with -m slow
def test_a_killed_chief_is_resumed_by_the_same_command(tmp_path, tiny_dir):
    command = search_command(tmp_path, tiny_dir, epochs=4)
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    tuner_dir = tmp_path / "d" / "tuner"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait for a finished trial, then kill the chief
            if any(r.state is TrialState.COMPLETE for r in load_records(tuner_dir)):
                break
            time.sleep(0.2)
        else:
            pytest.fail("no trial finished")
        os.killpg(int((tmp_path / "d" / "logs" / "chief.pid").read_text()), signal.SIGKILL)
        output, _ = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1, output  # a runtime failure, not a user error
    assert "the chief stopped with exit status -9" in output
    assert "run the same command again to resume" in output
    kept = {r.trial_id: r.folds for r in load_records(tuner_dir) if r.state is TrialState.COMPLETE}
    assert kept

    done = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    records = check_complete(tmp_path / "d")
    for record in records:  # finished trials were kept, not rerun
        if record.trial_id in kept:
            assert record.folds == kept[record.trial_id]


@pytest.mark.slow  # over a minute on 2 cores; run with -m slow
def test_a_worker_joins_a_chief_by_address(tmp_path, tiny_dir):
    """`search --port P` starts a chief with no local worker; `worker --chief 127.0.0.1:P NAME
    --secret-file F` (as on another machine sharing the results directory, given a copy of the
    search's secret) runs the trials with the search's settings; one with a wrong secret is
    refused."""
    from tuner.distributed.launcher import free_port

    port = free_port()
    command = search_command(tmp_path, tiny_dir, epochs=1)
    chief_command = [*command[: command.index("--workers")], "--workers", "0", "--port", str(port)]
    worker_command = [
        sys.executable,
        "-m",
        "tuner.cli",
        "worker",
        "--chief",
        f"127.0.0.1:{port}",
        "--id",
        "remote1",
        "d",  # the search: its settings come from the shared search.json
        "--results-dir",
        str(tmp_path),
    ]
    root = ROOT
    chief = subprocess.Popen(
        chief_command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=root
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "d" / "logs" / "chief.pid").exists():
            assert time.monotonic() < deadline, "the chief did not start"
            time.sleep(0.2)
        # as on another machine: the search's secret copied there, passed by file
        copy = tmp_path / "elsewhere.secret"
        wrong = tmp_path / "wrong.secret"
        copy.write_text((tmp_path / "d" / "chief.secret").read_text())
        wrong.write_text("not-the-secret\n")
        for path in (copy, wrong):
            path.chmod(0o600)
        stranger = subprocess.run(
            [*worker_command, "--secret-file", str(wrong)],
            capture_output=True, text=True, timeout=240, cwd=root,
        )  # fmt: skip
        assert stranger.returncode != 0
        assert "the chief refused this worker" in stranger.stdout + stranger.stderr
        worker = subprocess.run(
            [*worker_command, "--secret-file", str(copy)],
            capture_output=True, text=True, timeout=240, cwd=root,
        )  # fmt: skip
        assert worker.returncode == 0, worker.stdout + worker.stderr
        output, _ = chief.communicate(timeout=120)
    finally:
        if chief.poll() is None:
            chief.kill()
    assert chief.returncode == 0, output
    assert f"chief listening on 127.0.0.1:{port}; 0 local worker(s)" in output
    records = check_complete(tmp_path / "d")
    assert {r.worker for r in records} == {"remote1"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def test_workers_out_of_time_budget_end_the_search_and_the_chief_and_run_exports(
    tmp_path, tiny_dir
):
    """`run --workers 1`: the worker stops on the time budget (the chief used to wait for it
    for ever), the chief stops, and `run` exports the distributed search's winner."""
    command = search_command(tmp_path, tiny_dir, epochs=1)
    command[command.index("--workers") + 1] = "1"
    command[command.index("search")] = "run"
    done = subprocess.run(
        [*command, "--time-budget", "0.05"],
        capture_output=True,
        text=True,
        timeout=150,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "time budget" in (tmp_path / "d" / "logs" / "worker0.log").read_text()
    chief = int((tmp_path / "d" / "logs" / "chief.pid").read_text())
    assert not _alive(chief)
    records = load_records(tmp_path / "d" / "tuner")
    assert records and all(r.state is TrialState.COMPLETE for r in records)
    manifest = json.loads((tmp_path / "d" / "search.json").read_text())
    assert manifest["best"]["trial_id"] in {r.trial_id for r in records}
    assert manifest["export"]["test_rows"] == 40
    assert (tmp_path / "d" / "submission.csv").exists() and (tmp_path / "d" / "best.keras").exists()


def test_no_process_outlives_a_killed_launcher(tmp_path, tiny_dir):
    """SIGKILL the `search --workers` process: the kernel stops its chief and worker too (they
    used to live on as orphans)."""
    process = subprocess.Popen(
        search_command(tmp_path, tiny_dir, epochs=20),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    logs = tmp_path / "d" / "logs"
    try:
        deadline = time.monotonic() + 90
        while not all((logs / f"{p}.pid").exists() for p in ("chief", "worker0", "worker1")):
            assert time.monotonic() < deadline, "the processes did not start"
            time.sleep(0.2)
        pids = [int((logs / f"{p}.pid").read_text()) for p in ("chief", "worker0", "worker1")]
        assert all(_alive(pid) for pid in pids)
        process.kill()
        process.wait()
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in pids)
    finally:
        if process.poll() is None:
            process.kill()
        for name in ("chief", "worker0", "worker1"):
            with contextlib.suppress(OSError, ValueError):
                os.killpg(int((logs / f"{name}.pid").read_text()), signal.SIGKILL)


def test_a_worker_its_machine_stopped_says_why_and_is_not_restarted(tmp_path, monkeypatch):
    """A worker whose disk fills exits with MACHINE_STATUS (not restarted: it would meet the same
    disk; the chief hands its trial on once its lease lapses), and the launcher shows its line."""
    import errno
    import subprocess
    import sys

    import typer

    from tuner.cli.core import user_errors
    from tuner.distributed.launcher import _Workers
    from tuner.errors import MACHINE_STATUS

    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker1")
    with pytest.raises(typer.Exit) as stopped, user_errors():
        raise OSError(errno.ENOSPC, "No space left on device", "/r/s/tuner/trial_1/cv.json")
    assert stopped.value.exit_code == MACHINE_STATUS
    said = []
    workers = _Workers([], 0, "127.0.0.1", 1, tmp_path, 3, said.append, "secret")
    (tmp_path / "worker1.log").write_text(
        "trial 1 fold 1/2\nerror: no space left on device writing /r/s/tuner/trial_1\n"
    )
    done = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({MACHINE_STATUS})"])
    done.wait()
    workers.procs, workers.restarts = {"worker1": done}, {"worker1": 0}
    workers.check()
    assert workers.procs == {} and workers.restarts == {"worker1": 0}
    assert said == [
        "worker1 stopped, not restarted: no space left on device writing /r/s/tuner/trial_1"
    ]


def test_a_stopped_processs_line_is_its_logs_last_error_line_or_where_to_look(tmp_path):
    """A worker or chief stopped by its machine ends its log with its one line; where the full
    disk kept that line from being written, the log ends elsewhere and the launcher says what
    likely happened and where to look, not a progress line taken for the reason."""
    from tuner.distributed.launcher import _last_line

    log = tmp_path / "worker0.log"
    log.write_text("trial 3 fold 1/2 epoch 1/2\nerror: no space left on device writing x\n")
    assert _last_line(log) == "no space left on device writing x"
    log.write_text("trial 3 fold 1/2 epoch 1/2\n")
    said = _last_line(log)
    assert said.startswith("its machine failed a write (a full disk") and str(log) in said
    assert _last_line(tmp_path / "missing.log").endswith(str(tmp_path / "missing.log"))

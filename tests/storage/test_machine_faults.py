"""Faults of the machine are not faults of the model: a full disk stops the search in one line
(exit 1), fails no trial, and the same command then ends as an undisturbed search would."""

from __future__ import annotations

import errno
import os
from collections import Counter

import pytest

from tests.helpers import invoke
from tuner import faults
from tuner.errors import MachineFault, machine_fault
from tuner.storage.records import TrialState, load_records

# h5py's words for a full disk while Keras saves a fold model (the measured failure)
H5PY_FULL = (
    "Unable to synchronously create file (unable to open file: name = "
    "'/r/s/tuner/trial_3/.fold_0.weights.h5.28956.tmp.weights.h5', errno = 28, error message = "
    "'No space left on device', flags = 13, o_flags = 242)"
)


# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/r/s/search.json"),
         "no space left on device writing /r/s/search.json: free some space, then run the same "
         "command again"),
        (RuntimeError(H5PY_FULL), "no space left on device writing /r/s/tuner/trial_3: free some"),
        (OSError(errno.EROFS, "Read-only file system", "/r/s/x"), "read-only file system writing"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "disk quota exceeded: free some space"),
    ],
)  # fmt: skip
def test_the_machines_errors_read_as_one_line_naming_cause_and_path(error, line):
    try:
        try:
            raise error
        except Exception as inner:
            raise ValueError("a library's wrapper") from inner
    except ValueError as outer:
        fault = machine_fault(outer)  # found through the chain of causes
    assert isinstance(fault, MachineFault) and str(fault).startswith(line)
    assert "\n" not in str(fault)


def test_a_full_disk_says_about_how_much_room_the_write_needed(tmp_path):
    """As much as the largest file of its kind beside it or one directory over: an earlier
    trial's fold model for a fold model; nothing to go by, no figure."""
    tuner_dir = tmp_path / "s" / "tuner"
    (tuner_dir / "trial_0").mkdir(parents=True)
    (tuner_dir / "trial_1").mkdir()
    with open(tuner_dir / "trial_0" / "fold_0.weights.h5", "wb") as f:
        f.truncate(2_400_000)  # a fold model of 2.4 MB
    writing = tuner_dir / "trial_1" / ".fold_0.weights.h5.77.tmp.weights.h5"
    fault = machine_fault(OSError(errno.ENOSPC, "No space left on device", str(writing)))
    assert str(fault) == (
        f"no space left on device writing {tuner_dir / 'trial_1'} (about 3 MB needed): free "
        "some space, then run the same command again"
    )
    first = machine_fault(OSError(errno.ENOSPC, "No space", str(tmp_path / "s" / "search.json")))
    assert "MB needed" not in str(first) and "writing" in str(first)


@pytest.mark.parametrize(
    "error", [ValueError("NaN loss"), MemoryError(), OSError(errno.EBADF, "bad file descriptor")]
)
def test_a_configurations_own_errors_are_not_the_machines(error):
    assert machine_fault(error) is None


def search(tmp_path, tiny_dir, tiny_space_path, *extra):
    return invoke("search", "--data", tiny_dir, "--space", tiny_space_path, "--results-dir",
                  tmp_path, "--name", "s", "--trials", "2", *extra)  # fmt: skip


@pytest.mark.parametrize(
    ("point", "mode"),
    [
        # keras-tuner's save of a trial's score (its step after run_trial; every write of a
        # run, the search's own records included, under -m slow)
        ("write:trial_1/trial.json#2", ["--in-process"]),
        # a fold model, inside the trial process
        pytest.param("write:trial_1/fold_0.weights.h5#1", [], marks=pytest.mark.slow),
    ],
)
def test_a_full_disk_stops_the_search_and_the_same_command_ends_it_as_undisturbed(
    tmp_path, tiny_dir, tiny_space_path, monkeypatch, point, mode
):
    calm = search(tmp_path / "calm", tiny_dir, tiny_space_path, *mode)
    assert calm.exit_code == 0, calm.output
    monkeypatch.setattr(faults, "_hits", Counter())
    monkeypatch.setenv(faults.FULL_VAR, point)
    full = search(tmp_path, tiny_dir, tiny_space_path, *mode)
    assert full.exit_code == 1, full.output
    said = full.output.strip().splitlines()[-1]
    assert "no space left on device writing" in said and "run the same command again" in said
    assert "Traceback" not in full.output
    hit = load_records(tmp_path / "s" / "tuner")
    assert all(r.state is not TrialState.FAILED for r in hit)  # the disk is no trial's fault
    monkeypatch.delenv(faults.FULL_VAR)
    again = search(tmp_path, tiny_dir, tiny_space_path, *mode)
    assert again.exit_code == 0, again.output

    def scores(directory):
        return {r.trial_id: (r.state, r.mean) for r in load_records(directory / "tuner")}

    assert scores(tmp_path / "s") == scores(tmp_path / "calm" / "s")
    assert len(scores(tmp_path / "s")) == 2


def test_the_injected_fault_is_a_real_oserror_at_its_point(monkeypatch):
    monkeypatch.setattr(faults, "_hits", Counter())
    monkeypatch.setenv(faults.FULL_VAR, "write:x.json#2")
    faults.point("write:x.json")  # the first time: nothing
    with pytest.raises(OSError) as info:
        faults.point("write:x.json")
    assert info.value.errno == errno.ENOSPC and info.value.filename == "x.json"
    assert os.environ[faults.FULL_VAR] == "write:x.json#2"


@pytest.mark.slow  # about 8 minutes on 2 cores (33 writes)
def test_a_full_disk_at_every_write_of_a_run_stops_it_and_the_same_command_ends_it(
    tiny_dir, tiny_space_path, tmp_path
):
    """Each file a whole `run` writes (search, trials, export), the disk full at that write in
    turn: one line and exit 1, no trial failed for it, and the same command run again ends with
    the undisturbed run's trials and submission. The search's page is the one exception: it is
    a view, whose failure to write never stops a search (its next write may well succeed)."""
    from tests.storage.test_crash import command, outcome, run, traced_reference

    reference_outcome, points = traced_reference(
        tmp_path, tiny_dir, tiny_space_path, "--in-process"
    )
    writes = [p for p in points if p.startswith("write:")]
    assert len(writes) >= 10, points
    for i, point in enumerate(writes):
        args = command(tiny_dir, tiny_space_path, tmp_path / str(i), "--in-process")
        full = run(args, **{faults.FULL_VAR: point})
        said = (full.stdout + full.stderr).strip().splitlines()
        if point.startswith("write:report.html"):
            assert full.returncode == 0, f"{point}: {full.stdout[-2000:]}{full.stderr[-2000:]}"
            assert outcome(tmp_path / str(i) / "c") == reference_outcome, point
            continue
        assert full.returncode == 1, f"{point}: {full.stdout[-2000:]}{full.stderr[-2000:]}"
        assert "no space left on device writing" in said[-1], f"{point}: {said[-3:]}"
        assert "Traceback" not in full.stdout + full.stderr, point
        directory = tmp_path / str(i) / "c"
        if (directory / "tuner").exists():
            hit = load_records(directory / "tuner")
            assert all(r.state is not TrialState.FAILED for r in hit), point
        again = run(args)
        assert again.returncode == 0, f"after {point}: {again.stdout[-2000:]}{again.stderr}"
        assert outcome(directory) == reference_outcome, f"another result after {point}"
    print(f"\n{len(writes)} write points passed: {', '.join(writes)}")


def test_a_write_that_fails_without_a_file_name_is_named_by_its_target(tmp_path):
    """A full disk fails a write() or a library's save with no file name (h5py saving a fold
    model, the measured case on a real 6 MB file system): the atomic write names its target."""
    from tuner.storage.atomic import atomic_path

    target = tmp_path / "trial_1" / "fold_0.weights.h5"
    with pytest.raises(OSError) as info, atomic_path(target):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert info.value.filename == str(target) and info.value.errno == errno.ENOSPC
    said = str(machine_fault(info.value))
    assert said.startswith(f"no space left on device writing {target}: free some space")
    assert not target.exists() and list(target.parent.iterdir()) == []


@pytest.mark.slow  # mounts a 6 MB tmpfs: root, and a machine that lets it mount
def test_on_a_real_full_file_system_the_search_stops_and_ends_once_it_grows(tmp_path, embedded):
    import shutil
    import subprocess
    import sys

    from tests.helpers import write_csv

    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(small)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        data = tmp_path / "data"
        data.mkdir()
        write_csv(data / "train.csv", embedded.train.images[:1200], embedded.train.labels[:1200])
        write_csv(data / "test.csv", embedded.test.images[:50], None)
        args = [sys.executable, "-m", "tuner.cli", "search", "--data", str(data), "--space",
                "quick", "--results-dir", str(small), "--name", "s", "--trials", "6", "--folds",
                "2", "--screen", "0", "--holdout", "0", "--time-budget", "0", "--run-budget",
                "0"]  # fmt: skip
        runs = [subprocess.run(args, capture_output=True, text=True, timeout=900)]
        while runs[-1].returncode == 0 and len(runs) < 4:  # until the disk fills
            runs.append(subprocess.run(args + ["--trials", str(6 + 6 * len(runs))],
                                       capture_output=True, text=True, timeout=900))  # fmt: skip
        full = runs[-1]
        assert full.returncode == 1, full.stdout[-2000:] + full.stderr[-2000:]
        said = (full.stdout + full.stderr).strip().splitlines()[-1]
        assert said.startswith("error: no space left on device writing " + str(small)), said
        assert all(r.state is not TrialState.FAILED for r in load_records(small / "s" / "tuner"))
        subprocess.run(["mount", "-o", "remount,size=256m", str(small)], check=True)
        again = subprocess.run(args + ["--trials", str(6 * len(runs))], capture_output=True,
                               text=True, timeout=900)  # fmt: skip
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
        records = load_records(small / "s" / "tuner")
        assert len(records) == 6 * len(runs)
        assert all(r.state in (TrialState.COMPLETE, TrialState.PRUNED) for r in records)
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)
        shutil.rmtree(small, ignore_errors=True)

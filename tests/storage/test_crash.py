"""Crash tests: `digit-tuner run` killed (SIGKILL to its whole process group, as a power cut) at
points spread over its life, then run again; every time the result must equal an uninterrupted
run's: no completed trial lost, none redone, the same submission to the byte.

The kill points come from an uninterrupted run's trace (``tuner.faults``): every atomic write
before and after its rename (keras-tuner's trial.json and oracle.json included), every epoch and
fold, each retrain, each step of the export's commit. The default suite kills at a few of them;
``pytest -m slow tests/storage/test_crash.py`` at 24 (results/reliability.md).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import ROOT
from tuner.faults import CRASH_VAR, TRACE_VAR
from tuner.storage.records import load_records

# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager


def command(tiny_dir: Path, space: Path, results: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "tuner.cli", "run", "--data", str(tiny_dir), "--space", str(space),
        "--results-dir", str(results), "--name", "c", "--seed", "0", *extra,
    ]  # fmt: skip


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in (CRASH_VAR, TRACE_VAR)}
    return subprocess.run(
        args,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        start_new_session=True,  # the kill takes the process group: not pytest's
    )


def outcome(directory: Path) -> dict:
    """What a finished run leaves: each trial's state, point and fold scores, and the files."""
    records = load_records(directory / "tuner")
    return {
        "trials": [
            (r.trial_id, r.state.value, r.hyperparameters, [f.val_accuracy for f in r.folds])
            for r in records
        ],
        "submission": (directory / "submission.csv").read_text(),
        "best": json.loads((directory / "search.json").read_text())["best"]["trial_id"],
    }


def finished_trials(directory: Path) -> dict[str, tuple[int, str]]:
    """cv.json of each finished trial: (mtime in ns, content); a redone trial changes both."""
    found = {}
    for record in load_records(directory / "tuner") if (directory / "tuner").exists() else []:
        if record.ended:
            cv = Path(record.path) / "cv.json"
            if cv.exists():
                found[record.trial_id] = (cv.stat().st_mtime_ns, cv.read_text())
    return found


def traced_reference(base: Path, tiny_dir: Path, space: Path, *extra: str):
    """An uninterrupted run, traced: its outcome and the points a crash test can kill at, in the
    order the run reached them (with a process per trial, each counts its own points: a
    kill at one of them kills in the first process that reaches it)."""
    trace = base / "trace.txt"
    done = run(command(tiny_dir, space, base / "results", *extra), **{TRACE_VAR: str(trace)})
    assert done.returncode == 0, done.stdout + done.stderr
    return outcome(base / "results" / "c"), list(dict.fromkeys(trace.read_text().split()))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_dir, tiny_space_path):
    """Trials in the search's own process: fast, and every point is one place in one process."""
    return traced_reference(
        tmp_path_factory.mktemp("reference"), tiny_dir, tiny_space_path, "--in-process"
    )


def spread(points: list[str], n: int) -> list[str]:
    """``n`` points evenly spread over the run's life, first and last included."""
    picks = np.linspace(0, len(points) - 1, num=min(n, len(points))).round().astype(int)
    return [points[i] for i in dict.fromkeys(picks)]


def kill_and_resume(point, reference_outcome, tiny_dir, space, results, *extra):
    args = command(tiny_dir, space, results, *extra)
    killed = run(args, **{CRASH_VAR: point})
    assert killed.returncode == -signal.SIGKILL, f"not killed at {point}: {killed.stderr[-2000:]}"
    directory = results / "c"
    kept = finished_trials(directory)
    resumed = run(args)
    assert resumed.returncode == 0, f"resume after {point}: {resumed.stdout}{resumed.stderr}"
    # no finished trial redone: each cv.json is the very file the killed run wrote
    after = finished_trials(directory)
    assert {t: after.get(t) for t in kept} == kept, f"a finished trial was redone after {point}"
    assert outcome(directory) == reference_outcome, f"another result after a kill at {point}"
    leftovers = [p.name for p in directory.rglob("*") if ".tmp" in p.name or p.name == ".staging"]
    assert leftovers == [], f"temporary files left after {point}"


def test_the_trace_covers_the_whole_life_of_a_run(reference):
    _, points = reference
    names = {p.split("#")[0] for p in points}
    for expected in (
        "epoch_end",
        "fold_end",
        "write:trial_0/trial.json",
        "wrote:oracle.json",
        "write:trial_1/cv.json",
        "retrain_end",
        "stage:submission.csv",
        "commit",
        "install:best.keras",
        "install:search.json",
    ):
        assert expected in names, f"no crash point {expected}: {sorted(names)}"


# The points the default suite kills at: between the export's commit and its last rename; and,
# under -m slow with every other point, between keras-tuner's trial.json and oracle.json at the
# end of the first trial, before keras-tuner's own tuner0.json exists (a resume redid that
# finished trial).
FAST = [
    pytest.param("wrote:trial_0/trial.json#3", marks=pytest.mark.slow),
    "install:submission.csv#1",
]


@pytest.mark.parametrize("point", FAST)
def test_a_run_killed_at_a_point_resumes_to_the_same_result(
    reference, tiny_dir, tiny_space_path, tmp_path, point
):
    reference_outcome, points = reference
    assert point in points
    kill_and_resume(point, reference_outcome, tiny_dir, tiny_space_path, tmp_path, "--in-process")


@pytest.mark.slow  # about 15 minutes on 2 cores
@pytest.mark.parametrize("mode", [["--in-process"], []], ids=["in-process", "worker-per-trial"])
def test_a_run_killed_at_24_points_resumes_to_the_same_result(
    tiny_dir, tiny_space_path, tmp_path, mode
):
    reference_outcome, points = traced_reference(tmp_path, tiny_dir, tiny_space_path, *mode)
    chosen = spread(points, 24)
    assert len(chosen) >= 20
    for i, point in enumerate(chosen):
        kill_and_resume(
            point, reference_outcome, tiny_dir, tiny_space_path, tmp_path / str(i), *mode
        )
    print(f"\n{len(chosen)} of {len(points)} kill points passed: {', '.join(chosen)}")

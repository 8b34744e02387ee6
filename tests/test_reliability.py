"""Interruption and resume, damaged search directories, atomic writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import ROOT, tiny_space
from tuner.errors import SearchError
from tuner.search.driver import run_search
from tuner.search.plan import SearchConfig
from tuner.space.spaces import load_space
from tuner.storage.atomic import write_json_atomic
from tuner.storage.records import TrialState, load_records

# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager

SPACE = tiny_space(max_trials=3, batch_size=32, epochs=4)


def _start(args, log):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "tuner.cli", *map(str, args)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
        # a shell's background job (`cmd &`) starts with SIGINT ignored, and so would the search:
        # give it the default disposition, as in a terminal
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_for(predicate, process, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if process.poll() is not None:
            raise AssertionError(f"search ended early with status {process.returncode}")
        time.sleep(0.2)
    process.kill()
    raise AssertionError("timed out waiting for the search")


@pytest.mark.parametrize(
    "how",
    [
        # about 35 s each; tests/storage/test_crash.py kills whole runs at many points in the default
        # suite, and the CLI's Ctrl-C path has a fast test too (test_cli)
        pytest.param("SIGKILL", marks=pytest.mark.slow),
        pytest.param("SIGINT", marks=pytest.mark.slow),
    ],
)
def test_killed_search_resumes_without_losing_or_duplicating_trials(tmp_path, tiny_dir, how):
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    args = [
        "search",
        "--data",
        tiny_dir,
        "--space",
        space,
        "--results-dir",
        tmp_path,
        "--name",
        "k",
    ]
    tuner_dir = tmp_path / "k" / "tuner"
    log_path = tmp_path / "log.txt"
    with open(log_path, "w") as log:
        process = _start(args, log)
        try:
            # wait until trial 0 is complete and trial 1 is under way, then kill it mid-trial
            _wait_for(
                lambda: (
                    (tuner_dir / "trial_1" / "trial.json").exists()
                    and (tuner_dir / "trial_0" / "cv.json").exists()
                ),
                process,
            )
            time.sleep(1.0)
            os.kill(process.pid, signal.SIGKILL if how == "SIGKILL" else signal.SIGINT)
            status = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    output = log_path.read_text()
    if how == "SIGINT":
        assert status == 130, output
        assert "run the same command again to resume" in output
        assert "Traceback" not in output
    else:
        assert status == -signal.SIGKILL
    before = {r.trial_id: r for r in load_records(tuner_dir)}
    assert before["0"].state is TrialState.COMPLETE
    assert before["1"].state is TrialState.RUNNING  # interrupted, not counted as done
    trial0 = (tuner_dir / "trial_0" / "cv.json").read_text()

    with open(log_path, "w") as log:
        process = _start(args, log)
        assert process.wait(timeout=300) == 0, log_path.read_text()
    after = load_records(tuner_dir)
    assert [r.trial_id for r in after] == ["0", "1", "2"]
    assert all(r.state is TrialState.COMPLETE for r in after)
    assert (tuner_dir / "trial_0" / "cv.json").read_text() == trial0  # kept, not redone
    assert after[1].hyperparameters == before["1"].hyperparameters  # the interrupted one, redone
    points = [json.dumps(r.hyperparameters, sort_keys=True) for r in after]
    assert len(set(points)) == 3  # no duplicate
    assert "resuming with 1 done" in log_path.read_text()


def test_damaged_search_directory_is_a_clear_error(tmp_path, tiny_train, tiny_space_path):
    space = load_space(tiny_space_path)
    config = SearchConfig(name="d", results_dir=tmp_path, max_trials=1, isolate=False)
    run_search(tiny_train, space, config)
    directory = tmp_path / "d"

    oracle = directory / "tuner" / "oracle.json"
    saved = oracle.read_text()
    oracle.write_text(saved[: len(saved) // 2])
    with pytest.raises(SearchError, match="keras-tuner state is damaged.*--overwrite"):
        run_search(
            tiny_train,
            space,
            SearchConfig(name="d", results_dir=tmp_path, max_trials=2, isolate=False),
        )
    oracle.write_text(saved)

    # A damaged trial record costs that trial, not the search: it shows as interrupted, and the
    # next resume redoes it alone (it used to advise --overwrite, which deletes everything).
    cv = directory / "tuner" / "trial_0" / "cv.json"
    good = json.loads(cv.read_text())
    cv.write_text("{")
    (damaged,) = load_records(directory / "tuner")
    assert damaged.state is TrialState.DAMAGED and "cv.json unreadable" in damaged.message
    again = run_search(
        tiny_train,
        space,
        SearchConfig(name="d", results_dir=tmp_path, max_trials=1, isolate=False),
    )
    assert [(r.trial_id, r.state) for r in again.records] == [("0", TrialState.COMPLETE)]
    scores = [f["val_accuracy"] for f in json.loads(cv.read_text())["folds"]]
    assert scores == [f["val_accuracy"] for f in good["folds"]]  # redone, the same scores

    (directory / "search.json").write_text("not json")
    with pytest.raises(SearchError, match="search.json: unreadable"):
        run_search(
            tiny_train,
            space,
            SearchConfig(name="d", results_dir=tmp_path, max_trials=2, isolate=False),
        )


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "search.json"
    write_json_atomic(target, {"version": 1})

    def crash(src, dst):
        raise KeyboardInterrupt  # killed between writing the temporary file and the rename

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        write_json_atomic(target, {"version": 2})
    assert json.loads(target.read_text()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["search.json"]  # no temporary left


def test_keras_tuner_state_is_written_atomically(
    tmp_path, tiny_train, tiny_space_path, monkeypatch
):
    from keras_tuner.src import utils

    run_search(
        tiny_train,
        load_space(tiny_space_path),
        SearchConfig(name="a", results_dir=tmp_path, max_trials=1, isolate=False),
    )
    leftovers = [p for p in (tmp_path / "a").rglob(".*") if p.is_file()]
    assert leftovers == []
    # keras-tuner's own writer, as the search left it: killed before the rename, the old file stays
    target = tmp_path / "oracle.json"
    utils.save_json(str(target), {"version": 1})

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        utils.save_json(str(target), {"version": 2})
    assert json.loads(target.read_text()) == {"version": 1}


def test_a_trial_directory_without_trial_json_is_a_trial_being_created(tmp_path):
    """Another process may have created trial_7/ and not yet written its trial.json."""
    (tmp_path / "tuner" / "trial_7").mkdir(parents=True)
    assert load_records(tmp_path / "tuner") == []


def test_a_failure_reason_with_brackets_is_printed_as_it_is():
    """Rich read `[/x]` in a reason as markup and raised MarkupError, which could abort a live
    search from on_trial_end."""
    import io

    from rich.console import Console

    from tuner.storage.records import TrialRecord
    from tuner.ui.reporters import RichReporter
    from tuner.ui.tables import trial_detail

    reason = "ValueError: shapes [None, 28] and [/bold] are incompatible"
    record = TrialRecord(
        trial_id="3", state=TrialState.FAILED, hyperparameters={"conv_blocks": 2}, message=reason
    )
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200, color_system=None)
    reporter = RichReporter(console, ["conv_blocks"])
    reporter.search_begin(name="m", max_trials=1, done=0, folds=2)
    reporter.trial_end(record)
    reporter.message(f"stopped: {reason}")
    for part in trial_detail(record, ["conv_blocks"]):
        console.print(part)
    reporter.close()
    assert out.getvalue().count("[None, 28] and [/bold]") == 3

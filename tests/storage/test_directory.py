"""The search directory's guarantees: names stay inside --results-dir, --overwrite deletes only a
search, one process at a time, exports replace their files as one unit, resume keeps the rules."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tuner.storage.directory as store
from tests.helpers import invoke
from tuner.errors import SearchError
from tuner.search.driver import prepare_search, run_search
from tuner.search.plan import SearchConfig
from tuner.space.spaces import load_space

# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager

runner = CliRunner()


@pytest.mark.parametrize("where", ["results-dir", "name"])
def test_a_results_path_through_a_file_is_one_line_exit_2(tmp_path, tiny_dir, where):
    """--results-dir that is a file, or a --name that exists as a file: one line naming it,
    exit 2, nothing written (it was a 57-line NotADirectoryError)."""
    results = tmp_path / "results"
    if where == "results-dir":
        results.write_text("not a folder")
    else:
        results.mkdir()
        (results / "s").write_text("not a folder")
    result = invoke("run", "--data", tiny_dir, "--results-dir", results, "--name", "s")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert str(results if where == "results-dir" else results / "s") in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_results_dir_is_one_line_exit_2(tmp_path, tiny_dir):
    results = tmp_path / "results"
    results.mkdir(mode=0o500)
    result = invoke("run", "--data", tiny_dir, "--results-dir", results / "deeper")
    assert result.exit_code == 2, result.output
    assert f"{results}: not writable" in result.output


@pytest.mark.parametrize("name", ["..", ".", "a/b", "/tmp/x", "../x", "", "a\\b"])
def test_a_name_that_leaves_the_results_directory_is_refused(tmp_path, tiny_dir, name):
    """`search --name .. --overwrite` once deleted the project it ran in."""
    project = tmp_path / "project"
    (project / "tuner").mkdir(parents=True)
    (project / "tuner" / "keep.py").write_text("precious")
    (project / "results").mkdir()
    result = invoke(
        "search", "--data", tiny_dir, "--results-dir", project / "results", "--name", name,
        "--overwrite",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "--name must" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert (project / "tuner" / "keep.py").read_text() == "precious"
    assert list((project / "results").iterdir()) == []


def test_overwrite_deletes_only_a_directory_with_a_search_manifest(
    tmp_path, tiny_train, tiny_space_path
):
    """A folder with a `tuner/` subfolder (a Python project) is not a search."""
    victim = tmp_path / "proj"
    (victim / "tuner").mkdir(parents=True)
    (victim / "tuner" / "keep.py").write_text("precious")
    config = SearchConfig(name="proj", results_dir=tmp_path, overwrite=True, isolate=False)
    with pytest.raises(SearchError, match="not a digit-tuner search"):
        prepare_search(tiny_train, load_space(tiny_space_path), config)
    assert (victim / "tuner" / "keep.py").read_text() == "precious"
    assert sorted(p.name for p in victim.iterdir()) == ["tuner"]  # not even a lock file


def test_a_search_never_writes_into_a_folder_that_is_not_one(tmp_path, tiny_train, tiny_space_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("x")
    with pytest.raises(SearchError, match="not a digit-tuner search"):
        prepare_search(
            tiny_train,
            load_space(tiny_space_path),
            SearchConfig(name="notes", results_dir=tmp_path),
        )
    assert [p.name for p in (tmp_path / "notes").iterdir()] == ["todo.txt"]


HOLDER = """
import sys, time
import tuner.storage.directory as store
with store.hold(sys.argv[1], command="digit-tuner search --name held"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_process_is_refused_with_the_holder_named(tmp_path, tiny_train, tiny_space_path):
    directory = tmp_path / "held"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(directory)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        config = SearchConfig(name="held", results_dir=tmp_path, overwrite=True, isolate=False)
        with pytest.raises(
            SearchError, match=rf"in use by digit-tuner search --name held \(pid {holder.pid} on "
        ):
            run_search(tiny_train, load_space(tiny_space_path), config)
    finally:
        holder.kill()
        holder.wait()
    # the kernel released the killed holder's lock: no stale lock to clean by hand
    with store.hold(directory):
        assert store.holds(directory)
    assert not store.holds(directory)


def test_commit_files_replaces_all_or_nothing(tmp_path, monkeypatch):
    directory = tmp_path / "s"
    directory.mkdir()
    (directory / "search.json").write_text("{}")
    for name in ("best.keras", "submission.csv"):
        (directory / name).write_text("old")

    def writers(text):
        return {
            n: (lambda path, n=n: Path(path).write_text(text))
            for n in ("best.keras", "submission.csv", "search.json")
        }

    # killed before the commit record: the old export stands whole, the staging is dropped
    with store.hold(directory):
        monkeypatch.setattr(store, "write_json_atomic", _raise)
        with pytest.raises(KeyboardInterrupt):
            store.commit_files(directory, writers("new"))
        monkeypatch.undo()
    assert _files(directory) == {"search.json": "{}", "best.keras": "old", "submission.csv": "old"}
    with store.hold(directory):
        assert not (directory / store.STAGING).exists()  # dropped: it was never committed

    # killed after the commit record, one file moved: the next holder rolls it forward
    with store.hold(directory):
        real = store.os.replace
        moved = []

        def replace_one(src, dst):  # killed after the first file moved into place
            if Path(src).parent.name == store.STAGING and Path(dst).parent == directory:
                if moved:
                    raise KeyboardInterrupt
                moved.append(dst)
            real(src, dst)

        monkeypatch.setattr(store.os, "replace", replace_one)
        with pytest.raises(KeyboardInterrupt):
            store.commit_files(directory, writers("new"))
        monkeypatch.undo()
    assert (directory / "best.keras").read_text() == "new"
    assert (directory / "submission.csv").read_text() == "old"  # the torn state a kill leaves...
    with store.hold(directory):
        pass  # ...until the next command takes the lock
    assert _files(directory) == {"search.json": "new", "best.keras": "new", "submission.csv": "new"}
    assert not (directory / store.STAGING).exists()


def _files(directory):
    return {
        p.name: p.read_text()
        for p in directory.iterdir()
        if p.is_file() and not p.name.startswith(store.LOCK_FILE)
    }


def _raise(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(seed=1), "different seed \\(was 0, now 1\\)"),
        (dict(folds=3), "different folds \\(was 2, now 3\\)"),
        (dict(oracle="bayesian"), "different oracle \\(was random, now bayesian\\)"),
        (dict(holdout=0.2), "different holdout \\(was None, now 0.2\\)"),
        (dict(prune=True), "different prune \\(was False, now True\\)"),
        (dict(early_stopping=2), "different early stopping \\(was None, now 2\\)"),
        (dict(mixed_precision=True), "different mixed precision \\(was False, now True\\)"),
        (dict(prune_margin=0.01), "different prune margin"),
        (dict(search_images=150), "different search images \\(was None, now 150\\)"),
    ],
)
def test_resume_refuses_what_changes_scores(tmp_path, tiny_train, tiny_space_path, change, message):
    space = load_space(tiny_space_path)
    # float32 stated: the default depends on the hardware (bfloat16 on a CPU that has it)
    first = SearchConfig(name="r", results_dir=tmp_path, mixed_precision=False)
    prepare_search(tiny_train, space, first)
    before = (tmp_path / "r" / "search.json").read_text()
    with pytest.raises(SearchError, match=message):
        prepare_search(tiny_train, space, dataclasses.replace(first, **change))
    assert (tmp_path / "r" / "search.json").read_text() == before


def test_resume_refuses_another_space(tmp_path, tiny_train, tiny_space_path):
    prepare_search(
        tiny_train, load_space(tiny_space_path), SearchConfig(name="r", results_dir=tmp_path)
    )
    other = tmp_path / "other.toml"
    other.write_text(tiny_space_path.read_text().replace("epochs = 1", "epochs = 2"))
    with pytest.raises(SearchError, match="different search space"):
        prepare_search(tiny_train, load_space(other), SearchConfig(name="r", results_dir=tmp_path))


def test_a_space_file_whose_comments_changed_still_resumes(tmp_path, tiny_train, tiny_space_path):
    prepare_search(
        tiny_train, load_space(tiny_space_path), SearchConfig(name="r", results_dir=tmp_path)
    )
    edited = tmp_path / "edited.toml"
    text = tiny_space_path.read_text().replace("epochs = 1", "epochs   =   1  # fixed")
    edited.write_text("# a header, added later\n" + text)
    plan = prepare_search(
        tiny_train, load_space(edited), SearchConfig(name="r", results_dir=tmp_path)
    )
    assert plan.notes == ()


def test_resume_allows_what_does_not_change_scores_and_says_so(
    tmp_path, tiny_train, tiny_space_path
):
    space = load_space(tiny_space_path)
    prepare_search(tiny_train, space, SearchConfig(name="r", results_dir=tmp_path, time_budget=5))
    plan = prepare_search(
        tiny_train,
        space,
        SearchConfig(
            name="r", results_dir=tmp_path, time_budget=9, max_consecutive_failures=5, max_trials=4
        ),
    )
    notes = " | ".join(plan.notes)
    assert "time budget minutes: was 5, now 9" in notes
    assert "max consecutive failures: was 3, now 5" in notes
    assert "max trials: was 2, now 4" in notes
    manifest = json.loads((tmp_path / "r" / "search.json").read_text())
    assert manifest["config"]["time_budget_minutes"] == 9


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--seed", "-1", "seed: must be within 0..4294967295, got -1"),
        ("--folds", "0", "folds: must be >= 2, got 0"),
        ("--folds", "1", "folds: must be >= 2, got 1"),
        # one validator (tuner.search.plan.plan_search), the same for the CLI and Python
        ("--trial-timeout", "-1", "trial_timeout: must be >= 0 minutes, got -1"),
        ("--trials", "0", "max_trials: must be >= 1 trials, got 0"),
        ("--max-failures", "0", "max_consecutive_failures: must be >= 1, got 0"),
        ("--time-budget", "-2", "time_budget: must be >= 0 minutes, got -2"),
        ("--early-stopping", "-1", "early_stopping: must be 0 (off) or >= 1 epochs, got -1"),
        ("--holdout", "1.5", "holdout: must be within 0..0.5, got 1.5"),
    ],
)
def test_bad_numbers_are_one_line_exit_2(
    tmp_path, tiny_dir, tiny_space_path, option, value, message
):
    result = invoke(
        "search", "--data", tiny_dir, "--space", tiny_space_path, "--results-dir", tmp_path,
        "--name", "x", option, value,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_a_manifest_of_the_wrong_shape_is_one_line(tmp_path, tiny_train, tiny_space_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "search.json").write_text(json.dumps({"config": [1, 2]}))
    result = invoke("trials", "w", "--results-dir", tmp_path)
    assert result.exit_code == 2, result.output
    assert "not a digit-tuner manifest (no config, data, space section)" in result.output


def test_the_lock_is_released_when_a_search_fails(tmp_path, tiny_train, tiny_space_path):
    config = SearchConfig(name="f", results_dir=tmp_path, folds=500)
    with pytest.raises(SearchError):
        run_search(tiny_train, load_space(tiny_space_path), config)
    assert not store.holds(tmp_path / "f")
    started = time.monotonic()
    with store.hold(tmp_path / "f"):
        pass
    assert time.monotonic() - started < 5


def test_a_search_killed_before_its_manifest_can_be_run_again(
    tmp_path, tiny_train, tiny_space_path
):
    """Killed right after taking the lock, a search leaves the lock, its owner record's temporary
    file and no search.json: the crash test found the next run refused that directory."""
    directory = tmp_path / "k"
    directory.mkdir()
    (directory / store.LOCK_FILE).write_text("")
    (directory / ".search.lock.json.abc123.tmp.json").write_text("{")
    (directory / ".search.json.def456.tmp.json").write_text("")
    prepare_search(
        tiny_train, load_space(tiny_space_path), SearchConfig(name="k", results_dir=tmp_path)
    )
    assert store.is_search_directory(directory)
    assert not [p for p in directory.iterdir() if ".tmp" in p.name]  # cleaned under the lock

"""The digit-tuner command: the whole `run` on tiny data, and the other commands without training."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from types import SimpleNamespace

from tuner.backend import cpu_has_bf16, mixed_precision_default

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.helpers import invoke
from tuner.cli import app
from tuner.cli.display import _recipe

# tracing a tiny model's graphs costs more than training it: these tests check what the
# toolkit does, not how Keras compiles (tests/test_shipped.py runs it as shipped)
pytestmark = pytest.mark.eager

runner = CliRunner()


def on_tiny(command, data, space, results, *more):
    """`digit-tuner COMMAND --data DATA --space SPACE --results-dir RESULTS MORE...`"""
    return invoke(command, "--data", data, "--space", space, "--results-dir", results, *more)


@pytest.mark.parametrize("command", [[], ["search"], ["trials"], ["export"], ["run"]])
def test_every_command_has_help(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage: digit-tuner" in result.output


def test_the_command_list_shows_each_summary_as_running_text():
    """The docstrings' line breaks do not reach the help: at a width that holds them, every
    command's summary is one line of the command list (it broke where its source line did)."""
    shown = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    lines = shown.splitlines()
    for command in app.registered_commands:
        summary = " ".join(command.callback.__doc__.split("\n\n")[0].split())
        assert any(summary in line for line in lines), (summary, shown)


def test_run_end_to_end_on_tiny_csv_data(tmp_path, tiny_dir, tiny_space_path, monkeypatch):
    import sys

    monkeypatch.setattr(sys, "argv", ["/venv/bin/digit-tuner", "run", "--seed", "3"])
    results = tmp_path / "results"
    result = on_tiny(
        "run",
        tiny_dir,
        tiny_space_path,
        results,
        "--name",
        "tiny",
        "--seed",
        "3",
    )
    assert result.exit_code == 0, result.output
    directory = results / "tiny"
    assert (directory / "best.keras").is_file()
    submission = pd.read_csv(directory / "submission.csv")
    assert len(submission) == 40 and submission["ImageId"].iloc[-1] == 40
    manifest = json.loads((directory / "search.json").read_text())
    assert manifest["config"] == {
        "max_trials": 2,
        "folds": 2,
        "seed": 3,
        "oracle": "random",
        "prune": False,
        "prune_margin": 0.002,
        "early_stopping": None,
        "time_budget_minutes": None,
        "run_budget_minutes": None,
        "mixed_precision": mixed_precision_default(),  # resolved: bf16 where the CPU has it
        "holdout": None,
        "holdout_size": 0,
        "search_images": None,  # the folds ran on the whole search part
        "final_epochs": None,  # the export retrained for the winner's own epochs
        "final_models": 1,  # one model of the winner
        "final_trials": 1,  # of the winner alone
        "max_consecutive_failures": 3,
        "trial_timeout": None,
        "isolate": True,
        "screen": None,  # every trial a full one
    }
    assert "best" in manifest and "export" in manifest
    assert (
        manifest["precision"]
        == manifest["export"]["precision"]
        == ("mixed_bfloat16" if mixed_precision_default() else "float32")
    )
    provenance = manifest["provenance"]  # how and where the result was made
    assert provenance["bf16"] == cpu_has_bf16()
    assert provenance["command"] == "digit-tuner run --seed 3"
    assert provenance["version"] == "0.1.0" and len(provenance["git_commit"]) == 40
    assert provenance["cores"] >= 1 and provenance["cpu"] and provenance["gpu"] is None
    assert "threads" in provenance
    assert "search tiny: 2 trials x 2 folds" in result.output
    text = " ".join(result.output.split())  # rich wraps long paths
    assert "best trial" in text and "40 rows" in text
    assert "expected: " in text and "; out-of-fold, 300 images)" in text and "(95 %: " in text

    # the table of trials, from the records alone
    table = invoke("trials", "--results-dir", results)
    assert table.exit_code == 0, table.output
    assert "tiny: 2 trials" in table.output and "blocks" in table.output
    assert "units=dense_units" in table.output
    records = json.loads(
        invoke("trials", "tiny", "--results-dir", results, "--format", "json").output
    )
    assert [r["state"] for r in records] == ["COMPLETE", "COMPLETE"]
    assert records[0]["mean"] >= records[1]["mean"]
    assert len(records[0]["folds"]) == 2

    # the same command resumes: nothing to redo, same records
    again = on_tiny(
        "search",
        tiny_dir,
        tiny_space_path,
        results,
        "--name",
        "tiny",
        "--seed",
        "3",
    )
    assert again.exit_code == 0, again.output
    assert "resuming with 2 done" in again.output
    assert (
        json.loads(invoke("trials", "tiny", "--results-dir", results, "--format", "json").output)
        == records
    )


def test_bad_data_file_is_one_line_exit_2_and_writes_nothing(tmp_path, tiny_dir):
    data = tmp_path / "data"
    data.mkdir()
    lines = (tiny_dir / "test.csv").read_text().splitlines()
    (data / "train.csv").write_text("label," + lines[0] + "\n-12," + lines[1] + "\n")
    (data / "test.csv").write_text("\n".join(lines[:3]) + "\n")
    results = tmp_path / "results"
    result = invoke("run", "--data", data, "--results-dir", results)
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0, result.output
    assert "train.csv: line 2, column label: label value -12 is outside 0..999999999" in (
        result.output
    )
    assert "Traceback" not in result.output
    assert not results.exists()


def test_bad_space_and_options_exit_2(tmp_path, tiny_dir, tiny_space_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[hyperparameters]\nconv_blocks = { type = "int", min = 3, max = 2 }\n')
    result = invoke("search", "--data", tiny_dir, "--space", bad, "--results-dir", tmp_path / "r")
    assert result.exit_code == 2 and "min must be <= max" in result.output
    result = invoke(
        "search",
        "--data",
        tiny_dir,
        "--space",
        tiny_space_path,
        "--folds",
        "1",
        "--results-dir",
        tmp_path / "r",
    )
    assert result.exit_code == 2 and "folds: must be >= 2, got 1" in result.output
    assert not (tmp_path / "r").exists()
    result = invoke("trials", "--results-dir", tmp_path / "nothing")
    assert result.exit_code == 2 and "no searches yet" in result.output


def test_ctrl_c_keeps_trials_and_says_how_to_resume(
    tmp_path, tiny_dir, tiny_space_path, monkeypatch
):
    import tuner.pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tuner.pipeline, "run_search", interrupted)
    result = on_tiny(
        "search",
        tiny_dir,
        tiny_space_path,
        tmp_path,
        "--name",
        "x",
    )
    assert result.exit_code == 130
    assert "run the same command again to resume" in result.output


def test_default_search_name_is_space_and_data(tmp_path, tiny_dir, tiny_space_path, monkeypatch):
    import tuner.pipeline

    seen = {}

    def fake(train, space, config, reporter=None):
        seen["config"], seen["space"], seen["n"] = config, space, len(train)
        raise KeyboardInterrupt

    monkeypatch.setattr(tuner.pipeline, "run_search", fake)
    on_tiny(
        "search",
        tiny_dir,
        tiny_space_path,
        tmp_path,
        "--trials",
        "7",
        "--folds",
        "3",
        "--seed",
        "5",
        "--overwrite",
    )
    config = seen["config"]
    assert config.name == f"tiny-{Path(tiny_dir).name}"
    assert (config.max_trials, config.folds, config.seed, config.overwrite) == (7, 3, 5, True)
    assert seen["n"] == 300


def _bad_inputs():
    from tests.helpers import BAD_TRAIN

    return sorted(BAD_TRAIN)


@pytest.mark.parametrize("case", _bad_inputs())
def test_every_bad_training_file_is_one_line_and_exit_2(tmp_path, tiny_dir, case):
    from tests.helpers import BAD_TRAIN

    text, expected = BAD_TRAIN[case]
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text(text)
    (data / "test.csv").write_text((tiny_dir / "test.csv").read_text())
    results = tmp_path / "results"
    result = invoke("run", "--data", data, "--results-dir", results)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and expected in result.output
    assert result.output.strip().count("\n") == 0 and "Traceback" not in result.output
    assert not results.exists()


def test_no_completed_trial_exits_non_zero_and_exports_nothing(
    tmp_path, tiny_dir, tiny_space_path, monkeypatch
):
    import tuner.models.cnn
    import tuner.models.hypermodels

    def build(hp, seed=None, **_):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(tuner.models.hypermodels, "build_model", build)
    results = tmp_path / "results"
    result = on_tiny(
        "run",
        tiny_dir,
        tiny_space_path,
        results,
        "--name",
        "f",
        "--in-process",
    )
    assert result.exit_code == 2, result.output
    assert "no trial completed" in result.output
    assert "failed" in result.output and "simulated failure" in result.output
    assert not (results / "f" / "submission.csv").exists()
    assert not (results / "f" / "best.keras").exists()


def test_progress_on_a_terminal_and_in_a_log():
    """The same events render as live bars on a terminal and as plain lines elsewhere."""
    import io

    from rich.console import Console

    from tuner.storage.records import FoldResult, TrialRecord, TrialState
    from tuner.ui.reporters import PlainReporter, RichReporter, make_reporter

    record = TrialRecord(
        "0",
        TrialState.COMPLETE,
        {"conv_blocks": 2},
        folds=(FoldResult(0, 0.98, 0.1, 2, 1.0, 10, 10), FoldResult(1, 0.96, 0.1, 2, 1.0, 10, 10)),
        params=10,
        seconds=3.0,
    )
    outputs = {}
    for terminal in (True, False):
        stream = io.StringIO()
        console = Console(file=stream, force_terminal=terminal, width=100)
        now = [0.0]
        reporter = make_reporter(console, ["conv_blocks"], clock=lambda now=now: now[0])
        assert isinstance(reporter, RichReporter if terminal else PlainReporter)
        reporter.search_begin(name="s", max_trials=2, done=0, folds=2)
        reporter.trial_begin(trial_id="0", values={"conv_blocks": 2, "epochs": 2}, best=None)
        for fold in range(2):
            reporter.fold_begin(fold=fold, folds=2, epochs=2)
            for epoch in (1, 2):
                now[0] += 10.0  # an epoch takes 10 s
                reporter.epoch_end(epoch=epoch, epochs=2, logs={"accuracy": 0.9, "loss": 0.3})
            reporter.fold_end(fold=fold, val_accuracy=0.98 - 0.02 * fold, seconds=1.0)
        reporter.trial_end(record)
        reporter.search_end([record])
        reporter.close()
        outputs[terminal] = stream.getvalue()
    plain = outputs[False].splitlines()
    assert plain[0] == "search s: 2 trials x 2 folds"
    assert plain[1] == "trial 0: conv_blocks=2"
    # after the first epoch: 1 more in this fold, 2 in the next, and trial 1's 4 (10 s each)
    assert (
        "  trial 0 fold 1/2 epoch 1/2: accuracy=0.9000 loss=0.3000 "
        "(trial left 0:30, search left 1:10)"
    ) in plain
    assert (
        "  trial 0 fold 2/2 epoch 2/2: accuracy=0.9000 loss=0.3000 (trial left 0:00, search left 0:40)"
        in plain
    )
    assert "  trial 0 fold 2/2: val_accuracy=0.9600 (1.0 s)" in plain
    assert plain[-1] == "trial 0: 97.00±1.00 % (0m03s)"
    assert "\x1b[" not in outputs[False]  # no cursor movement or colour in a log
    from rich.text import Text

    live = Text.from_ansi(outputs[True]).plain
    assert "trials" in live and "folds" in live and "epochs" in live
    assert "left 0:40" in live  # the trials bar's time left, from the measured epochs
    assert "97.00±1.00" in live and "new best" in live


def test_budget_and_accuracy_options_reach_the_search_config(
    tmp_path, tiny_dir, tiny_space_path, monkeypatch
):
    import tuner.pipeline

    seen = {}

    def fake(train, space, config, reporter=None):
        seen["config"] = config
        raise KeyboardInterrupt

    monkeypatch.setattr(tuner.pipeline, "run_search", fake)
    on_tiny(
        "run",
        tiny_dir,
        tiny_space_path,
        tmp_path,
        "--oracle",
        "bayesian",
        "--prune",
        "--early-stopping",
        "3",
        "--time-budget",
        "12.5",
        "--holdout",
        "0.1",
        "--no-mixed-precision",
    )
    config = seen["config"]
    assert (config.oracle, config.prune, config.early_stopping) == ("bayesian", True, 3)
    assert (config.time_budget, config.holdout, config.mixed_precision) == (12.5, 0.1, False)
    invoke("search", "--data", tiny_dir, "--space", tiny_space_path, "--results-dir", tmp_path)
    config = seen["config"]  # left out: the space's settings apply (None here)
    assert (config.oracle, config.prune, config.time_budget, config.holdout) == (None,) * 4


def test_bad_export_options_fail_before_the_search(tmp_path, tiny_dir, tiny_space_path):
    for option, message in (
        (["--ensemble", "top-1"], "ensemble must be none, folds or top-K with K >= 2, got 'top-1'"),
        (["--tta", "4"], "tta must be 1, 5 or 9"),
        (["--oracle", "grid"], "Invalid value for '--oracle'"),
    ):
        result = on_tiny(
            "run",
            tiny_dir,
            tiny_space_path,
            tmp_path / "r",
            *option,
        )
        assert result.exit_code == 2, result.output
        assert message in " ".join(result.output.split()), result.output
        assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "settings",
    [
        dict(max_trials=4, folds=3, seed=2, oracle="bayesian", prune=True, prune_margin=0.01,
             early_stopping=2, time_budget=30.0, run_budget=40.0, mixed_precision=False, holdout=0.2,
             isolate=False, trial_timeout=5.0, max_consecutive_failures=7, search_images=200,
             final_epochs=3),
        dict(),  # every setting left to the space file
    ],
    ids=["every-setting", "space-defaults"],
)  # fmt: skip
def test_a_search_resumes_with_the_settings_it_recorded(tiny_train, tiny_space_path, settings):
    """search.json is the one serialised form of the settings: what it records plans the same
    search again (distributed chiefs and workers start from it, not from argv)."""
    import dataclasses

    from tuner.search.plan import SearchConfig, plan_search
    from tuner.space.spaces import load_space

    space = load_space(tiny_space_path)
    config = SearchConfig(name="s", **settings)
    _, manifest = plan_search(tiny_train, space, config)
    again = SearchConfig.from_manifest(config.directory, manifest)
    assert again.directory == config.directory
    _, replanned = plan_search(tiny_train, space, again)
    assert replanned["config"] == manifest["config"]
    # every setting of a SearchConfig is recorded (a new field cannot be dropped on the way)
    recorded = {"time_budget_minutes": "time_budget", "run_budget_minutes": "run_budget"}
    names = {recorded.get(k, k) for k in manifest["config"]} | {"name", "results_dir", "overwrite"}
    assert {f.name for f in dataclasses.fields(SearchConfig)} <= names


def test_resume_goes_on_with_the_recorded_settings(tmp_path, tiny_dir, tiny_space_path):
    first = invoke("search", "--data", tiny_dir, "--space", tiny_space_path, "--results-dir",
                   tmp_path, "--name", "s", "--trials", 1, "--seed", 5, "--in-process")  # fmt: skip
    assert first.exit_code == 0, first.output
    result = invoke("resume", "s", "--results-dir", tmp_path, "--trials", 2)
    assert result.exit_code == 0, result.output
    from tuner.storage.records import TrialState, load_records

    records = load_records(tmp_path / "s" / "tuner")
    assert [r.state for r in records] == [TrialState.COMPLETE] * 2
    manifest = json.loads((tmp_path / "s" / "search.json").read_text())
    assert manifest["config"]["seed"] == 5 and manifest["config"]["isolate"] is False
    assert manifest["config"]["max_trials"] == 2


def test_search_and_run_take_every_search_option():
    """One list of search options for both commands (cli.with_search_options)."""
    flags = ["--data", "--space", "--model", "--name", "--results-dir", "--trials", "--folds",
             "--seed", "--overwrite", "--max-failures", "--in-process", "--oracle", "--prune",
             "--early-stopping", "--time-budget", "--mixed-precision", "--holdout",
             "--trial-timeout", "--dry-run"]  # fmt: skip
    for command in ("search", "run"):
        shown = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
        assert [f for f in flags if f not in shown] == [], command
    for command in ("search", "run"):
        shown = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
        assert all(f in shown for f in ("--workers", "--bind", "--port")), command
    assert "--ensemble" in CliRunner().invoke(app, ["run", "--help"]).output


def test_searches_lists_every_search_with_its_state(tmp_path, tiny_train, tiny_space_path):
    import subprocess
    import sys

    from tuner.search.driver import run_search
    from tuner.search.plan import SearchConfig
    from tuner.space.spaces import load_space

    space = load_space(tiny_space_path)
    for name, trials in (("first", 1), ("second", 2)):
        run_search(tiny_train, space, SearchConfig(name=name, results_dir=tmp_path,
                                                  max_trials=trials, isolate=False))  # fmt: skip
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "search.json").write_text("{")
    (tmp_path / "notes").mkdir()  # not a search: not listed
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; import tuner.storage.directory as store\n"
         "with store.hold(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)",
         str(tmp_path / "second")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        result = invoke("searches", "--results-dir", tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines() if line.strip()}
    assert rows["first"][-1] == "finished" and rows["first"][3] == "1/1/1"
    assert rows["second"][-1] == "running" and rows["second"][3] == "2/2/2"
    assert rows["broken"][-1] == "damaged"
    assert "notes" not in rows
    several = invoke("trials", "--results-dir", tmp_path)
    assert several.exit_code == 2 and "`digit-tuner searches` lists them" in several.output


def test_the_package_names_its_version_and_public_api_without_loading_keras():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", "import sys, tuner; print(tuner.__version__, 'keras' in sys.modules);"
         "print(sorted(n for n in tuner.__all__ if n != '__version__' and not hasattr(tuner, n)))"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.stdout.splitlines() == ["0.1.0 False", "[]"], done.stderr[-2000:]


def test_dry_run_counts_the_trials_the_time_budget_starts():
    """The first trial always starts; each next one only if it would end within the budget."""
    from tuner.search.dryrun import DryRun

    settings = dict(max_trials=14, folds=3, oracle="random", prune=True, early_stopping=None,
                    time_budget=2.0, run_budget=None, budget_images=None, final_models=1,
                    final_epochs=None, screen=None, seed=0)  # fmt: skip
    plan = DryRun(directory=Path("d"), resumes=False, done=0, settings=settings,
                  budget_stated=None, train_images=4000, holdout_images=0, retrain_images=4000,
                  final_images=4000, fold_train=2000, fold_val=1000, epochs=10, batch_size=128,
                  varying=(), images_per_second=1000.0)  # fmt: skip
    assert plan.trial_seconds == 60.0  # 2 s an epoch, 10 epochs, 3 folds
    assert plan.total_seconds == 120.0 and plan.trials_to_run == 2  # 2 trials fit in 2 minutes
    longer = dataclasses.replace(plan, images_per_second=500.0)  # a 2-minute-and-more trial
    assert longer.total_seconds == 120.0 and longer.trials_to_run == 1  # one starts anyway
    from tuner.ui.tables import dry_run_lines

    (line,) = [x for x in dry_run_lines(longer) if x.lstrip().startswith("estimate:")]
    assert "2m00s for 1 of the 14 trials to run (as many as the time budget starts)" in line
    unbounded = plan.with_settings(time_budget=None)
    assert "for the 14 trial(s) to run;" in "".join(dry_run_lines(unbounded))
    slower = dataclasses.replace(plan, images_per_second=400.0)
    assert slower.total_seconds == 150.0  # not capped at the budget: it ends past it
    assert plan.with_settings(time_budget=None).total_seconds == 14 * 60.0
    # a run budget of 5 minutes keeps the retrain's 40 s (4,000 images x 10 epochs at 1,000/s),
    # times the search's margin of 1.15, for the export: 254 s leave room for 4 trials of 60 s
    whole = plan.with_settings(time_budget=None, run_budget=5.0)
    assert whole.retrain_seconds == 40.0 and whole.total_seconds == 240.0
    # 3.7 min: 222 s less 46 s leave 176 s, 2 trials (without the margin 182 s would be 3)
    assert whole.with_settings(run_budget=3.7).total_seconds == 120.0
    # screening 6 at a time for 2 of the 30 fold-epochs (4 s each), the best 2 in full: in 2
    # minutes the 6 screens (24 s) and one full trial (60 s) fit, a second would end at 144 s
    from tuner.screening.rounds import Screening

    screened = plan.with_settings(max_trials=8, screen=Screening(6, 2, 2))
    assert screened.trials_to_run == 7 and screened.total_seconds == 84.0
    assert any("screening:  rounds of 6 configurations trained 2 epoch(s) of fold 1, the best 2"
               in line for line in dry_run_lines(screened))  # fmt: skip
    # a round of 27 does not fit: its screens stop once another screen (4 s) and a full trial
    # (60 s) would end past 2 minutes, after 15 screens, and the best goes on in full
    closed = plan.with_settings(max_trials=36, screen=Screening(27, 2, 9))
    assert closed.trials_to_run == 16 and closed.total_seconds == 120.0


def test_dry_run_shows_the_merged_plan_and_writes_nothing(tmp_path, tiny_dir, tiny_space_path):
    results = tmp_path / "results"
    result = invoke("search", "--dry-run", "--data", tiny_dir, "--space", tiny_space_path,
                    "--results-dir", results, "--trials", 3, "--holdout", 0.2)  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"plan of {results / 'tiny-'}" in out and "(new search)" in out
    assert "trials:     3 (random oracle, pruning off)" in out
    assert "240 images searched, 60 held out" in out  # 300 training images, 20 % held out
    assert "folds:      2 (stratified): 120 training and 120 validation images per fold" in out
    assert "epochs:     1 per fold, batch 64" in out
    assert "training images/s" in out and "per trial" in out
    assert "final:      the winner retrained on 240 images, its own epochs" in out
    assert not results.exists()
    subset = invoke("search", "--dry-run", "--data", tiny_dir, "--space", tiny_space_path,
                    "--results-dir", results, "--holdout", 0.2, "--search-images", 120,
                    "--final-epochs", 4)  # fmt: skip
    assert subset.exit_code == 0, subset.output
    assert "120 images searched (a stratified subset of 240), 60 held out" in subset.output
    assert "final:      the winner retrained on 240 images, 4 epochs" in subset.output
    budgeted = invoke("search", "--dry-run", "--data", tiny_dir, "--space", tiny_space_path,
                      "--results-dir", results, "--holdout", 0.2, "--final-epochs", 4,
                      "--final-models", 3, "--run-budget", 10)  # fmt: skip
    assert budgeted.exit_code == 0, budgeted.output
    assert (
        "final: 3 models averaged: 2 of the winner trained on 240 images (measured on the "
        "holdout), 1 of the winner on all 300, as many epochs as the run budget leaves, up to 4 "
        "epochs, models after the second only if time is left"
    ) in " ".join(budgeted.output.split())
    turns = invoke("search", "--dry-run", "--data", tiny_dir, "--space", tiny_space_path,
                   "--results-dir", results, "--holdout", 0.2, "--final-models", 2,
                   "--final-trials", 2)  # fmt: skip
    assert turns.exit_code == 0, turns.output
    assert (
        "final: 2 models averaged: 1 of the winner trained on 240 images (measured on the "
        "holdout), 1 of the runner-up on all 300"
    ) in " ".join(turns.output.split())
    assert "folds:      2 (stratified): 60 training and 60 validation" in subset.output
    # the same checks as the search itself: a bad option is refused, one line, exit 2
    bad = invoke("search", "--dry-run", "--data", tiny_dir, "--space", tiny_space_path,
                 "--results-dir", results, "--folds", 1)  # fmt: skip
    assert bad.exit_code == 2 and "folds: must be >= 2" in bad.output
    # a profile's budget for more images than these is scaled down, and says so
    sized = tmp_path / "sized.toml"
    budget = "folds = 2\ntime_budget = 30\nbudget_images = 3000"
    sized.write_text(tiny_space_path.read_text().replace("folds = 2", budget))
    scaled = invoke("search", "--dry-run", "--data", tiny_dir, "--space", sized,
                    "--results-dir", results)  # fmt: skip
    assert scaled.exit_code == 0, scaled.output
    assert "time budget 3 min (the space's 30 min for 3,000 images, scaled to 300)" in scaled.output


def test_output_to_a_file_or_pipe_is_not_cut_to_80_columns(tmp_path):
    """Rich renders a stream that is no terminal at 80 columns and cuts table cells to fit; the
    trials table of a wide space then lost its learning rates ("0.0…") in a file."""
    from rich.console import Console

    import tuner.cli.core as cli
    from tuner.ui.tables import compact_table

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert cli.console_width(Terminal(), {}) is None  # a terminal: its own width
    assert cli.console_width(io.StringIO(), {"COLUMNS": "100"}) is None  # the user's setting
    width = cli.console_width(io.StringIO(), {})
    assert width == cli.REDIRECTED_WIDTH

    def rendered(width):  # a table as wide as the trials table of `full`'s 11 varying values
        table = compact_table()
        for name in ["trial", "CV acc %", *(f"hp_{i}" for i in range(11)), "time"]:
            table.add_column(name, no_wrap=True)
        table.add_row("1*", "99.38±0.14", *["0.001113"] * 11, "2m03s")
        out = io.StringIO()
        Console(file=out, width=width).print(table)
        return out.getvalue()

    assert "0.001113" in rendered(width) and "…" not in rendered(width)
    assert "…" in rendered(80)  # what a file got before


def test_the_export_line_names_each_final_models_trial_where_they_differ():
    def result(*fits):
        models = [{"trial_id": t, "images": n, "epochs": e} for t, n, e in fits]
        return SimpleNamespace(ensemble="none", fits=models, best=SimpleNamespace(trial_id="24"))

    assert _recipe(result(("24", 34020, 38), ("24", 37800, 33))) == (
        "2 models of the winner averaged (1 on 34,020 images, 1 on 37,800 images, 38/33 epochs)"
    )
    assert _recipe(result(("24", 34020, 38), ("25", 37800, 33), ("24", 34020, 38))) == (
        "3 models averaged (2 of trial 24 on 34,020 images, trial 25 on 37,800 images, 38/33 "
        "epochs)"
    )
    # a warm restart: the model on every image went on from the measured one, and stands for it
    chained = result(("24", 3600, 13), ("24", 4000, 10))
    chained.fits[1]["continues"] = 0
    assert _recipe(chained) == (
        "single model trained on 4,000 images, 13+10 epochs, going on from the measured model"
    )

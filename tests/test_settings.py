"""Every setting declared once (``tuner.settings``): a new setting is one entry of ``SETTINGS``,
and from that entry alone it reaches the CLI, a space file's ``[search]`` table, the plan and its
dry run, ``search.json`` and the resume rules."""

from __future__ import annotations

import json
import subprocess
import sys

from tuner.settings import SETTINGS, SearchConfig, SearchDefaults, config_settings

# Run in a fresh interpreter: it adds two made-up settings to the table before anything else of
# the package reads it (as an entry written in tuner/settings.py would be), rebuilds the classes
# the table generates, and reports what each part of the toolkit made of them.
MADE_UP = r"""
import json, sys
from pathlib import Path

import tuner.settings as settings
from tuner.settings import Resume, Setting

settings.SETTINGS += (
    Setting("warmup_epochs", int, "Epochs of learning-rate warm-up (0: none).", "epochs", low=1,
            option="--warmup-epochs", toml="warmup_epochs", manifest="warmup_epochs",
            resume=Resume.KEEP, off=True),
    Setting("report_every", int, "Trials between two progress reports.", "trials", low=1,
            option="--report-every", manifest="report_every", resume=Resume.FREE, default=5),
)
settings.SearchConfig = settings._config_class()
settings.SearchDefaults = settings._defaults_class()

from typer.testing import CliRunner

from tuner.cli.main import app
from tuner.data.kaggle import load_data
from tuner.errors import SearchError, SpaceError
from tuner.search.plan import plan_search
from tuner.settings import SearchConfig
from tuner.space.spaces import load_space
from tuner.storage.manifest import check_resume

data_dir, space_path, results = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
out = {}
runner = CliRunner()
out["run_help"] = runner.invoke(app, ["run", "--help"]).output
out["resume_help"] = runner.invoke(app, ["resume", "--help"]).output
dry = runner.invoke(app, ["search", "--dry-run", "--data", str(data_dir), "--space",
                          str(space_path), "--results-dir", str(results), "--warmup-epochs", "3"])
out["dry_run"] = (dry.exit_code, dry.output)
bad = runner.invoke(app, ["search", "--dry-run", "--data", str(data_dir), "--space",
                          str(space_path), "--warmup-epochs", "-1"])
out["bad_option"] = (bad.exit_code, bad.output)

with_key = space_path.with_name("warm.toml")
with_key.write_text(space_path.read_text().replace("[search]", "[search]\nwarmup_epochs = 2"))
space = load_space(with_key)
out["toml"] = space.search.warmup_epochs
try:
    load_space(with_key.write_text(with_key.read_text().replace("= 2", "= 2.5")) and with_key)
except SpaceError as e:
    out["toml_refused"] = str(e)
with_key.write_text(with_key.read_text().replace("= 2.5", "= 2"))

train = load_data(data_dir, test=False).train
plan, spaces = plan_search(train, space, SearchConfig(name="a", results_dir=results))
_, given = plan_search(train, space, SearchConfig(name="a", results_dir=results, warmup_epochs=4,
                                                   report_every=9))
out["plan"] = [plan.warmup_epochs, plan.report_every]
out["recorded"] = [spaces["config"]["warmup_epochs"], given["config"]["warmup_epochs"],
                   spaces["config"]["report_every"], given["config"]["report_every"]]
back = SearchConfig.from_manifest(results / "a", given)
out["read_back"] = [back.warmup_epochs, back.report_every]
try:
    check_resume(results / "a", spaces, given)
except SearchError as e:
    out["resume_refused"] = str(e)
free = json.loads(json.dumps(spaces))
free["config"]["report_every"] = 9
out["resume_notes"] = check_resume(results / "a", spaces, free)
print(json.dumps(out))
"""


def test_a_made_up_setting_reaches_the_cli_the_space_file_the_manifest_and_resume(
    tmp_path, tiny_dir, tiny_space_path
):
    done = subprocess.run(
        [sys.executable, "-c", MADE_UP, str(tiny_dir), str(tiny_space_path), str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.splitlines()[-1])
    # the CLI: an option on the commands that start a search, with its help; a setting that
    # changes scores is no option of `resume`, one that does not is
    assert "--warmup-epochs" in out["run_help"] and "learning-rate warm-up" in out["run_help"]
    assert "--report-every" in out["resume_help"] and "--warmup-epochs" not in out["resume_help"]
    # ... checked by its declaration, and shown by the dry run with its unit
    code, text = out["dry_run"]
    assert code == 0, text
    assert "warmup epochs 3 epochs" in text and "report every 5 trials" in text
    code, text = out["bad_option"]
    assert code != 0 and "warmup_epochs: must be 0 (off) or >= 1 epochs, got -1" in text
    # a space file's [search] key, checked by the same declaration
    assert out["toml"] == 2
    assert "search.warmup_epochs: expected int, got 2.5" in out["toml_refused"]
    # the plan and search.json: the space's value unless the user gives one; read back on resume
    assert out["plan"] == [2, 5]
    assert out["recorded"] == [2, 4, 5, 9]
    assert out["read_back"] == [4, 9]
    # resume: a KEEP setting that changed refuses, a FREE one is a note
    assert "different warmup epochs (was 2, now 4)" in out["resume_refused"]
    assert out["resume_notes"] == ["report every: was 5, now 9 (scores unaffected)"]


def test_the_generated_classes_have_a_field_per_declared_setting():
    """SearchConfig has the directory's place and one field per setting a user gives, with its
    declared default; SearchDefaults one per [search] key: no field is written by hand."""
    config = SearchConfig(name="x")
    fields = list(config.__dataclass_fields__)
    assert fields == ["name", "results_dir", "overwrite", *(s.name for s in config_settings())]
    assert all(getattr(config, s.name) == s.default for s in config_settings())
    defaults = SearchDefaults()
    assert list(defaults.__dataclass_fields__) == [s.name for s in SETTINGS if s.toml]
    assert all(getattr(defaults, s.name) == s.space_default for s in SETTINGS if s.toml)
    assert SearchConfig.__module__ == "tuner.settings" and config.directory.name == "x"

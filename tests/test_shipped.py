"""The product as it ships: Keras compiled (a test marked ``eager`` sets ``DIGIT_TUNER_EAGER``;
these processes never inherit it, nor does a suite run with it for debugging), trials in a trial
process, float32 and the ``mixed_bfloat16`` policy both (forced, whatever this CPU), and the
bundled ``quick`` profile itself, unedited, shrunk only by options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tuner.backend import EAGER_VAR

from tests.helpers import ROOT, tiny_space
from tuner.storage.records import TrialState, load_records

SHIPPED = {k: v for k, v in os.environ.items() if k != EAGER_VAR}


def run(tmp_path: Path, data: Path, *options: str) -> dict:
    """``digit-tuner run`` in a fresh process as a user starts it; returns its search.json."""
    command = [sys.executable, "-m", "tuner.cli", "run", "--data", str(data),
               "--results-dir", str(tmp_path), "--name", "shipped", *options]  # fmt: skip
    done = subprocess.run(
        command, env=SHIPPED, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    return json.loads((tmp_path / "shipped" / "search.json").read_text())


def test_the_quick_profile_runs_unedited_in_graph_mode_under_mixed_bfloat16(tmp_path, tiny_dir):
    """quick.toml's screening (2 screens of a 3-trial search), its promotion going on from the
    screen's model, its holdout and its final models, trained in graph mode under bf16."""
    manifest = run(tmp_path, tiny_dir, "--space", "quick", "--trials", "3", "--folds", "2",
                   "--time-budget", "0", "--run-budget", "0", "--final-models", "2",
                   "--final-epochs", "2", "--mixed-precision")  # fmt: skip
    assert manifest["space"]["name"] == "quick" and manifest["precision"] == "mixed_bfloat16"
    records = load_records(tmp_path / "shipped" / "tuner")
    states = [r.state for r in records]
    assert states.count(TrialState.PRUNED) == 2 and states.count(TrialState.COMPLETE) == 1
    promoted = next(r for r in records if r.state is TrialState.COMPLETE)
    assert promoted.folds[0].started_from == 2  # fold 1 went on from its screen's 2 epochs
    export = manifest["export"]
    assert [f["measured"] for f in export["final_models"]] == [True, False]
    # 2 + 2 epochs would pass final_epochs 2: the second model starts fresh
    assert [f["continues"] for f in export["final_models"]] == [None, None]
    assert export["retrain_images"] == 300 and export["estimate"]["method"] == "holdout"
    rows = (tmp_path / "shipped" / "submission.csv").read_text().splitlines()
    assert rows[0] == "ImageId,Label" and len(rows) == 41


def test_a_search_and_its_export_run_in_graph_mode_under_float32(tmp_path, tiny_dir):
    space = tmp_path / "tiny.toml"
    space.write_text(tiny_space(max_trials=1))
    manifest = run(tmp_path, tiny_dir, "--space", str(space), "--no-mixed-precision")
    assert manifest["precision"] == "float32"
    assert manifest["export"]["precision"] == "float32"
    (record,) = load_records(tmp_path / "shipped" / "tuner")
    assert record.state is TrialState.COMPLETE and len(record.folds) == 2
    assert (tmp_path / "shipped" / "best.keras").stat().st_size > 0

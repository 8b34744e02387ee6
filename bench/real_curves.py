"""Writes tests/fixtures/quick_curves.json: the validation curves of real quick searches on the
competition data (results/bench-runs/quick-*-h<seed>, 2 cores, --holdout 0.1), one entry per
search (a seed, with 10 or 6 epochs a fold) and trial.

A trial's folds are seeded by the search's seed and the trial's number (tuner.training.fit.fold_seed),
and the CPU runs are deterministic: two searches of one seed train the same trial to the same
curves (checked here: where both ran an epoch, they must agree), so the runs of a seed under
different pruning rules pool into one longer record of each trial. tests/pruners/test_replay.py replays
the default rule on them.

    .venv/bin/python bench/real_curves.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuner.storage.records import TrialState, load_records  # noqa: E402

# search name -> its runs (one seed, one number of epochs per fold)
RUNS = {
    "0": ["quick-p8400-h0", "quick-rungs-h0"],
    "1": ["quick-p8400-h1", "quick-est-h1"],
    "2": ["quick-p8400-h2"],
    # the folds train 6 epochs (quick since 2026-11-27)
    "0-e6": ["quick-e6-h0"],
    "1-e6": ["quick-e6-h1"],
    "2-e6": ["quick-e6-h2"],
}
OUT = ROOT / "tests" / "data" / "quick_curves.json"


def main() -> None:
    seeds = {}
    for name, runs in RUNS.items():
        trials: dict[str, dict] = {}
        for run in runs:
            for record in load_records(ROOT / "results" / "bench-runs" / run / "tuner"):
                if not record.folds:
                    continue
                curves = [[round(v, 6) for v in f.history["val_accuracy"]] for f in record.folds]
                entry = {
                    "curves": curves,
                    "fold_scores": [round(f.val_accuracy, 6) for f in record.folds],
                    "complete": record.state is TrialState.COMPLETE,
                    "val_size": record.folds[0].val_size,
                    "epochs": record.folds[0].epochs
                    if record.state is TrialState.COMPLETE
                    else None,
                }
                known = trials.get(record.trial_id)
                if known is not None:
                    for a, b in zip(known["curves"], curves, strict=False):
                        n = min(len(a), len(b))
                        if a[:n] != b[:n]:
                            raise SystemExit(f"{run} trial {record.trial_id}: curves differ")
                    if sum(map(len, known["curves"])) >= sum(map(len, curves)):
                        continue
                trials[record.trial_id] = entry
        epochs = {t["epochs"] for t in trials.values() if t["epochs"]}
        if len(epochs) != 1:
            raise SystemExit(f"{name}: the complete trials trained {sorted(epochs)} epochs a fold")
        seeds[name] = {"runs": runs, "epochs": epochs.pop(), "trials": dict(sorted(trials.items()))}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"source": __doc__.split("\n\n")[0], "seeds": seeds}, indent=1))
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

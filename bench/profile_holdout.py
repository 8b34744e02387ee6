"""A CPU profile against the hand-written baseline, on a 10 % holdout, at the same wall time.

For each seed: `digit-tuner run --data DIR --space SPACE --holdout 0.1 --seed S` (the profile,
search and final training together, timed from the command's start to its end), then
`bench/handwritten.py --seed S --minutes W` (the plain Keras CNN, as many epochs as fit in the
profile's wall time W), both scored on the same stratified holdout (``tuner.splits``, seed S).
The seed's v5 is not rerun: on seed 0's holdout it scored 98.43 % after 4 epochs (14.5 min) and
98.90 % after 10 (40.5 min) (results/benchmarks.md, "Final recipes on a real-data holdout").

    .venv/bin/python bench/profile_holdout.py --space kaggle-cnn --seeds 0 1   # ~1 hour a seed

A finished seed is not rerun (its run directory and baseline line are reused). Writes its section
of results/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from results_file import write_section

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TITLE = "## A CPU profile against a hand-written CNN, same wall time, 10 % holdout"
HANDWRITTEN = ROOT / "results" / "handwritten.jsonl"


def run_profile(data: str, space: str, seed: int, runs: Path) -> dict:
    """The profile's run for ``seed`` (reused when done): its wall time and what it recorded."""
    directory = runs / f"{space}-h{seed}"
    timing = directory / "bench_wall.json"
    if not timing.exists():
        start = time.perf_counter()
        command = [str(ROOT / ".venv/bin/digit-tuner"), "run", "--data", data, "--space", space, "--holdout",
                   "0.1", "--seed", str(seed), "--name", directory.name, "--results-dir",
                   str(runs), "--overwrite"]  # fmt: skip
        subprocess.run(command, check=True)
        timing.write_text(json.dumps({"wall_s": time.perf_counter() - start, "command": command}))
    manifest = json.loads((directory / "search.json").read_text())
    from tuner.records import TrialState, load_records

    records = load_records(directory / "tuner")
    from tuner.export import candidate_name

    export = manifest["export"]
    recipe = candidate_name(export["ensemble"], export["tta"])
    return {
        "wall_s": json.loads(timing.read_text())["wall_s"],
        "holdout": export["holdout_accuracy"][recipe],  # the exported recipe's own score
        "estimate": export["estimate"],
        "recipe": recipe,
        "trials": len(records),
        "pruned": sum(r.state is TrialState.PRUNED for r in records),
        "complete": sum(r.state is TrialState.COMPLETE for r in records),
        "best_cv": manifest["best"]["cv_mean"],
        "retrain_s": export.get("retrain_seconds"),
    }


def run_handwritten(data: str, seed: int, minutes: float) -> dict:
    """The baseline's line for ``seed`` (reused when done), given ``minutes`` of wall time."""
    rows = (
        [json.loads(x) for x in HANDWRITTEN.read_text().splitlines()]
        if HANDWRITTEN.exists()
        else []
    )
    done = [r for r in rows if r["seed"] == seed and r.get("budget_minutes") == round(minutes, 1)]
    if not done:
        subprocess.run([sys.executable, str(ROOT / "bench/handwritten.py"), "--data", data,
                        "--seed", str(seed), "--minutes", f"{minutes:.1f}"], check=True)  # fmt: skip
        rows = [json.loads(x) for x in HANDWRITTEN.read_text().splitlines()]
        done = [
            r for r in rows if r["seed"] == seed and r.get("budget_minutes") == round(minutes, 1)
        ]
    return done[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/digit-recognizer"))
    parser.add_argument("--space", default="kaggle-cnn", help="the profile (a bundled space)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--runs", type=Path, default=ROOT / "results" / "bench-runs")
    args = parser.parse_args()
    lines = [
        TITLE,
        "",
        f"`{' '.join(['python', *sys.argv])}` (2 cores, no GPU). The profile: `digit-tuner run "
        "--data DIR --space SPACE --holdout 0.1 --seed S`, timed from start to end (search, "
        "retrain, export). "
        "The baseline: `bench/handwritten.py --seed S --minutes W`, as many epochs as fit in the "
        "profile's wall time W. Both scored on the same 4,200 held-out images.",
        "",
        "| seed | recipe | wall time | holdout % | printed estimate | configurations (pruned) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for seed in args.seeds:
        profile = run_profile(args.data, args.space, seed, args.runs)
        base = run_handwritten(args.data, seed, profile["wall_s"] / 60)
        est = profile["estimate"]
        lines.append(
            f"| {seed} | `{args.space}` profile ({profile['recipe']}) | {profile['wall_s'] / 60:.1f} min | "
            f"{100 * profile['holdout']:.2f} | {100 * est['accuracy']:.2f} ± "
            f"{100 * est['ci95']:.2f} ({est['method']}) | {profile['trials']} "
            f"({profile['pruned']}) |"
        )
        lines.append(
            f"| {seed} | hand-written CNN, {base['epochs']} epochs | {base['minutes']:.1f} min | "
            f"{100 * base['holdout_accuracy']:.2f} | - | 1 |"
        )
        print(lines[-2], lines[-1], sep="\n", flush=True)
    write_section("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

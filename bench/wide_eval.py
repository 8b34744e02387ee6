"""A profile's score with a resolution of 0.05 point: many runs, each on its own held-out 10 %.

One 4,200-image holdout puts ± 0.2 point on a score near 99.6 %, four times the gains at stake.
This runs the profile as Kaggle runs it (``bench/profile_holdout.py``'s ``run_profile``: the
seed's stratified 10 % of train.csv given as test.csv without labels, `digit-tuner run` on the
other 90 %, its submission scored against the held-out labels) once per seed, until the held-out
images add up to at least 42,000 (10 seeds), and reports:

- the mean score with a 95 % interval taken over the runs (Student's t on their spread: it holds
  the seed-to-seed variation of the search and the training, not only the images' count), and
  the pooled accuracy over every held-out image with Wilson's interval;
- each run's printed 95 % interval and whether it covers the run's score (a right interval
  misses about one run in twenty);
- each run's wall time, the images and epochs its exported models trained, and their speed
  against the winner's folds' (why the export plans its first final model at the speed it
  measures then: ``tuner.export.exporter._speed_now``).

A run's row may carry a ``note`` (added by hand to ``results/wide_eval.jsonl``: what disturbed
it), shown beside it; a reading of the whole table goes beneath it after
``results_file.BY_HAND`` and stays there when the section is rewritten.

Resumable across sessions: each finished run is appended to ``results/wide_eval.jsonl``
(tracked, with the commit its code came from) and a seed found there for the prefix is read, not rerun, so
the same command goes on where it stopped, on another machine too; ``--no-train`` only
reports. Seeds used while choosing a profile's settings must not be the ones that confirm it:
the default seeds 100-109 are kept for confirmation.

    .venv/bin/python bench/wide_eval.py --space quick --prefix wide-quick      # ~30 min a seed
    # the code of another checkout (a clean clone at the commit to measure) in the runs:
    PYTHONPATH=/tmp/clone .venv/bin/python bench/wide_eval.py --space quick --prefix wide-quick
    .venv/bin/python bench/wide_eval.py --space quick --prefix wide-quick --no-train
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from profile_holdout import covers, run_profile
from results_file import write_section

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuner.export.estimate import wilson_interval  # noqa: E402
from tuner.search.budget import image_epoch_seconds  # noqa: E402
from tuner.storage.manifest import open_search  # noqa: E402

RECORD = ROOT / "results" / "wide_eval.jsonl"
HELD_OUT_IMAGES = 4200  # a seed's 10 % of Kaggle's 42,000
# Student's t, two-sided 95 %, by degrees of freedom (runs - 1)
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26,
       10: 2.23, 11: 2.20, 12: 2.18, 13: 2.16, 14: 2.14, 15: 2.13, 19: 2.09, 29: 2.05}  # fmt: skip


def t95(df: int) -> float:
    """Student's t quantile for ``df`` degrees of freedom (the nearest tabled one below)."""
    return T95[max(k for k in T95 if k <= df)] if df >= 1 else float("inf")


def over_runs(scores: list[float]) -> tuple[float, float]:
    """(mean, half-width of its 95 % interval over the runs' spread)."""
    n = len(scores)
    mean = sum(scores) / n
    if n < 2:
        return mean, float("inf")
    sd = math.sqrt(sum((s - mean) ** 2 for s in scores) / (n - 1))
    return mean, t95(n - 1) * sd / math.sqrt(n)


def summary_lines(runs: dict[int, dict]) -> list[str]:
    """The over-the-runs figures (mean, intervals, coverage, wall time)."""
    scores = [r["holdout"] for r in runs.values()]
    mean, half = over_runs(scores)
    images = HELD_OUT_IMAGES * len(runs)
    right = sum(round(r["holdout"] * HELD_OUT_IMAGES) for r in runs.values())
    low, high = wilson_interval(right / images, images)
    covered = sum(covers(r["estimate"], r["holdout"]) for r in runs.values())
    widest = max(50 * (r["estimate"]["high"] - r["estimate"]["low"]) for r in runs.values())
    walls = [r["wall_s"] / 60 for r in runs.values()]
    spread = (
        f"95 % over the runs: {100 * (mean - half):.3f}-{100 * (mean + half):.3f}, ± {100 * half:.3f}"
        if len(runs) > 1
        else "an interval over the runs needs two"
    )
    return [
        f"- **Mean over {len(runs)} run(s): {100 * mean:.3f} % ({spread})**; "
        f"pooled over {images:,} held-out images {100 * right / images:.3f} % (Wilson "
        f"{100 * low:.3f}-{100 * high:.3f}).",
        f"- Printed intervals covering their run's score: {covered} of {len(runs)}; the widest "
        f"± {widest:.2f}.",
        f"- Wall time {min(walls):.1f}-{max(walls):.1f} min (mean {sum(walls) / len(walls):.1f}).",
    ]


def run_lines(runs: dict[int, dict]) -> list[str]:
    lines = [
        "| seed | wall | exported: models (images x epochs each) | final / fold speed "
        "| submission on its held-out 10 % | printed 95 % | covers it | note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for seed, r in sorted(runs.items()):
        est = r["estimate"]
        speed = f"{r['final_speed']:.2f}" if r.get("final_speed") else "-"
        lines.append(
            f"| {seed} | {r['wall_s'] / 60:.1f} min | {r['models']} | {speed} "
            f"| {100 * r['holdout']:.2f} | "
            f"{100 * est['low']:.2f}-{100 * est['high']:.2f} (± {50 * (est['high'] - est['low']):.2f}) "
            f"| {'yes' if covers(est, r['holdout']) else '**no**'} | {r.get('note', '')} |"
        )
    return lines


def recorded(prefix: str) -> dict[int, dict]:
    """The finished runs of ``prefix`` that ``RECORD`` holds, by seed."""
    if not RECORD.exists():
        return {}
    rows = [json.loads(line) for line in RECORD.read_text().splitlines() if line.strip()]
    return {row["seed"]: row for row in rows if row["prefix"] == prefix}


def record(prefix: str, seed: int, run: dict, directory: Path) -> None:
    """Appends a finished run to ``RECORD``, with the commit its code came from."""
    manifest = json.loads((directory / "search.json").read_text())
    commit = (manifest.get("provenance", {}).get("git_commit") or "")[:7]
    row = {"prefix": prefix, "seed": seed, "commit": commit, **run}
    with RECORD.open("a") as f:
        f.write(json.dumps(row) + "\n")


def exported_models(directory: Path) -> dict:
    """What the export trained: ``models``, for instance ``2 (34,020 x 33 / 37,800 x 35)`` (each
    model's images and epochs), and ``final_speed``, the final models' seconds per image-epoch
    over the winner's folds' (None where the export retrained nothing)."""
    search = open_search(directory)
    export = search.manifest["export"]
    fits = export.get("final_models") or []
    sizes = " / ".join(f"{f['images']:,} x {f['epochs']}" for f in fits)
    work = sum(f["images"] * f["epochs"] for f in fits)
    fold = image_epoch_seconds(search.best)
    speed = export["retrain_seconds"] / work / fold if work and fold else None
    return {"models": f"{len(fits)} ({sizes})", "final_speed": speed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/digit-recognizer"))
    parser.add_argument("--space", default="quick", help="the profile (a bundled space)")
    parser.add_argument("--prefix", default="wide", help="run directories PREFIX-hS")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(100, 110)))
    parser.add_argument("--runs", type=Path, default=ROOT / "results" / "bench-runs")
    parser.add_argument("--no-train", action="store_true", help="report the finished runs only")
    args = parser.parse_args()
    runs = recorded(args.prefix)
    for seed in args.seeds:
        if seed in runs or args.no_train:
            continue
        run = run_profile(args.data, args.space, seed, args.runs, args.prefix)
        directory = args.runs / f"{args.prefix}-h{seed}"
        runs[seed] = {**run, **exported_models(directory)}
        record(args.prefix, seed, runs[seed], directory)
        print(run_lines({seed: runs[seed]})[-1], flush=True)
    runs = {seed: run for seed, run in runs.items() if seed in args.seeds}
    for seed, run in runs.items():  # rows recorded before the speed was: from their directory
        directory = args.runs / f"{args.prefix}-h{seed}"
        if "final_speed" not in run and (directory / "search.json").exists():
            run.update(exported_models(directory))
    if not runs:
        raise SystemExit(f"no finished run of {args.prefix} in {RECORD}")
    title = f"## The `{args.space}` profile over held-out 10 % splits (`{args.prefix}`)"
    done = f"{len(runs)} of {len(args.seeds)} runs done" if len(runs) < len(args.seeds) else ""
    lines = [
        title,
        "",
        f"`python bench/wide_eval.py --space {args.space} --prefix {args.prefix} --seeds "
        f"{' '.join(map(str, args.seeds))}` (2 cores, no GPU; `bench/profile_holdout.py`'s runs: "
        "each seed's stratified 10 % of train.csv as test.csv, `digit-tuner run` on the rest, the "
        f"submission scored on the held-out labels; on 37,800 images the profile's budgets "
        f"scale to 90 %: quick's run budget is 26.1 of its 29 minutes). {done}",
        "",
        *run_lines(runs),
        "",
        *summary_lines(runs),
    ]
    print("\n".join(lines))
    write_section("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

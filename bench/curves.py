"""Learning-curve table: many configurations, every fold's validation accuracy at every epoch.

Issue 12's replay benchmark (bench/replay.py) simulates whole searches on this table instead of
training: a pruner or an oracle is judged over hundreds of seeds in seconds. Each configuration is
drawn from ``bench/curves_space.toml`` with keras-tuner's own sampling and scored as a search
scores a trial (``tuner.training.folds.train_trial``: stratified K-fold CV, augmentation on the fly in
the training fold only), without pruning or early stopping, on a fixed stratified subset of the
real training data. A few configurations are repeated with other seeds, so that the table knows
its own noise.

Resumable: every finished configuration is one JSON line in ``results/curves.jsonl``; running the
same command again skips those (a long run may be stopped before it ends). A table's rows must
agree on what they measured: appending with another space, subset size, fold count or seed is
refused, naming the file and the line.

    .venv/bin/python bench/curves.py --data ../shared/data/digit-recognizer   # ~2.5 h, 2 cores

The second table (issue 12's 8,400 images; batch-norm momentum 0.9, so that its early epochs are
not the moving averages' lag; see bench/curves_space_bn09.toml):

    .venv/bin/python bench/curves.py --data ../shared/data/digit-recognizer --images 8400 \
        --space bench/curves_space_bn09.toml --out results/curves-8400.jsonl   # ~3.1 h, 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results_file import repo_path  # noqa: E402

SPACE = ROOT / "bench" / "curves_space.toml"
OUT = ROOT / "results" / "curves.jsonl"


def configurations(
    n: int, repeats: int, repeat_seeds: int, seed: int, space: Path = SPACE
) -> list[dict]:
    """``n`` configurations drawn from the space (seeded), then ``repeats`` of the first ones again
    with ``repeat_seeds`` other model seeds each: (id, values, model seed)."""
    from tuner.space.spaces import load_space

    hps = load_space(space).to_keras_tuner()
    rng = np.random.default_rng(seed)
    drawn, seen = [], set()
    while len(drawn) < n:
        values = {}
        for hp in hps.space:
            values[hp.name] = hp.random_sample(int(rng.integers(2**31)))
        key = json.dumps(values, sort_keys=True)
        if key not in seen:
            seen.add(key)
            drawn.append(values)
    jobs = []
    for i, values in enumerate(drawn):
        jobs.append({"id": f"c{i:03d}", "config": i, "values": values, "seed": 0})
        if i < repeats:  # repeats first: even a partial table knows its noise
            for s in range(1, repeat_seeds + 1):
                jobs.append({"id": f"c{i:03d}-s{s}", "config": i, "values": values, "seed": s})
    return jobs


def finished_ids(out: Path, measured: dict) -> set[str]:
    """The ids already in the table ``out``, after checking that each row measured what this run
    would (rows from before the space was recorded count as the default space's)."""
    done: set[str] = set()
    if not out.exists():
        return done
    for number, line in enumerate(out.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        for key, wanted in measured.items():
            had = row["run"].get(key, repo_path(SPACE) if key == "space" else None)
            if had != wanted:
                raise SystemExit(
                    f"{out}:{number}: this table's rows have {key} {had!r}, this run {wanted!r}; "
                    "give another --out for another table"
                )
        done.add(row["id"])
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="directory with train.csv[.gz]")
    parser.add_argument("--images", type=int, default=6000, help="stratified subset size")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--configs", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=4, help="configurations run again...")
    parser.add_argument("--repeat-seeds", type=int, default=2, help="...with this many seeds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--space", type=Path, default=SPACE, help="the configurations' space")
    parser.add_argument("--limit", type=int, default=0, help="stop after this many (0: all)")
    args = parser.parse_args()

    from tuner.backend import import_keras_quietly

    from sklearn.model_selection import train_test_split

    from tuner.data.kaggle import load_data
    from tuner.data.splits import fold_indices
    from tuner.storage.manifest import package_versions
    from tuner.training.folds import train_trial

    keras = import_keras_quietly()
    train = load_data(args.data, test=False).train
    subset, _ = train_test_split(
        np.arange(len(train)),
        train_size=args.images,
        stratify=train.labels,
        random_state=args.seed,
    )
    subset = np.sort(subset)
    x, y = train.images[subset], train.labels[subset]
    splits = fold_indices(y, args.folds, args.seed)
    measured = {
        "images": args.images,
        "folds": args.folds,
        "seed": args.seed,
        "space": repo_path(args.space),
    }
    done = finished_ids(args.out, measured)
    jobs = configurations(args.configs, args.repeats, args.repeat_seeds, args.seed, args.space)
    todo = [job for job in jobs if job["id"] not in done]
    print(f"{len(done)} done, {len(todo)} to go", flush=True)
    header = {
        **measured,
        "backend": keras.backend.backend(),
        "versions": package_versions(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "threads": os.environ.get("TF_NUM_INTRAOP_THREADS", "all"),
        "command": " ".join(sys.argv),
    }
    for count, job in enumerate(todo, start=1):
        started = time.perf_counter()
        outcome = train_trial(job["values"], x, y, splits, job["seed"], "0")
        row = {
            **job,
            "folds": [
                {
                    "val_accuracy": f.val_accuracy,
                    "curve": f.history.get("val_accuracy", []),
                    "seconds": f.train_seconds,
                    "epochs": f.epochs,
                }
                for f in outcome.folds
            ],
            "params": outcome.params,
            "seconds": time.perf_counter() - started,
            "run": header,
        }
        with open(args.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        mean = np.mean([f.val_accuracy for f in outcome.folds])
        print(f"{job['id']}: {100 * mean:.2f} % in {row['seconds']:.0f} s", flush=True)
        if args.limit and count >= args.limit:
            break


if __name__ == "__main__":
    main()

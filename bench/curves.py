"""Learning-curve table: many configurations, every fold's validation accuracy at every epoch.

Issue 12's replay benchmark (bench/replay.py) simulates whole searches on this table instead of
training: a pruner or an oracle is judged over hundreds of seeds in seconds. Each configuration is
drawn from ``bench/curves_space.toml`` with keras-tuner's own sampling and scored as a search
scores a trial (``tuner.trainer.train_trial``: stratified K-fold CV, augmentation on the fly in
the training fold only), without pruning or early stopping, on a fixed stratified subset of the
real training data. A few configurations are repeated with other seeds, so that the table knows
its own noise.

Resumable: every finished configuration is one JSON line in ``results/curves.jsonl``; running the
same command again skips those (a session's background jobs end with it).

    .venv/bin/python bench/curves.py --data ../shared/data/digit-recognizer   # ~2.5 h, 2 cores
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

SPACE = ROOT / "bench" / "curves_space.toml"
OUT = ROOT / "results" / "curves.jsonl"


def configurations(n: int, repeats: int, repeat_seeds: int, seed: int) -> list[dict]:
    """``n`` configurations drawn from the space (seeded), then ``repeats`` of the first ones again
    with ``repeat_seeds`` other model seeds each: (id, values, model seed)."""
    from tuner.space import load_space

    hps = load_space(SPACE).to_keras_tuner()
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
    parser.add_argument("--limit", type=int, default=0, help="stop after this many (0: all)")
    args = parser.parse_args()

    from sklearn.model_selection import train_test_split

    from tuner.backend import import_keras_quietly
    from tuner.data import load_data
    from tuner.manifest import package_versions
    from tuner.splits import fold_indices
    from tuner.trainer import train_trial

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
    done = set()
    if args.out.exists():
        done = {json.loads(line)["id"] for line in args.out.read_text().splitlines() if line}
    jobs = configurations(args.configs, args.repeats, args.repeat_seeds, args.seed)
    todo = [job for job in jobs if job["id"] not in done]
    print(f"{len(done)} done, {len(todo)} to go", flush=True)
    header = {
        "images": args.images,
        "folds": args.folds,
        "seed": args.seed,
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

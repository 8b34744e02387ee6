"""Final fits on 4,000 images, the embedded run's size, paired on many held-out images.

The README's first command trains its final models on the embedded default's 4,000 digits and is
scored on its 1,000 labelled test digits: one run reads +- 0.7 point, so a recipe for that run
cannot be chosen on it. Here the same fit (``tuner.training.fit.fit_model``, the export's path)
trains a space's default point, with overrides, on a seed's stratified 4,000 images of Kaggle's
train.csv and predicts a disjoint stratified 8,000 of the rest; split ``embedded`` is the
embedded default itself (its 4,000 and its 1,000 test digits). Every variant of one split is
scored on the same images, so variants pair split by split.

Resumable: each model's test probabilities are saved under ``--runs``; a model already there is
not trained again. Results: results/benchmarks.md, "A warm restart for the model on every
image".

    .venv/bin/python bench/small_data.py --tag e20 --set epochs=20 --splits 0 1 2 embedded
    # 13 epochs, then 10 more from its weights (the export's model on every image)
    .venv/bin/python bench/small_data.py --tag w13p10 --warm 13 --set epochs=10
    .venv/bin/python bench/small_data.py --report --splits 0 1 2 embedded
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuner.backend import precision  # noqa: E402

from final_fit import space_values  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from tuner.data.kaggle import load_data, load_embedded  # noqa: E402
from tuner.export.inference import in_float32, predict_tta  # noqa: E402
from tuner.training.fit import Recipe, fit_model  # noqa: E402

TRAIN, TEST = 4000, 8000


@functools.cache
def kaggle_train(kaggle: Path):
    """train.csv, read once for every split of a run."""
    return load_data(kaggle, test=False).train


def split_of(name: str, kaggle: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, train labels, test images, test labels) of split ``name``."""
    if name == "embedded":
        data = load_embedded()
        return data.train.images, data.train.labels, data.test.images, data.test_labels
    seed = int(name)
    train = kaggle_train(kaggle)
    rows = np.arange(len(train.labels))
    keep, rest = train_test_split(rows, train_size=TRAIN, stratify=train.labels, random_state=seed)
    held, _ = train_test_split(
        rest, train_size=TEST, stratify=train.labels[rest], random_state=seed
    )
    return train.images[keep], train.labels[keep], train.images[held], train.labels[held]


def run_path(runs: Path, tag: str, split: str, member: int) -> Path:
    return runs / f"{tag}-{split}-m{member}.npz"


def chained(values: dict, x, y, seed: int, warm: int, test_x) -> tuple:
    """A model of ``warm`` epochs, then ``values["epochs"]`` more from its weights (a fresh
    schedule): the second fit, both fits' seconds and the first model's test probabilities."""
    first = fit_model(Recipe({**values, "epochs": warm}), x, y, seed=seed)
    weights = first.model.get_weights()
    first_probabilities = predict_tta(in_float32([first.model]), test_x, 1)
    then = fit_model(Recipe(values), x, y, seed=seed + 500, start=weights)
    return then, first.seconds + then.seconds, first_probabilities


def train_missing(args, values: dict) -> None:
    for split in args.splits:
        for member in range(args.members):
            path = run_path(args.runs, args.tag, split, member)
            if path.exists():
                continue
            x, y, test_x, test_y = split_of(split, Path(args.data))
            seed = 1000 * (0 if split == "embedded" else 1 + int(split)) + member
            extra = {}
            with precision(None):
                if args.warm:
                    fit, seconds, extra["first"] = chained(values, x, y, seed, args.warm, test_x)
                else:
                    fit = fit_model(Recipe(values), x, y, seed=seed)
                    seconds = fit.seconds
            probabilities = predict_tta(in_float32([fit.model]), test_x, 1)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, labels=test_y, single=probabilities, seconds=seconds,
                     epochs=values["epochs"], **extra)  # fmt: skip
            tmp.replace(path)
            errors = int(np.sum(probabilities.argmax(1) != test_y))
            print(f"{args.tag} split {split} member {member}: {errors} errors of {len(test_y)} "
                  f"in {fit.seconds:.0f} s", flush=True)  # fmt: skip


# What a report row averages of a saved model: its own probabilities, those of the model a warm
# restart started from (``--warm``), or both.
READINGS = {"": ("single",), ": first": ("first",), ": both": ("first", "single")}


def row(args, tag: str, members: int, reading: str) -> str | None:
    """One report row: errors per split of ``tag``'s first ``members`` models averaged."""
    cells, total, seconds = [], 0, []
    for split in args.splits:
        paths = [run_path(args.runs, tag, split, m) for m in range(members)]
        loaded = [dict(np.load(p)) for p in paths if p.exists()]
        keys = READINGS[reading]
        if len(loaded) < members or any(k not in m for m in loaded for k in keys):
            cells.append("")
            continue
        mean = np.mean([m[k] for m in loaded for k in keys], axis=0)
        errors = int(np.sum(mean.argmax(1) != loaded[0]["labels"]))
        cells.append(str(errors))
        total += errors
        seconds.append(sum(float(m["seconds"]) for m in loaded))
    if not seconds:
        return None
    name = tag + reading + ("" if members == 1 else f" x{members}")
    all_cell = str(total) if len(seconds) == len(args.splits) else f"({total})"
    return f"| {name} | " + " | ".join(cells) + f" | {all_cell} | {np.mean(seconds):.0f} |"


def report(args) -> list[str]:
    """Errors of each tag's member 0 (and of its members averaged) per split, with seconds."""
    tags = sorted({p.name.split("-")[0] for p in args.runs.glob("*-m0.npz")})
    lines = ["| tag | " + " | ".join(args.splits) + " | all | seconds (mean) |",
             "| --- " * (len(args.splits) + 3) + "|"]  # fmt: skip
    for tag in tags:
        for members in (1, 2, 3):
            for reading in READINGS:
                line = row(args, tag, members, reading)
                if line is not None:
                    lines.append(line)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/digit-recognizer"))
    parser.add_argument("--space", default="quick", help="its default point is the model")
    parser.add_argument("--set", nargs="*", default=[], help="NAME=VALUE overrides (JSON)")
    parser.add_argument("--tag", default="e20", help="names the saved models (no '-')")
    parser.add_argument("--splits", nargs="+", default=["0", "1", "2", "embedded"])
    parser.add_argument("--members", type=int, default=1, help="member seeds per split")
    parser.add_argument("--runs", type=Path, default=ROOT / "results" / "bench-runs" / "small")
    parser.add_argument("--report", action="store_true", help="only print the table")
    parser.add_argument(
        "--warm",
        type=int,
        help="first train a model of this many epochs, "
        "then --set epochs more from its weights (a warm restart)",
    )
    args = parser.parse_args()
    args.runs.mkdir(parents=True, exist_ok=True)
    values = space_values(args.space, args.set)
    if not args.report:
        started = time.time()
        train_missing(args, values)
        print(f"trained in {time.time() - started:.0f} s", flush=True)
    print("\n".join(report(args)))


if __name__ == "__main__":
    main()

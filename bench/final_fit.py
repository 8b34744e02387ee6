"""How the export's minutes buy score: final fits of one fixed configuration, paired on a holdout.

The search's winner is fixed (a space's default point, ``quick``'s by default); what varies is how
the final training spends its compute: epochs per model, how many models are averaged, and
test-time augmentation. Each model trains with the toolkit's own trainer
(``tuner.training.fit.fit_model``, the export's path: bf16 where the CPU has it) on a seed's
stratified 90 % of train.csv and predicts that seed's 10 % (``tuner.data.splits.holdout_indices``,
the split ``bench/profile_holdout.py`` and the profile use). Every variant is scored on the same
4,200 images, so their differences are paired: two variants differ only where their predictions
differ, far less noise than the ± 0.2 point of either score alone.

Resumable: each trained model's holdout probabilities are saved (``--runs``); a model already
there is not trained again, so a plan can grow across sessions and only the new models train.

    .venv/bin/python bench/final_fit.py --seed 0 --plan 12x4 20x3 30x2 40x1
    .venv/bin/python bench/final_fit.py --seed 0 --plan 12x4 20x3 30x2 40x1 --report
    # two configurations' models, paired seed by seed (--set NAME=VALUE ... --tag T trains another)
    .venv/bin/python bench/final_fit.py --plan 30x1 --tag quick --against winner --report

A plan entry ``ExM`` is M models (member seeds 0..M-1) of E epochs each; the report lists every
ensemble of the first k members of each epoch count, with and without TTA 5, with its compute in
image-epochs and in minutes at the rate the models trained.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuner.backend import precision, precision_name  # noqa: E402

from tuner.data.kaggle import load_data  # noqa: E402
from tuner.data.splits import holdout_indices  # noqa: E402
from tuner.export.inference import in_float32, predict_tta  # noqa: E402
from tuner.space.spaces import load_space  # noqa: E402
from tuner.training.fit import Recipe, fit_model  # noqa: E402

HOLDOUT = 0.1
TTA = 5


def parse_plan(entries: list[str]) -> list[tuple[int, int]]:
    """``["12x4", "20x3"]`` -> [(12, 4), (20, 3)]: (epochs, models)."""
    plan = []
    for entry in entries:
        epochs, _, models = entry.partition("x")
        plan.append((int(epochs), int(models or 1)))
    return plan


def space_values(space: str, overrides: list[str]) -> dict:
    """``space``'s default point with ``NAME=VALUE`` overrides (each value JSON)."""
    values = load_space(space).default_values()
    for item in overrides:
        name, _, text = item.partition("=")
        values[name] = json.loads(text)
    return values


def model_path(runs: Path, tag: str, seed: int, epochs: int, member: int) -> Path:
    return runs / f"{tag}-s{seed}-e{epochs}-m{member}.npz"


def seed_of(path: Path) -> int:
    """The holdout seed of a ``model_path``."""
    return int(path.name.split("-s")[1].split("-")[0])


def train_one(values: dict, train, holdout, seed: int, epochs: int, member: int) -> dict:
    """One model of ``epochs`` epochs (member seed ``member``) -> its holdout probabilities."""
    values = {**values, "epochs": epochs}
    with precision(None) as mixed:
        fit = fit_model(Recipe(values), train[0], train[1], seed=1000 * seed + member)
    model = in_float32([fit.model])
    return {
        "single": predict_tta(model, holdout, 1),
        "tta": predict_tta(model, holdout, TTA),
        "seconds": fit.seconds,
        "images": len(train[0]),
        "precision": precision_name(mixed),
    }


def pseudo_labelled(args, train, held_images, epochs: int):
    """``train`` with the holdout images that ``args.pseudo``'s member 0 of ``epochs`` epochs
    predicts with at least ``args.confidence``, labelled by that prediction: what a final model
    would train on if the submission's test images joined it (transductive, as Kaggle allows)."""
    probs = np.load(model_path(args.runs, args.pseudo, args.seed, epochs, 0))["single"]
    sure = probs.max(1) >= args.confidence
    images = np.concatenate([train[0], held_images[sure]])
    labels = np.concatenate([train[1], probs.argmax(1)[sure].astype(train[1].dtype)])
    return images, labels


def train_missing(args, values: dict, plan) -> None:
    train_set = load_data(args.data, test=False).train
    keep, held = holdout_indices(train_set.labels, HOLDOUT, args.seed)
    base = (train_set.images[keep], train_set.labels[keep])
    for epochs, models in plan:
        train = base
        if args.pseudo:
            train = pseudo_labelled(args, base, train_set.images[held], epochs)
        for member in range(models):
            path = model_path(args.runs, args.tag, args.seed, epochs, member)
            if path.exists() or member < args.first_member:
                continue
            started = time.time()
            out = train_one(values, train, train_set.images[held], args.seed, epochs, member)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, labels=train_set.labels[held], **out)
            tmp.replace(path)
            accuracy = np.mean(np.argmax(out["single"], 1) == train_set.labels[held])
            print(
                f"seed {args.seed} epochs {epochs} member {member}: {100 * accuracy:.2f} % "
                f"in {out['seconds']:.0f} s ({time.time() - started:.0f} s in all)",
                flush=True,
            )


def report(args, plan) -> list[str]:
    """The table: each epoch count's ensembles of its first k members, +- TTA."""
    lines = [
        "| epochs | models | image-epochs | minutes at the measured rate | holdout % | errors "
        "| + TTA 5 % | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for epochs, models in plan:
        loaded = []
        for member in range(models):
            path = model_path(args.runs, args.tag, args.seed, epochs, member)
            if path.exists():
                loaded.append(dict(np.load(path)))
        for k in range(1, len(loaded) + 1):
            labels = loaded[0]["labels"]
            row = []
            for key in ("single", "tta"):
                mean = np.mean([m[key] for m in loaded[:k]], axis=0)
                errors = int(np.sum(np.argmax(mean, 1) != labels))
                row += [f"{100 * (1 - errors / len(labels)):.2f}", str(errors)]
            images = int(loaded[0]["images"])
            seconds = sum(float(m["seconds"]) for m in loaded[:k])
            lines.append(
                f"| {epochs} | {k} | {k * epochs * images / 1e6:.2f} M | {seconds / 60:.1f} | "
                + " | ".join(row)
                + " |"
            )
    return lines


def paired(args, other: str, epochs: int) -> list[str]:
    """Member 0 of ``args.tag`` against member 0 of ``other``, both of ``epochs`` epochs, on each
    seed's holdout that has both: their errors, the images only one of them gets wrong, the
    two averaged (a configuration's choice, judged on the same images) and, where ``args.tag``
    has a member 1, its two seeds averaged (two configurations' diversity against two seeds')."""
    lines = [
        f"| seed | {args.tag} errors | {other} errors | only {args.tag} wrong | "
        f"only {other} wrong | the two averaged | {args.tag}'s two seeds averaged |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    totals, seeds_total, images = np.zeros(5, dtype=int), 0, 0
    for path in sorted(args.runs.glob(f"{args.tag}-s*-e{epochs}-m0.npz")):
        seed = seed_of(path)
        twin = model_path(args.runs, other, seed, epochs, 0)
        if not twin.exists():
            continue
        a, b = np.load(path), np.load(twin)
        labels = a["labels"]
        wrong_a, wrong_b = a["single"].argmax(1) != labels, b["single"].argmax(1) != labels
        both = (a["single"] + b["single"]).argmax(1) != labels
        row = np.array([wrong_a.sum(), wrong_b.sum(), (wrong_a & ~wrong_b).sum(),
                        (wrong_b & ~wrong_a).sum(), both.sum()])  # fmt: skip
        totals += row
        images += len(labels)
        second = model_path(args.runs, args.tag, seed, epochs, 1)
        seeds = "-"
        if second.exists():
            errors = int(((a["single"] + np.load(second)["single"]).argmax(1) != labels).sum())
            seeds, seeds_total = str(errors), seeds_total + errors
        lines.append(f"| {seed} | " + " | ".join(str(v) for v in row) + f" | {seeds} |")
    cells = " | ".join(f"**{v}**" for v in totals)
    lines.append(f"| all ({images:,} images) | {cells} | **{seeds_total}** (where measured) |")
    return lines


def pseudo_report(args, epochs: int) -> list[str]:
    """Per seed: ``args.tag``'s member 1 (trained with ``args.pseudo``'s member 0's sure labels of
    the holdout) against ``args.pseudo``'s member 1 (without), alone and each averaged with
    ``args.pseudo``'s member 0, the model whose labels it learnt: what the export's second final
    model would gain from the test images (errors of each seed's holdout)."""
    lines = [
        f"| seed | images added | of them mislabelled | {args.pseudo} m0 | {args.pseudo} m1 | "
        f"{args.tag} m1 | m0 + {args.pseudo} m1 | m0 + {args.tag} m1 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    totals = np.zeros(7, dtype=int)
    for path in sorted(args.runs.glob(f"{args.tag}-s*-e{epochs}-m1.npz")):
        seed = seed_of(path)
        first, plain = (model_path(args.runs, args.pseudo, seed, epochs, m) for m in (0, 1))
        if not (first.exists() and plain.exists()):
            continue
        m0, m1, with_ = (np.load(p)["single"] for p in (first, plain, path))
        labels = np.load(path)["labels"]
        sure = m0.max(1) >= args.confidence
        row = np.array([
            sure.sum(), (m0.argmax(1) != labels)[sure].sum(),
            *[(m.argmax(1) != labels).sum() for m in (m0, m1, with_, m0 + m1, m0 + with_)],
        ])  # fmt: skip
        totals += row
        lines.append(f"| {seed} | " + " | ".join(str(v) for v in row) + " |")
    lines.append("| all | " + " | ".join(f"**{v}**" for v in totals) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/digit-recognizer"))
    parser.add_argument("--space", default="quick", help="its default point is the winner")
    parser.add_argument("--set", nargs="*", default=[], help="NAME=VALUE overrides (JSON)")
    parser.add_argument("--tag", default="quick", help="names the saved models")
    parser.add_argument("--seed", type=int, default=0, help="the holdout split's seed")
    parser.add_argument("--plan", nargs="+", default=["20x1"], help="EPOCHSxMODELS ...")
    parser.add_argument("--runs", type=Path, default=ROOT / "results" / "bench-runs" / "final-fit")
    parser.add_argument("--report", action="store_true", help="only print the table")
    parser.add_argument("--against", help="with --report: a TAG to pair member 0 with, per seed")
    parser.add_argument(
        "--pseudo",
        help="a TAG whose member 0 labels the holdout images it is "
        "sure of, which then join the training images",
    )
    parser.add_argument("--confidence", type=float, default=0.999, help="for --pseudo")
    parser.add_argument("--first-member", type=int, default=0, help="train members from this one")
    args = parser.parse_args()
    args.runs.mkdir(parents=True, exist_ok=True)
    plan = parse_plan(args.plan)
    values = space_values(args.space, args.set)
    if args.report and args.pseudo:
        print("\n".join(pseudo_report(args, plan[0][0])))
        return
    if args.report and args.against:
        print("\n".join(paired(args, args.against, plan[0][0])))
        return
    if not args.report:
        train_missing(args, values, plan)
    print(f"seed {args.seed}, tag {args.tag}, holdout {HOLDOUT}")
    merged: dict[int, int] = {}
    for epochs, models in plan:  # "15x2 30x1 15x4": trained in that order, reported once each
        merged[epochs] = max(merged.get(epochs, 0), models)
    print("\n".join(report(args, sorted(merged.items()))))


if __name__ == "__main__":
    main()
